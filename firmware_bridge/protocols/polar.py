"""Polar PMD accelerometer data frames (H10, Verity Sense, OH1): decoder, encoder and protocol definition.

Frame (data characteristic, notify):
    byte 0      measurement type (& 0x3F); ACC = 2
    bytes 1..8  uint64 LE nanoseconds since 2000-01-01T00:00:00 UTC, stamping the LAST sample of the frame
    byte 9      frame type; bit 7 set = delta compressed
    then        raw: N x 3 signed little-endian ints of 1/2/3 bytes (types 0/1/2), in mG
                compressed (0x80, 0x81): a reference sample (3 x int16 LE), then blocks `[bit width, count]`
                + count x 3 values of `bit width` bits, packed LSB first, each block padded to a whole byte;
                every value is a signed delta from the previous sample. Counts x factor = g (factor from the
                start response; without one, counts are mG).
Per-sample times are spread evenly over (previous frame time, this frame time]; the first frame of a stream
(or one after a gap) uses the nominal rate. Device times are seconds since 2000-01-01 UTC.
Written clean-room from the facts in shared/reference/ble-protocols.md.
"""

from __future__ import annotations

import numpy as np

from mujo_edge.errors import ConfigError
from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.protocols import polar_control as pc
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

PROTOCOL = "polar"
HEADER = 10
CHANNELS = 3
RAW_WIDTH = {0: 1, 1: 2, 2: 3}  # raw frame type -> bytes per value
COMPRESSED_TYPES = (0x80, 0x81)
REF_BYTES = 2  # reference sample: ceil(16 bit resolution / 8) bytes per channel
MG = 1e-3  # g per count of a raw frame
RATES_HZ = (25.0, 26.0, 50.0, 52.0, 100.0, 104.0, 200.0, 208.0, 416.0)  # H10 | Verity | OH1 (50)
RANGES_G = (2, 4, 8, 16)


