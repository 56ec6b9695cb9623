"""An emulated Polar PMD device (H10 / Verity Sense style): control point, feature read, ACC stream.

Control point (read / write / indicate):
    read                 -> 0F <feature bitmask, 16 bytes>       (ECG and ACC)
    01 02 (get settings) -> F0 01 02 00 <more> <rates> <resolution 16> <ranges>, split over frames with more = 1
                            when the MTU is small
    02 02 <settings>     -> F0 02 02 <status> 00; status 0 starts the stream; 5 malformed settings, 6 already
                            streaming, 7 resolution, 8 sample rate, 9 range, 10 MTU too small
    03 02 (stop)         -> F0 03 02 00 00 (06 when not streaming)
    anything else        -> F0 <op> <type> 01 (or 02 / 03 for another measurement type)
Responses go out as indications after the write completes. Data frames (raw int16 mG, frame type 1, as the H10
sends) fill the negotiated MTU; the frame timestamp is the device clock in ns since 2000-01-01 and stamps the
last sample. Frames are only sent after a successful start and while the host is subscribed to the data
characteristic: a host that starts before subscribing loses the first frames, as with a real device.
"""

from __future__ import annotations

import numpy as np

from mujo_edge.firmware_bridge.emulator.model import DeviceModel, register
from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.protocols import polar_control as pc
from mujo_edge.firmware_bridge.protocols.base import ATT_HEADER, StreamSettings
from mujo_edge.firmware_bridge.protocols.polar import HEADER, RANGES_G, RATES_HZ
from mujo_edge.firmware_bridge.sim.peripheral import CharacteristicSpec, ServiceSpec

# Device clock at power-on, seconds since 2000-01-01 UTC (2022-03-07): any plausible wall-clock time.
EPOCH_START_S = 700_000_000.0
# Smallest ATT MTU the emulated device streams at. Real devices answer INVALID_MTU below a size their
# documentation does not give (Polar's SDK always asks for 232); 64 is this emulator's assumption.
MIN_MTU = 64
RAW_SAMPLE_BYTES = 6  # frame type 1: 3 x int16
FEATURES = bytes([pc.FEATURE_READ, 1 << pc.MeasurementType.ECG | 1 << pc.MeasurementType.ACC]) + bytes(15)

STATUS_SUCCESS = 0
STATUS_INVALID_OP_CODE = 1
STATUS_INVALID_MEASUREMENT_TYPE = 2
STATUS_NOT_SUPPORTED = 3
STATUS_INVALID_LENGTH = 4
STATUS_INVALID_PARAMETER = 5
STATUS_ALREADY_IN_STATE = 6
STATUS_INVALID_RESOLUTION = 7
STATUS_INVALID_SAMPLE_RATE = 8
STATUS_INVALID_RANGE = 9
STATUS_INVALID_MTU = 10


def _entry(kind: pc.SettingType, values: list[int]) -> bytes:
    fmt = {pc.SettingType.SAMPLE_RATE: 2, pc.SettingType.RESOLUTION: 2, pc.SettingType.RANGE: 2}[kind]
    return bytes([kind, len(values)]) + b"".join(v.to_bytes(fmt, "little") for v in values)


def build_response(op: int, measurement: int, status: int, params: bytes = b"") -> bytes:
    """Device-side control point response `F0 op type status more=0 [params]`."""
    return bytes([pc.RESPONSE, op, measurement, status, 0]) + params


def acc_settings_entries() -> list[tuple[pc.SettingType, list[int]]]:
    """The settings this device lists for ACC: every PMD rate, 16 bit, every range."""
    return [
        (pc.SettingType.SAMPLE_RATE, [int(r) for r in RATES_HZ]),
        (pc.SettingType.RESOLUTION, [16]),
        (pc.SettingType.RANGE, list(RANGES_G)),
    ]


