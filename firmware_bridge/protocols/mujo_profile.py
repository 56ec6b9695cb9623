"""mujo-edge's own GATT profile for watch firmware we control (spec for firmware authors: firmware_bridge/PROFILE.md).

Data packet (notify, little-endian): a 10-byte header then `count` samples of 3 x int16.
    u8 version (=1) | u8 count | u16 seq | u32 t0_us | u8 rate code | u8 range code | count x (i16 x, y, z)
t0_us is the device time of the FIRST sample in microseconds (wraps every ~71.6 min; the decoder unwraps it);
sample i is at t0 + i / rate. Counts are specific force with 32768 / range_g counts per g.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import cast

import numpy as np

from mujo_edge.errors import ConfigError
from mujo_edge.firmware_bridge.errors import ProtocolError
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
from mujo_edge.firmware_bridge.protocols.continuity import Continuity, ContinuityState, Discontinuity, Mark
from mujo_edge.firmware_bridge.samples import AccBatch, counts_to_si, si_to_counts

PROTOCOL = "mujo"
_BASE = "6d750000-6a6f-4564-9765-6467652d626c"  # fixed 128-bit base; bytes 2..3 (the "0000") name the attribute


def _uuid(short: int) -> str:
    return f"{_BASE[:4]}{short:04x}{_BASE[8:]}"


SERVICE_UUID = _uuid(0x0001)
DATA_UUID = _uuid(0x0002)  # notify: sample packets
CONFIG_UUID = _uuid(0x0003)  # read/write: MujoConfig
STATUS_UUID = _uuid(0x0004)  # read/notify: MujoStatus

VERSION = 1
HEADER = struct.Struct("<BBHIBB")
CONFIG = struct.Struct("<BBBB")
STATUS = struct.Struct("<BBBBI")
SAMPLE_BYTES = 6
RATE_CODES: dict[int, float] = {0: 12.5, 1: 25.0, 2: 50.0, 3: 100.0, 4: 200.0}
RANGE_CODES: dict[int, int] = {0: 2, 1: 4, 2: 8, 3: 16}
_WRAP = 1 << 32
GRID_TOLERANCE_S = 0.001


def _code(table: dict, value: object, field: str) -> int:
    for code, v in table.items():
        if v == value:
            return code
    raise ConfigError(f"{value} is not one of {list(table.values())}", field=field)


class DeviceState(IntEnum):
    IDLE = 0
    STREAMING = 1
    SENSOR_ERROR = 2


@dataclass(frozen=True)
class MujoConfig:
    """Config characteristic: sample rate (Hz), range (+-g), streaming on/off. 4 bytes: version, rate, range, flags."""

    rate_hz: float = 50.0
    range_g: int = 8
    streaming: bool = True

    def encode(self) -> bytes:
        return CONFIG.pack(
            VERSION,
            _code(RATE_CODES, self.rate_hz, "rate_hz"),
            _code(RANGE_CODES, self.range_g, "range_g"),
            int(self.streaming),
        )

    @classmethod
    def decode(cls, payload: bytes) -> MujoConfig:
        packet = bytes(payload)
        if len(packet) != CONFIG.size:
            raise ProtocolError(
                f"config is {CONFIG.size} bytes, got {len(packet)}", protocol=PROTOCOL, field="length", packet=packet
            )
        version, rate, rng, flags = CONFIG.unpack(packet)
        if version != VERSION or rate not in RATE_CODES or rng not in RANGE_CODES or flags > 1:
            raise ProtocolError(
                "config has an unknown version, rate, range or flag", protocol=PROTOCOL, field="config", packet=packet
            )
        return cls(RATE_CODES[rate], RANGE_CODES[rng], bool(flags))


@dataclass(frozen=True)
class MujoStatus:
    """Status characteristic: device state, battery % (None = unknown), samples the device had to drop."""

    state: DeviceState
    battery_pct: int | None
    dropped_samples: int

    def encode(self) -> bytes:
        battery = 0xFF if self.battery_pct is None else self.battery_pct
        return STATUS.pack(VERSION, self.state, battery, 0, self.dropped_samples)

    @classmethod
    def decode(cls, payload: bytes) -> MujoStatus:
        packet = bytes(payload)
        if len(packet) != STATUS.size:
            raise ProtocolError(
                f"status is {STATUS.size} bytes, got {len(packet)}", protocol=PROTOCOL, field="length", packet=packet
            )
        version, state, battery, _, dropped = STATUS.unpack(packet)
        if version != VERSION or state not in DeviceState._value2member_map_ or (battery > 100 and battery != 0xFF):
            raise ProtocolError(
                "status has an unknown version, state or battery value",
                protocol=PROTOCOL,
                field="status",
                packet=packet,
            )
        return cls(DeviceState(state), None if battery == 0xFF else battery, dropped)


class MujoDecoder(Decoder):
    """Data packets -> AccBatch with device times (s since the device's clock started) and seq.

    A sequence jump is reported as `lost_before` (packets missing) when the device times agree with it; a packet
    whose sequence number and time disagree (see `continuity`), a repeated seq, a count that does not match the
    length or an unknown version, rate or range raise ProtocolError.
    """

    protocol = PROTOCOL

    def __init__(self, rate_hz: float | None = None, range_g: int | None = None) -> None:
        self.rate_hz, self.range_g = rate_hz, range_g  # what the host configured (None: take what comes)
        # the profile's sample times are exact (t0 + k / rate, in whole microseconds): 1 ms off the grid is corrupt
        self.continuity: Continuity = Continuity(modulus=0x10000, grid_s=GRID_TOLERANCE_S)
        self.reset()

    def reset(self) -> None:
        self.continuity.reset()
        self._raw_t0: int | None = None  # the anchor's t0_us as sent (u32), to unwrap the next one against
        self._abs_t0 = 0  # ... and unwrapped (us)

    @property
    def last_seq(self) -> int | None:
        anchor = self.continuity.anchor
        return None if anchor is None else anchor.seq

    def snapshot(self) -> object:
        return (self.continuity.state(), self._raw_t0, self._abs_t0)

    def restore(self, state: object) -> None:
        marks, self._raw_t0, self._abs_t0 = cast(tuple[ContinuityState, int | None, int], state)
        self.continuity.set_state(marks)

    def decode(self, payload: bytes) -> AccBatch:
        packet = bytes(payload)
        count, seq, t0, rate, range_g = self._header(packet)
        # unwrap against the anchor: the signed distance mod 2^32 (the profile allows steps below 2^31 us)
        abs_t0 = t0 if self._raw_t0 is None else self._abs_t0 + ((t0 - self._raw_t0 + _WRAP // 2) % _WRAP - _WRAP // 2)
        t = abs_t0 / 1e6 + np.arange(count, dtype=np.float64) / rate
        mark = Mark(seq, float(t[0]), float(t[-1]), rate, count)
        try:
            lost, new_stream = self.continuity.judge(mark)
        except Discontinuity as e:
            raise self._error(e.reason, e.field, packet) from None
        self.continuity.accept(mark)
        self._raw_t0, self._abs_t0 = t0, abs_t0
        counts = np.frombuffer(packet, dtype="<i2", offset=HEADER.size).reshape(-1, 3)
        xyz = counts_to_si(counts, range_g / 32768)
        return AccBatch(t, xyz, seq=seq, lost_before=lost, device_rate_hz=rate, raw=packet, new_stream=new_stream)

    def _header(self, packet: bytes) -> tuple[int, int, int, float, int]:
        """(count, seq, t0_us, rate Hz, range g) of a well-formed packet, else ProtocolError."""
        if len(packet) < HEADER.size:
            raise self._error(
                f"packet of {len(packet)} bytes is shorter than the {HEADER.size}-byte header", "length", packet
            )
        version, count, seq, t0, rate_code, range_code = HEADER.unpack_from(packet)
        if version != VERSION:
            raise self._error(f"unknown version {version}", "version", packet)
        if count == 0 or len(packet) != HEADER.size + SAMPLE_BYTES * count:
            raise self._error(
                f"header declares {count} samples, packet holds {(len(packet) - HEADER.size) / 6:g}", "count", packet
            )
        if rate_code not in RATE_CODES or range_code not in RANGE_CODES:
            raise self._error(f"unknown rate code {rate_code} or range code {range_code}", "rate_range", packet)
        rate, range_g = RATE_CODES[rate_code], RANGE_CODES[range_code]
        for value, want, unit in ((rate, self.rate_hz, "Hz"), (range_g, self.range_g, "g")):
            if want is not None and value != want:  # the device changes them only when the host writes config
                raise self._error(f"{value:g} {unit}, but the host configured {want:g} {unit}", "rate_range", packet)
        return count, seq, t0, rate, range_g


class MujoEncoder(Encoder):
    """Samples -> data packets filling the MTU (at most 255 samples each), as profile firmware sends them."""

    protocol = PROTOCOL

    def __init__(self, rate_hz: float = 50.0, range_g: int = 8, *, start_seq: int = 0, start_us: int = 0) -> None:
        self.rate_code = _code(RATE_CODES, rate_hz, "rate_hz")
        self.range_code = _code(RANGE_CODES, range_g, "range_g")
        self.g_per_count = range_g / 32768
        self.seq = start_seq & 0xFFFF
        self._start_us = start_us
        self._sent = 0

    def quantise(self, xyz: np.ndarray) -> np.ndarray:
        return counts_to_si(si_to_counts(as_samples(xyz)[0], self.g_per_count, -32768, 32767), self.g_per_count)

    def encode(self, xyz: np.ndarray, t_device: np.ndarray | None = None, *, mtu: int = DEFAULT_MTU) -> list[bytes]:
        x, t = as_samples(xyz, t_device)
        counts = si_to_counts(x, self.g_per_count, -32768, 32767).astype("<i2")
        per = min(255, (max_payload(mtu) - HEADER.size) // SAMPLE_BYTES)
        rate = RATE_CODES[self.rate_code]
        out: list[bytes] = []
        for i in range(0, counts.shape[0], per):
            chunk = counts[i : i + per]
            if t is None:
                t0_us = self._start_us + round((self._sent + i) * 1e6 / rate)
            else:
                t0_us = round(float(t[i]) * 1e6)
            out.append(
                HEADER.pack(VERSION, chunk.shape[0], self.seq, t0_us % _WRAP, self.rate_code, self.range_code)
                + chunk.tobytes()
            )
            self.seq = (self.seq + 1) & 0xFFFF
        self._sent += counts.shape[0]
        return out


def _start_writes(settings: StreamSettings, mtu: int) -> list[GattWrite]:
    PROTOCOLS.get(PROTOCOL).check(settings)
    config = MujoConfig(settings.rate_hz, settings.range_g, streaming=True)
    return [GattWrite(CONFIG_UUID, config.encode(), note="set rate and range, start streaming")]


def _stop_writes() -> list[GattWrite]:
    return [GattWrite(CONFIG_UUID, MujoConfig(streaming=False).encode(), note="stop streaming")]


PROTOCOLS.register(
    PROTOCOL,
    Protocol(
        name=PROTOCOL,
        description="mujo-edge GATT profile: sequence-numbered, timestamped int16 packets (see PROFILE.md)",
        service_uuid=SERVICE_UUID,
        data_uuid=DATA_UUID,
        control_uuid=CONFIG_UUID,
        nominal_rates_hz=tuple(RATE_CODES.values()),
        ranges_g=tuple(RANGE_CODES.values()),
        has_device_timestamps=True,
        has_sequence_numbers=True,
        decoder=lambda s: MujoDecoder(s.rate_hz, s.range_g),
        encoder=lambda s: MujoEncoder(s.rate_hz, s.range_g),
        start_writes=_start_writes,
        stop_writes=_stop_writes,
        other_uuids={"config": CONFIG_UUID, "status": STATUS_UUID},
    ),
)