def _signed(values: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned `bits`-bit two's-complement values -> signed int64."""
    return np.where(values >= 1 << (bits - 1), values - (1 << bits), values)


def _raw_counts(body: bytes, width: int, packet: bytes) -> np.ndarray:
    step = CHANNELS * width
    if not body or len(body) % step:
        raise ProtocolError(
            f"raw payload of {len(body)} bytes is not a whole number of {step}-byte samples",
            protocol=PROTOCOL,
            field="length",
            packet=packet,
        )
    b = np.frombuffer(body, dtype=np.uint8).reshape(-1, width).astype(np.int64)
    unsigned = np.zeros(b.shape[0], dtype=np.int64)
    for k in range(width):
        unsigned |= b[:, k] << (8 * k)
    return _signed(unsigned, 8 * width).reshape(-1, CHANNELS)


def decode_delta_body(body: bytes, packet: bytes = b"") -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Delta-compressed payload -> (counts int64 [N, 3] incl. the reference sample, [(bit width, count)] per block)."""
    packet = packet or body
    ref_len = REF_BYTES * CHANNELS
    if len(body) < ref_len:
        raise ProtocolError(
            "compressed frame shorter than its reference sample", protocol=PROTOCOL, field="length", packet=packet
        )
    ref = _raw_counts(body[:ref_len], REF_BYTES, packet)
    parts = [np.zeros((1, CHANNELS), dtype=np.int64)]
    blocks: list[tuple[int, int]] = []
    pos = ref_len
    while pos < len(body):
        if pos + 2 > len(body):
            raise ProtocolError("delta block header cut short", protocol=PROTOCOL, field="length", packet=packet)
        width, count = body[pos], body[pos + 1]
        if not 1 <= width <= 32 or count == 0:
            raise ProtocolError(
                f"delta block with bit width {width} and count {count}",
                protocol=PROTOCOL,
                field="delta_block",
                packet=packet,
            )
        nbits = width * count * CHANNELS
        nbytes = (nbits + 7) // 8
        pos += 2
        if pos + nbytes > len(body):
            raise ProtocolError(
                f"delta block needs {nbytes} bytes, {len(body) - pos} left",
                protocol=PROTOCOL,
                field="length",
                packet=packet,
            )
        bits = np.unpackbits(np.frombuffer(body, dtype=np.uint8, count=nbytes, offset=pos), bitorder="little")
        rows = bits[:nbits].reshape(count * CHANNELS, width).astype(np.int64)
        values = rows @ (np.int64(1) << np.arange(width, dtype=np.int64))
        parts.append(_signed(values, width).reshape(count, CHANNELS))
        blocks.append((width, count))
        pos += nbytes
    return ref + np.cumsum(np.concatenate(parts), axis=0), blocks


class PolarAccDecoder(Decoder):
    """PMD ACC data frames -> AccBatch with per-sample device times (s since 2000-01-01 UTC).

    rate_hz: the nominal rate the stream was started with (times the first frame, and frames after a gap).
    factor: g per count of compressed frames, from the start response (`configure`); None = counts are mG.
    gap_factor: a frame whose time is more than gap_factor x its nominal duration after the previous frame's is
        taken to follow lost frames: its samples are timed at the nominal rate instead of spread over the gap.
    """

    protocol = PROTOCOL

    def __init__(self, rate_hz: float, *, factor: float | None = None, gap_factor: float = 3.0) -> None:
        if not rate_hz > 0:
            raise ConfigError(f"rate_hz must be > 0, got {rate_hz}", field="rate_hz")
        if factor is not None and not factor > 0:
            raise ConfigError(f"factor must be > 0, got {factor}", field="factor")
        self.rate_hz = float(rate_hz)
        self.factor = factor
        self.gap_factor = gap_factor
        self.last_timestamp_ns: int | None = None

    def configure(self, settings: pc.PolarSettings) -> None:
        """Take the factor from a start response's settings (when the device sent one)."""
        if settings.factor is not None:
            self.factor = settings.factor

    def reset(self) -> None:
        self.last_timestamp_ns = None

    def snapshot(self) -> object:
        return self.last_timestamp_ns

    def restore(self, state: object) -> None:
        self.last_timestamp_ns = state  # type: ignore[assignment]

    def decode(self, payload: bytes) -> AccBatch:
        packet = bytes(payload)
        if len(packet) <= HEADER:
            raise self._error(f"frame of {len(packet)} bytes has no samples (header is {HEADER})", "length", packet)
        if packet[0] & 0x3F != pc.MeasurementType.ACC:
            raise self._error(f"measurement type {packet[0] & 0x3F} is not ACC", "measurement_type", packet)
        ts_ns = int.from_bytes(packet[1:9], "little")
        frame_type = packet[9]
        body = packet[HEADER:]
        if frame_type in RAW_WIDTH:
            counts, g_per_count = _raw_counts(body, RAW_WIDTH[frame_type], packet), MG
        elif frame_type in COMPRESSED_TYPES:
            counts, _ = decode_delta_body(body, packet)
            g_per_count = self.factor if self.factor is not None else MG
        else:
            raise self._error(f"unknown ACC frame type 0x{frame_type:02x}", "frame_type", packet)
        t = self._times(ts_ns, counts.shape[0], packet)
        self.last_timestamp_ns = ts_ns
        return AccBatch(t, counts_to_si(counts, g_per_count), device_rate_hz=self.rate_hz, raw=packet)

    def _times(self, ts_ns: int, n: int, packet: bytes) -> np.ndarray:
        prev = self.last_timestamp_ns
        if prev is not None and ts_ns <= prev:
            self.last_timestamp_ns = None  # re-anchor: the next frame starts a new stream
            reason = f"timestamp {ts_ns} ns does not follow the previous frame's {prev} ns"
            raise self._error(reason, "timestamp", packet)
        ts = ts_ns / 1e9
        nominal = n / self.rate_hz
        if prev is None or (ts_ns - prev) / 1e9 > self.gap_factor * nominal:
            return ts - np.arange(n - 1, -1, -1, dtype=np.float64) / self.rate_hz
        span = (ts_ns - prev) / 1e9
        return ts - span + span * np.arange(1, n + 1, dtype=np.float64) / n


def _delta_width(deltas: np.ndarray) -> int:
    """Smallest two's-complement bit width holding every value of `deltas` (>= 1)."""
    hi = int(np.max(np.where(deltas < 0, -deltas - 1, deltas)))
    return hi.bit_length() + 1


def _pack_block(deltas: np.ndarray, width: int) -> bytes:
    values = deltas.reshape(-1).astype(np.int64) & ((1 << width) - 1)
    bits = ((values[:, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8).reshape(-1)
    return bytes([width, deltas.shape[0]]) + np.packbits(bits, bitorder="little").tobytes()


class PolarAccEncoder(Encoder):
    """Samples -> PMD ACC frames of `frame_type` (raw 0/1/2 or compressed 0x80/0x81), as a Polar device sends.

    factor: g per count for compressed frames (None = mG, like the raw types). block_samples: samples per delta
    block (each block gets its own minimal bit width). Without `t_device` the clock starts at `start_ns`.
    """

    protocol = PROTOCOL

    def __init__(
        self,
        rate_hz: float = 52.0,
        *,
        frame_type: int = 0x01,
        factor: float | None = None,
        block_samples: int = 16,
        start_ns: int = 700_000_000 * 10**9,
    ) -> None:
        if frame_type not in RAW_WIDTH and frame_type not in COMPRESSED_TYPES:
            raise ConfigError(f"unknown ACC frame type 0x{frame_type:02x}", field="frame_type")
        if not 1 <= block_samples <= 255:
            raise ConfigError(f"block_samples must be in [1, 255], got {block_samples}", field="block_samples")
        self.rate_hz = float(rate_hz)
        self.frame_type = frame_type
        self.factor = factor
        self.block_samples = block_samples
        self._start_ns = start_ns
        self._sent = 0

    def _scale(self) -> tuple[float, int, int]:
        if self.frame_type in RAW_WIDTH:
            bits = 8 * RAW_WIDTH[self.frame_type]
            return MG, -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return (self.factor if self.factor is not None else MG), -32768, 32767

    def quantise(self, xyz: np.ndarray) -> np.ndarray:
        g_per_count, lo, hi = self._scale()
        return counts_to_si(si_to_counts(as_samples(xyz)[0], g_per_count, lo, hi), g_per_count)

    def encode(self, xyz: np.ndarray, t_device: np.ndarray | None = None, *, mtu: int = DEFAULT_MTU) -> list[bytes]:
        x, t = as_samples(xyz, t_device)
        g_per_count, lo, hi = self._scale()
        counts = si_to_counts(x, g_per_count, lo, hi)
        if t is None:
            k = self._sent + np.arange(x.shape[0])
            ts_ns = [self._start_ns + round(int(i) * 1e9 / self.rate_hz) for i in k]
        else:
            ts_ns = [round(float(v) * 1e9) for v in t]
        if ts_ns and (min(ts_ns) < 0 or max(ts_ns) >= 1 << 64):
            raise ConfigError("device times must lie in [0, 2**64) ns", field="t_device")
        self._sent += x.shape[0]
        limit = max_payload(mtu) - HEADER
        frames: list[bytes] = []
        pos = 0
        while pos < counts.shape[0]:
            if self.frame_type in RAW_WIDTH:
                width = RAW_WIDTH[self.frame_type]
                n = min(limit // (CHANNELS * width), counts.shape[0] - pos)
                chunk = counts[pos : pos + n].reshape(-1, 1) >> (8 * np.arange(width, dtype=np.int64))
                body = (chunk & 0xFF).astype(np.uint8).tobytes()
            else:
                body, n = self._compressed(counts[pos:], limit)
            frames.append(
                bytes([pc.MeasurementType.ACC])
                + ts_ns[pos + n - 1].to_bytes(8, "little")
                + bytes([self.frame_type])
                + body
            )
            pos += n
        return frames

    def _compressed(self, counts: np.ndarray, limit: int) -> tuple[bytes, int]:
        """Delta frame body starting at counts[0], filled up to `limit` bytes -> (body, samples used)."""
        body = bytearray((counts[0] & 0xFFFF).astype("<u2").tobytes())
        used = 1
        while used < counts.shape[0]:
            n = min(self.block_samples, counts.shape[0] - used)
            while n > 0:
                deltas = counts[used : used + n] - counts[used - 1 : used + n - 1]
                width = _delta_width(deltas)
                if len(body) + 2 + (width * n * CHANNELS + 7) // 8 <= limit:
                    break
                n -= 1
            if n == 0:
                break
            body += _pack_block(deltas, width)
            used += n
        return bytes(body), used


def _start_writes(settings: StreamSettings, mtu: int) -> list[GattWrite]:
    PROTOCOLS.get(PROTOCOL).check(settings)
    value = pc.build_start(sample_rate=int(settings.rate_hz), resolution=16, range_g=settings.range_g)
    return [GattWrite(pc.CONTROL_UUID, value, note="start ACC (after subscribing to the data characteristic)")]


def _stop_writes() -> list[GattWrite]:
    return [GattWrite(pc.CONTROL_UUID, pc.build_stop(), note="stop ACC")]


PROTOCOLS.register(
    PROTOCOL,
    Protocol(
        name=PROTOCOL,
        description="Polar PMD (H10, Verity Sense, OH1): timestamped raw or delta-compressed ACC frames",
        service_uuid=pc.SERVICE_UUID,
        data_uuid=pc.DATA_UUID,
        control_uuid=pc.CONTROL_UUID,
        nominal_rates_hz=RATES_HZ,
        ranges_g=RANGES_G,
        has_device_timestamps=True,
        has_sequence_numbers=False,
        decoder=lambda s: PolarAccDecoder(s.rate_hz),
        encoder=lambda s: PolarAccEncoder(s.rate_hz),
        start_writes=_start_writes,
        stop_writes=_stop_writes,
    ),
)