def settings_responses(op: int, measurement: int, mtu: int) -> list[bytes]:
    """A get-settings response split over as many frames as the MTU needs, `more` = 1 on all but the last.

    Each frame holds whole `type, count, values` entries (a long list is split into several entries of the same
    type), so every frame parses on its own and a client merges them.
    """
    room = mtu - ATT_HEADER - 5
    parts: list[bytes] = []
    current = b""
    for kind, values in acc_settings_entries():
        per = max(1, (room - 2) // 2)
        for i in range(0, len(values), per):
            entry = _entry(kind, values[i : i + per])
            if current and len(current) + len(entry) > room:
                parts.append(current)
                current = b""
            current += entry
    parts.append(current)
    return [
        bytes([pc.RESPONSE, op, measurement, STATUS_SUCCESS, int(k < len(parts) - 1)]) + part
        for k, part in enumerate(parts)
    ]


@register
class PolarDevice(DeviceModel):
    protocol_name = "polar"
    default_name = "Polar H10 0A1B2C3D"
    default_settings = StreamSettings(rate_hz=52.0, range_g=8)

    def services(self) -> list[ServiceSpec]:
        return [
            ServiceSpec(
                pc.SERVICE_UUID,
                (
                    CharacteristicSpec(
                        pc.CONTROL_UUID,
                        ("read", "write", "indicate"),
                        on_read=lambda: FEATURES,
                        on_write=self._on_control,
                    ),
                    CharacteristicSpec(pc.DATA_UUID, ("notify",)),
                ),
            )
        ]

    def unit_samples(self, settings: StreamSettings, mtu: int) -> int:
        return max(1, (mtu - ATT_HEADER - HEADER) // RAW_SAMPLE_BYTES)

    def device_times(self, device_clock_s: np.ndarray) -> np.ndarray:
        return EPOCH_START_S + device_clock_s

    def on_air_times(self, t_device: np.ndarray, settings: StreamSettings) -> np.ndarray:
        # The frame carries the last sample's time in ns; a decoder spreads the others at the device's rate,
        # which is exactly the device's own sampling grid.
        return np.asarray(t_device, dtype=np.float64)

    # control point -------------------------------------------------------------------------------------

    def _respond(self, value: bytes, *, rejected: bool = False) -> None:
        if rejected:
            self.watch.record_event(f"polar: rejected -> {value.hex(' ')}", rejected=True)
        self.watch.send_control(pc.CONTROL_UUID, value)

    def _on_control(self, value: bytes) -> None:
        if not value:
            return
        op = value[0]
        measurement = value[1] if len(value) > 1 else 0
        if op not in (pc.ControlOp.GET_SETTINGS, pc.ControlOp.START, pc.ControlOp.STOP):
            self._respond(build_response(op, measurement, STATUS_INVALID_OP_CODE), rejected=True)
            return
        if len(value) < 2:
            self._respond(build_response(op, 0, STATUS_INVALID_LENGTH), rejected=True)
            return
        if measurement != pc.MeasurementType.ACC:
            known = measurement in (pc.MeasurementType.ECG,)
            status = STATUS_NOT_SUPPORTED if known else STATUS_INVALID_MEASUREMENT_TYPE
            self._respond(build_response(op, measurement, status), rejected=True)
            return
        if op == pc.ControlOp.GET_SETTINGS:
            for frame in settings_responses(op, measurement, self.watch.mtu()):
                self._respond(frame)
        elif op == pc.ControlOp.START:
            self._start(value)
        else:
            if not self.watch.streaming:
                self._respond(build_response(op, measurement, STATUS_ALREADY_IN_STATE))
                return
            self.watch.end_stream()
            self.watch.record_event("polar: ACC stopped")
            self._respond(build_response(op, measurement, STATUS_SUCCESS))

    def _start(self, value: bytes) -> None:
        op, acc = pc.ControlOp.START, pc.MeasurementType.ACC
        try:
            requested = pc.parse_settings(value[2:], value)
        except ProtocolError:
            self._respond(build_response(op, acc, STATUS_INVALID_PARAMETER), rejected=True)
            return
        rate = requested.sample_rates[0] if requested.sample_rates else None
        resolution = requested.resolutions[0] if requested.resolutions else 16
        range_g = requested.ranges[0] if requested.ranges else self.default_settings.range_g
        status = STATUS_SUCCESS
        if self.watch.streaming:
            status = STATUS_ALREADY_IN_STATE
        elif rate is None or float(rate) not in RATES_HZ:
            status = STATUS_INVALID_SAMPLE_RATE
        elif resolution != 16:
            status = STATUS_INVALID_RESOLUTION
        elif range_g not in RANGES_G:
            status = STATUS_INVALID_RANGE
        elif self.watch.mtu() < MIN_MTU:
            status = STATUS_INVALID_MTU
        if status != STATUS_SUCCESS or rate is None:  # (rate is never None on success; says so to mypy)
            self._respond(build_response(op, acc, status), rejected=status != STATUS_ALREADY_IN_STATE)
            return
        self.watch.begin_stream(StreamSettings(float(rate), int(range_g)))
        self.watch.record_event(f"polar: ACC started at {rate} Hz, +-{range_g} g")
        self._respond(build_response(op, acc, STATUS_SUCCESS))
