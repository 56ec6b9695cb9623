"""MetaWear (mbientlab, BMI160 accelerometer, module 0x03): commands and streamed data.

Commands go to the command characteristic, data arrives on the notify characteristic:
    configure  03 03 <odr byte> <range byte>   (50 Hz -> 0x27; range +-2/4/8/16 g -> 0x03/0x05/0x08/0x0c)
    enable     03 02 01 00      subscribe 03 04 01 (packed: 03 1c 01)      start 03 01 01
    data       03 04 + x, y, z int16 LE           packed 03 1c + 3 samples (20 bytes)
Counts per g depend on the configured range: 16384 / 8192 / 4096 / 2048 for +-2 / 4 / 8 / 16 g. Streamed data has
no timestamp or sequence number (t_device is None). The BMI160 reports specific force (+1 g on z face up).
ODR and range bytes as in the MetaWear-SDK-Cpp test `test/test_accelerometer_bmi160.py` (expected command bytes).
"""

from __future__ import annotations

import numpy as np

from mujo_edge.errors import ConfigError
from mujo_edge.firmware_bridge.protocols.base import (
    DEFAULT_MTU,
    PROTOCOLS,
    Decoder,
    Encoder,
    GattWrite,
    Protocol,
    StreamSettings,
    as_samples,
    max_payload,
)
from mujo_edge.firmware_bridge.samples import AccBatch, counts_to_si, si_to_counts

PROTOCOL = "metawear"
SERVICE_UUID = "326a9000-85cb-9195-d9dd-464cfbbae75a"
COMMAND_UUID = "326a9001-85cb-9195-d9dd-464cfbbae75a"
NOTIFY_UUID = "326a9006-85cb-9195-d9dd-464cfbbae75a"

MODULE_ACC = 0x03
REG_POWER = 0x01
REG_INTERRUPT_ENABLE = 0x02
REG_CONFIG = 0x03
REG_DATA = 0x04
REG_PACKED = 0x1C
ODR_BYTE = {12.5: 0x25, 25.0: 0x26, 50.0: 0x27, 100.0: 0x28, 200.0: 0x29, 400.0: 0x2A, 800.0: 0x2B, 1600.0: 0x2C}
RANGE_BYTE = {2: 0x03, 4: 0x05, 8: 0x08, 16: 0x0C}
SAMPLE_BYTES = 6


def counts_per_g(range_g: int) -> int:
    if range_g not in RANGE_BYTE:
        raise ConfigError(f"BMI160 has no +-{range_g} g range (supported: {list(RANGE_BYTE)})", field="range_g")
    return 32768 // range_g


def build_config(rate_hz: float = 50.0, range_g: int = 4) -> bytes:
    """`03 03 <odr> <range>`; ConfigError for a rate or range the BMI160 does not have."""
    if rate_hz not in ODR_BYTE:
        raise ConfigError(f"BMI160 cannot sample at {rate_hz} Hz (supported: {list(ODR_BYTE)})", field="rate_hz")
    counts_per_g(range_g)
    return bytes([MODULE_ACC, REG_CONFIG, ODR_BYTE[rate_hz], RANGE_BYTE[range_g]])


ENABLE = bytes([MODULE_ACC, REG_INTERRUPT_ENABLE, 0x01, 0x00])
DISABLE = bytes([MODULE_ACC, REG_INTERRUPT_ENABLE, 0x00, 0x01])
SUBSCRIBE = bytes([MODULE_ACC, REG_DATA, 0x01])
UNSUBSCRIBE = bytes([MODULE_ACC, REG_DATA, 0x00])
SUBSCRIBE_PACKED = bytes([MODULE_ACC, REG_PACKED, 0x01])
UNSUBSCRIBE_PACKED = bytes([MODULE_ACC, REG_PACKED, 0x00])
START = bytes([MODULE_ACC, REG_POWER, 0x01])
STOP = bytes([MODULE_ACC, REG_POWER, 0x00])


