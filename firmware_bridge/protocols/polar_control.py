"""Polar PMD control point: command builders and the parser for what the device writes back.

Facts from Polar's public PMD documentation (see shared/reference/ble-protocols.md); written clean-room.
Control point frames the device sends:
    0F <feature bitmask...>            read response: bit n set = measurement type n supported
    F0 op type status [more params...] response to a command we wrote
    01 <type> [<type>...]              push: the device stopped these measurements on its own
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum

from mujo_edge.firmware_bridge.errors import ProtocolError

PROTOCOL = "polar"

SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
CONTROL_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"


class MeasurementType(IntEnum):
    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAG = 6


class ControlOp(IntEnum):
    GET_SETTINGS = 1
    START = 2
    STOP = 3


class SettingType(IntEnum):
    SAMPLE_RATE = 0  # u16 Hz
    RESOLUTION = 1  # u16 bits
    RANGE = 2  # u16 +-g (ACC)
    RANGE_MILLIUNIT = 3  # u32
    CHANNELS = 4  # u8
    FACTOR = 5  # f32, multiplies delta-compressed values


_SETTING_FORMAT = {
    SettingType.SAMPLE_RATE: "<H",
    SettingType.RESOLUTION: "<H",
    SettingType.RANGE: "<H",
    SettingType.RANGE_MILLIUNIT: "<I",
    SettingType.CHANNELS: "<B",
    SettingType.FACTOR: "<f",
}

# Response status codes of the PMD control point (0, 6 and 13 are the ones a client acts on).
STATUS_NAMES = {
    0: "SUCCESS",
    1: "INVALID_OP_CODE",
    2: "INVALID_MEASUREMENT_TYPE",
    3: "NOT_SUPPORTED",
    4: "INVALID_LENGTH",
    5: "INVALID_PARAMETER",
    6: "ALREADY_IN_STATE",
    7: "INVALID_RESOLUTION",
    8: "INVALID_SAMPLE_RATE",
    9: "INVALID_RANGE",
    10: "INVALID_MTU",
    11: "INVALID_NUMBER_OF_CHANNELS",
    12: "INVALID_STATE",
    13: "DEVICE_IN_CHARGER",
}

FEATURE_READ = 0x0F
RESPONSE = 0xF0
MEASUREMENT_STOPPED = 0x01


def type_name(code: int) -> str:
    """Measurement type code -> name ("ACC"), or "TYPE_<n>" for codes this module does not know."""
    try:
        return MeasurementType(code).name
    except ValueError:
        return f"TYPE_{code}"


@dataclass(frozen=True)
class PolarSettings:
    """Settings listed by the device (get-settings response: the choices; start response: what is in effect).

    sample_rates in Hz, resolutions in bits, ranges in +-g, factor multiplies compressed values to give g.
    """

    sample_rates: tuple[int, ...] = ()
    resolutions: tuple[int, ...] = ()
    ranges: tuple[int, ...] = ()
    range_milliunits: tuple[int, ...] = ()
    channels: tuple[int, ...] = ()
    factor: float | None = None


@dataclass(frozen=True)
class PolarFeatures:
    """The control point's read value: the measurement types the device supports (type codes)."""

    types: frozenset[int]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(type_name(t) for t in self.types)


@dataclass(frozen=True)
class PolarResponse:
    """`F0 op type status more params` written back after a command."""

    op: ControlOp
    measurement_type: int
    status: int
    more: bool
    settings: PolarSettings

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, f"UNKNOWN_{self.status}")

    @property
    def ok(self) -> bool:
        """Success, or already in the requested state (e.g. start while streaming)."""
        return self.status in (0, 6)


@dataclass(frozen=True)
class PolarMeasurementStopped:
    """Pushed by the device when it stops measurements itself (e.g. put in its charger)."""

    types: tuple[int, ...]


PolarControlFrame = PolarFeatures | PolarResponse | PolarMeasurementStopped


def _error(reason: str, field: str, packet: bytes) -> ProtocolError:
    return ProtocolError(reason, protocol=PROTOCOL, field=field, packet=packet)


def build_get_settings(measurement: int = MeasurementType.ACC) -> bytes:
    """Ask which settings `measurement` supports: `01 <type>`."""
    return bytes([ControlOp.GET_SETTINGS, measurement])