class MetaWearDecoder(Decoder):
    """`03 04` (1 sample) and `03 1c` (3 samples) notifications -> AccBatch in m/s^2, no device times."""

    protocol = PROTOCOL

    def __init__(self, range_g: int = 4, rate_hz: float | None = 50.0) -> None:
        self.g_per_count = 1.0 / counts_per_g(range_g)
        self.rate_hz = rate_hz

    def decode(self, payload: bytes) -> AccBatch:
        packet = bytes(payload)
        if len(packet) < 2:
            raise self._error("notification shorter than its module/register header", "length", packet)
        if packet[0] != MODULE_ACC or packet[1] not in (REG_DATA, REG_PACKED):
            raise self._error(
                f"not accelerometer data: module 0x{packet[0]:02x} register 0x{packet[1]:02x}", "frame_type", packet
            )
        samples = 1 if packet[1] == REG_DATA else 3
        if len(packet) != 2 + samples * SAMPLE_BYTES:
            raise self._error(
                f"register 0x{packet[1]:02x} needs {2 + samples * SAMPLE_BYTES} bytes, got {len(packet)}",
                "length",
                packet,
            )
        counts = np.frombuffer(packet, dtype="<i2", offset=2).reshape(-1, 3)
        return AccBatch(None, counts_to_si(counts, self.g_per_count), device_rate_hz=self.rate_hz, raw=packet)


class MetaWearEncoder(Encoder):
    """Samples -> `03 1c` packed notifications (3 samples; the remainder as `03 04`), or only `03 04` if not packed."""

    protocol = PROTOCOL

    def __init__(self, range_g: int = 4, *, packed: bool = True) -> None:
        self.g_per_count = 1.0 / counts_per_g(range_g)
        self.packed = packed

    def quantise(self, xyz: np.ndarray) -> np.ndarray:
        return counts_to_si(si_to_counts(as_samples(xyz)[0], self.g_per_count, -32768, 32767), self.g_per_count)

    def encode(self, xyz: np.ndarray, t_device: np.ndarray | None = None, *, mtu: int = DEFAULT_MTU) -> list[bytes]:
        x, _ = as_samples(xyz, t_device)
        max_payload(mtu)  # packed frames are 20 bytes: they fit even the minimum MTU
        counts = si_to_counts(x, self.g_per_count, -32768, 32767).astype("<i2")
        out: list[bytes] = []
        i = 0
        while i < counts.shape[0]:
            if self.packed and counts.shape[0] - i >= 3:
                out.append(bytes([MODULE_ACC, REG_PACKED]) + counts[i : i + 3].tobytes())
                i += 3
            else:
                out.append(bytes([MODULE_ACC, REG_DATA]) + counts[i].tobytes())
                i += 1
        return out


def _start_writes(settings: StreamSettings, mtu: int) -> list[GattWrite]:
    PROTOCOLS.get(PROTOCOL).check(settings)
    return [
        GattWrite(COMMAND_UUID, build_config(settings.rate_hz, settings.range_g), note="configure ODR and range"),
        GattWrite(COMMAND_UUID, ENABLE, note="enable acceleration sampling"),
        GattWrite(COMMAND_UUID, SUBSCRIBE_PACKED, note="route packed acceleration data to notifications"),
        GattWrite(COMMAND_UUID, START, note="start the accelerometer"),
    ]


def _stop_writes() -> list[GattWrite]:
    return [
        GattWrite(COMMAND_UUID, STOP, note="stop the accelerometer"),
        GattWrite(COMMAND_UUID, DISABLE, note="disable acceleration sampling"),
        GattWrite(COMMAND_UUID, UNSUBSCRIBE_PACKED, note="stop routing packed data"),
    ]


PROTOCOLS.register(
    PROTOCOL,
    Protocol(
        name=PROTOCOL,
        description="MetaWear (BMI160): streamed or packed int16 acceleration, no timestamps",
        service_uuid=SERVICE_UUID,
        data_uuid=NOTIFY_UUID,
        control_uuid=COMMAND_UUID,
        nominal_rates_hz=tuple(ODR_BYTE),
        ranges_g=tuple(RANGE_BYTE),
        has_device_timestamps=False,
        has_sequence_numbers=False,
        decoder=lambda s: MetaWearDecoder(s.range_g, s.rate_hz),
        encoder=lambda s: MetaWearEncoder(s.range_g),
        start_writes=_start_writes,
        stop_writes=_stop_writes,
    ),
)