def build_start(
    measurement: int = MeasurementType.ACC,
    *,
    sample_rate: int = 50,
    resolution: int = 16,
    range_g: int | None = 8,
    channels: int | None = None,
) -> bytes:
    """Start `measurement`: `02 <type>` then `setting, count=1, value` entries.

    50 Hz, 16 bit, +-8 g -> 02 02 00 01 32 00 01 01 10 00 02 01 08 00.
    """
    out = bytearray([ControlOp.START, measurement])
    entries: list[tuple[SettingType, int]] = [
        (SettingType.SAMPLE_RATE, sample_rate),
        (SettingType.RESOLUTION, resolution),
    ]
    if range_g is not None:
        entries.append((SettingType.RANGE, range_g))
    if channels is not None:
        entries.append((SettingType.CHANNELS, channels))
    for kind, value in entries:
        out += bytes([kind, 1]) + struct.pack(_SETTING_FORMAT[kind], value)
    return bytes(out)


def build_stop(measurement: int = MeasurementType.ACC) -> bytes:
    """Stop `measurement`: `03 <type>`."""
    return bytes([ControlOp.STOP, measurement])


def parse_settings(data: bytes, packet: bytes) -> PolarSettings:
    """Settings entries `type, count, count x value` -> PolarSettings (ProtocolError if malformed)."""
    found: dict[SettingType, list[int | float]] = {}
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise _error("settings entry cut after its type byte", "settings", packet)
        try:
            kind = SettingType(data[pos])
        except ValueError:
            raise _error(f"unknown setting type {data[pos]}", "settings", packet) from None
        count = data[pos + 1]
        fmt = _SETTING_FORMAT[kind]
        size = struct.calcsize(fmt)
        end = pos + 2 + count * size
        if count == 0 or end > len(data):
            raise _error(f"setting {kind.name} declares {count} values that do not fit", "settings", packet)
        values = [struct.unpack_from(fmt, data, pos + 2 + i * size)[0] for i in range(count)]
        found.setdefault(kind, []).extend(values)
        pos = end
    factors = found.get(SettingType.FACTOR, [])
    if len(factors) > 1:
        raise _error("more than one FACTOR value", "settings", packet)
    factor = float(factors[0]) if factors else None
    if factor is not None and not (math.isfinite(factor) and factor > 0):
        raise _error(f"FACTOR must be finite and > 0, got {factor}", "settings", packet)
    return PolarSettings(
        sample_rates=tuple(int(v) for v in found.get(SettingType.SAMPLE_RATE, [])),
        resolutions=tuple(int(v) for v in found.get(SettingType.RESOLUTION, [])),
        ranges=tuple(int(v) for v in found.get(SettingType.RANGE, [])),
        range_milliunits=tuple(int(v) for v in found.get(SettingType.RANGE_MILLIUNIT, [])),
        channels=tuple(int(v) for v in found.get(SettingType.CHANNELS, [])),
        factor=factor,
    )


def parse_control(payload: bytes) -> PolarControlFrame:
    """Any value read from or indicated on the control point -> its dataclass (ProtocolError if malformed)."""
    packet = bytes(payload)
    if not packet:
        raise _error("empty control point frame", "length", packet)
    head = packet[0]
    if head == FEATURE_READ:
        if len(packet) < 2:
            raise _error("feature read without a bitmask", "length", packet)
        mask = int.from_bytes(packet[1:], "little")
        return PolarFeatures(frozenset(bit for bit in range(mask.bit_length()) if mask >> bit & 1))
    if head == MEASUREMENT_STOPPED:
        if len(packet) < 2:
            raise _error("measurement-stopped push without a type", "length", packet)
        return PolarMeasurementStopped(tuple(packet[1:]))
    if head != RESPONSE:
        raise _error(f"unknown control point frame 0x{head:02x}", "frame_type", packet)
    if len(packet) < 4:
        raise _error("response shorter than F0 op type status", "length", packet)
    try:
        op = ControlOp(packet[1])
    except ValueError:
        raise _error(f"response to unknown op code {packet[1]}", "op", packet) from None
    status = packet[3]
    more = len(packet) > 4 and packet[4] != 0
    settings = PolarSettings()
    if status == 0 and op in (ControlOp.GET_SETTINGS, ControlOp.START) and len(packet) > 5:
        settings = parse_settings(packet[5:], packet)
    return PolarResponse(op=op, measurement_type=packet[2], status=status, more=more, settings=settings)
