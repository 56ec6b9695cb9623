"""Bangle.js (Espruino) over the Nordic UART: our watch-side app's line format, line reassembly, upload.

The watch runs `watch_apps/banglejs_stream.js` (uploaded by the host on connect, see `upload_commands`) and prints
one line per batch of samples: `MJ:` + base64(packet) + CRLF, packet (little-endian):
    u8 version (=1) | u16 seq | u32 t0_ms | u16 span_ms | u16 rate_dhz (0.1 Hz) | u8 count | count x 3 x i16 milli-g
Why binary + base64: a CSV line per sample (`A,<t_ms>,<x>,<y>,<z>`, ~25 bytes) costs ~1.25 kB/s at 50 Hz, half
the ~2.5 kB/s the link carries, and Espruino formats numbers slowly; a 10-sample batch is 101 bytes (~0.5 kB/s),
keeps a sequence number per line for loss counting and a first/last time pair for the real rate.
Sample i of a batch is at t0 + span * i / (count - 1) seconds since `mujoStart` (device clock).
Lines without the `MJ:` tag are Espruino console output (prompts, echoes, warnings) and are skipped.
Bangle.js reports the direction of gravity (z = -1 g lying face up); the decoder negates all axes to give
specific force (+9.81 on z face up).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import struct
from importlib import resources
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

log = logging.getLogger(__name__)

PROTOCOL = "banglejs"
SERVICE_UUID = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
RX_UUID = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"  # host writes (watch receives)
TX_UUID = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"  # watch notifies
TAG = b"MJ:"
VERSION = 1
HEADER = struct.Struct("<BHIHHB")
SAMPLE_BYTES = 6
G_PER_COUNT = 1e-3
AXIS_SIGN = -1  # Bangle.js reports gravity direction; specific force is its negative
RATES_HZ = (12.5, 25.0, 50.0, 100.0)
DEFAULT_BATCH = 10
MAX_LINE = 1024  # bytes; the longest valid line (255 samples) is 3 + 2064 base64 chars, our app sends 101
APP_RESOURCE = "watch_apps/banglejs_stream.js"
RESET_PAUSE_S = 1.0
# The app stamps each sample with getTime() in its 'accel' handler, which runs late when Espruino is busy
# (BLE, garbage collection): how much later than nominal a sample time may be.
HANDLER_JITTER_S = 0.1


class LineReassembler:
    """Notification chunks -> complete lines (without CR/LF); keeps the partial tail between calls.

    A line longer than `max_line` bytes raises ProtocolError and is dropped (the stream resynchronises on
    the next newline), so a runaway line never grows the buffer without bound.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._tail = bytearray()
        self._discarding = False

    def reset(self) -> None:
        self._tail.clear()
        self._discarding = False

    def feed(self, chunk: bytes) -> list[bytes]:
        parts = bytes(chunk).split(b"\n")
        lines: list[bytes] = []
        overflow: bytes | None = None
        for i, part in enumerate(parts):
            ended = i < len(parts) - 1  # this part was followed by a newline
            if self._discarding:
                self._discarding = not ended
                continue
            self._tail += part
            if len(self._tail) > self.max_line:
                overflow = overflow if overflow is not None else bytes(self._tail[:64])
                self._tail.clear()
                self._discarding = not ended
            elif ended:
                lines.append(bytes(self._tail).rstrip(b"\r"))
                self._tail.clear()
        if overflow is not None:
            raise ProtocolError(
                f"line longer than {self.max_line} bytes (dropped)", protocol=PROTOCOL, field="line", packet=overflow
            )
        return lines


class BangleDecoder(Decoder):
    """Nordic UART notifications -> AccBatch of the `MJ:` lines they complete (possibly empty).

    seq is that of the first line completed; lost_before counts lines missing before and between them, and
    lost_samples their samples (our app prints every line with the same count). A malformed `MJ:` line, one
    whose span cannot hold its samples at its rate, a rate other than `rate_hz` (the one the app was started
    with; None: any) or a line whose sequence number and times disagree (see `continuity`) raises ProtocolError;
    other complete lines in the same notification are dropped with it (and counted lost by the next line).
    """

    protocol = PROTOCOL

    def __init__(self, max_line: int = MAX_LINE, rate_hz: float | None = None) -> None:
        self.lines = LineReassembler(max_line)
        self.rate_hz = rate_hz
        self.console_lines = 0
        # the app prints every line with `batch` samples: a lost line held as many
        self.continuity = Continuity(modulus=0x10000, jitter_s=HANDLER_JITTER_S, fixed_count=True)
        self.reset()

    def reset(self) -> None:
        self.lines.reset()
        self.continuity.reset()

    @property
    def last_seq(self) -> int | None:
        anchor = self.continuity.anchor
        return None if anchor is None else anchor.seq

    def snapshot(self) -> object:
        return self.continuity.state()

    def restore(self, state: object) -> None:
        self.continuity.set_state(cast(ContinuityState, state))

    def decode(self, payload: bytes) -> AccBatch:
        packet = bytes(payload)
        saved = self.continuity.state()
        lines: list[_Line] = []
        try:
            for raw in self.lines.feed(packet):
                if not raw.startswith(TAG):
                    self.console_lines += 1
                    log.debug("Bangle.js console: %r", raw[:80])
                    continue
                lines.append(self._follow(self._parse(raw), raw, first=not lines))
        except ProtocolError:
            # back to the anchor before this notification, keeping the rejected line should the stream restart there
            _, candidate, chain = self.continuity.state()
            self.continuity.set_state((saved[0], candidate, chain))
            raise
        if not lines:
            return AccBatch.empty(timestamps=True, raw=packet)
        xyz = counts_to_si(AXIS_SIGN * np.concatenate([x.counts for x in lines]), G_PER_COUNT)
        lost = [x.lost_samples for x in lines]
        return AccBatch(
            np.concatenate([x.t for x in lines]),
            xyz,
            seq=lines[0].mark.seq,
            lost_before=sum(x.lost for x in lines),
            lost_samples=None if None in lost else sum(n for n in lost if n is not None),
            device_rate_hz=lines[-1].mark.rate_hz,
            raw=packet,
            new_stream=lines[0].new_stream,
        )

    def _follow(self, line: _Line, raw: bytes, *, first: bool) -> _Line:
        """Judge a parsed line against the stream and accept it (ProtocolError if it does not follow).

        Lines lost are counted by sequence number and carried exactly as samples (every line holds the same
        count), except after the app restarted, where only host time can tell."""
        anchor, mark = self.continuity.anchor, line.mark
        if anchor is not None and mark.seq == 0 and mark.first_s < anchor.first_s and first:
            # the app restarted (mujoStart after reconnecting resets its sequence and clock) while lines of the
            # old session were still arriving: this line begins the new stream, nothing was lost
            log.debug("Bangle.js: stream restarted at seq 0 (%.3f s after %.3f s)", mark.first_s, anchor.first_s)
            restarted, lost, new_stream = True, 0, True
        else:
            restarted = False
            try:
                lost, new_stream = self.continuity.judge(mark)
            except Discontinuity as e:
                raise self._error(e.reason, e.field, raw) from None
            if new_stream and not first:  # a restart inside a notification: start over at the next one
                self.continuity.set_state((anchor, mark, self.continuity.confirm - 1))
                raise self._error("the stream restarts in the middle of a notification", "seq", raw)
        exact = None if restarted or anchor is None or anchor.count != mark.count else lost * mark.count
        self.continuity.accept(mark)
        return dataclasses.replace(line, lost=lost, lost_samples=exact, new_stream=new_stream)

    def _parse(self, line: bytes) -> _Line:
        try:
            data = base64.b64decode(line[len(TAG) :], validate=True)
        except (binascii.Error, ValueError):
            raise self._error("line is not valid base64", "base64", line) from None
        if len(data) < HEADER.size:
            raise self._error(f"packet of {len(data)} bytes is shorter than its header", "length", line)
        version, seq, t0_ms, span_ms, rate_dhz, count = HEADER.unpack_from(data)
        if version != VERSION:
            raise self._error(f"unknown version {version}", "version", line)
        if count == 0 or len(data) != HEADER.size + SAMPLE_BYTES * count:
            raise self._error(f"header declares {count} samples, packet has {len(data)} bytes", "count", line)
        rate = rate_dhz / 10.0
        if rate_dhz == 0:
            raise self._error("rate 0 Hz", "rate", line)
        if self.rate_hz is not None and rate != self.rate_hz:
            raise self._error(f"rate {rate:g} Hz, but the app was started at {self.rate_hz:g} Hz", "rate", line)
        self._check_span(span_ms, count, rate, line)
        c = np.frombuffer(data, dtype="<i2", offset=HEADER.size).reshape(-1, 3).astype(np.int64)
        frac = np.arange(count, dtype=np.float64) / max(count - 1, 1)
        t = (t0_ms + span_ms * frac) / 1000.0
        return _Line(t, c, Mark(seq, float(t[0]), float(t[-1]), rate, count))

    def _check_span(self, span_ms: int, count: int, rate: float, line: bytes) -> None:
        """The first-to-last sample time must fit `count` samples at `rate` (within the app's jitter): a span of
        0 ms for 4 samples would give them one timestamp, which no resampler can use."""
        nominal = (count - 1) / rate
        if count == 1 and span_ms != 0:
            raise self._error(f"span {span_ms} ms impossible for 1 sample", "span", line)
        if count > 1 and not 0.5 * nominal <= span_ms / 1000.0 <= 2 * nominal + HANDLER_JITTER_S:
            raise self._error(
                f"span {span_ms} ms cannot hold {count} samples at {rate:g} Hz (about {1000 * nominal:.0f} ms)",
                "span",
                line,
            )


@dataclasses.dataclass(frozen=True)
class _Line:
    """One parsed `MJ:` line: device times [n] s, raw counts [n, 3], its place in the stream, and the verdict."""

    t: np.ndarray
    counts: np.ndarray
    mark: Mark
    lost: int = 0
    lost_samples: int | None = None
    new_stream: bool = False


class BangleEncoder(Encoder):
    """Samples -> the byte stream the watch app prints, cut into notifications of mtu-3 bytes."""

    protocol = PROTOCOL

    def __init__(self, rate_hz: float = 50.0, batch: int = DEFAULT_BATCH) -> None:
        if not 1 <= batch <= 255:
            raise ConfigError(f"batch must be in [1, 255], got {batch}", field="batch")
        self.rate_hz = rate_hz
        self.batch = batch
        self.seq = 0
        self._sent = 0

    def quantise(self, xyz: np.ndarray) -> np.ndarray:
        native = si_to_counts(AXIS_SIGN * as_samples(xyz)[0], G_PER_COUNT, -32768, 32767)
        return counts_to_si(AXIS_SIGN * native, G_PER_COUNT)

    def lines(self, xyz: np.ndarray, t_device: np.ndarray | None = None) -> list[bytes]:
        """The complete lines (with CRLF) the watch prints for these samples."""
        x, t = as_samples(xyz, t_device)
        if t is None:
            t = (self._sent + np.arange(x.shape[0])) / self.rate_hz
        self._sent += x.shape[0]
        native = si_to_counts(AXIS_SIGN * x, G_PER_COUNT, -32768, 32767).astype("<i2")
        out = []
        for i in range(0, x.shape[0], self.batch):
            chunk = native[i : i + self.batch]
            t0 = round(float(t[i]) * 1000)
            span = round(float(t[i + chunk.shape[0] - 1]) * 1000) - t0
            if not (0 <= t0 < 1 << 32 and 0 <= span < 1 << 16):
                raise ConfigError("device times must be >= 0 and increasing within a batch", field="t_device")
            head = HEADER.pack(VERSION, self.seq, t0, span, round(self.rate_hz * 10), chunk.shape[0])
            out.append(TAG + base64.b64encode(head + chunk.tobytes()) + b"\r\n")
            self.seq = (self.seq + 1) & 0xFFFF
        return out

    def encode(self, xyz: np.ndarray, t_device: np.ndarray | None = None, *, mtu: int = DEFAULT_MTU) -> list[bytes]:
        stream = b"".join(self.lines(xyz, t_device))
        step = max_payload(mtu)
        return [stream[i : i + step] for i in range(0, len(stream), step)]


def watch_app_source() -> str:
    """The watch-side JavaScript (package data `watch_apps/banglejs_stream.js`)."""
    return resources.files("mujo_edge.firmware_bridge").joinpath(APP_RESOURCE).read_text(encoding="utf-8")


def upload_commands(source: str | None = None) -> list[bytes]:
    """What the host writes to the RX characteristic on connect, one entry per console line.

    `\\x03` clears any half-typed console line; `reset()` clears the interpreter (give it ~1 s); then every line
    of the app, prefixed with `\\x10` (Espruino: do not echo this line), comment-only and blank lines dropped.
    Espruino's console keeps reading while brackets are open, so multi-line functions arrive intact.
    """
    text = watch_app_source() if source is None else source
    body = [line.rstrip() for line in text.splitlines() if line.strip() and not line.strip().startswith("//")]
    return [b"\x03", b"\x10reset();\n"] + [b"\x10" + line.encode("utf-8") + b"\n" for line in body]


def start_command(rate_hz: float = 50.0, batch: int = DEFAULT_BATCH) -> bytes:
    if rate_hz not in RATES_HZ:
        raise ConfigError(f"Bangle.js app streams at {list(RATES_HZ)} Hz, not {rate_hz}", field="rate_hz")
    return f"\x10mujoStart({rate_hz:g},{batch});\n".encode()


STOP_COMMAND = b"\x10mujoStop();\n"


def _writes(command: bytes, mtu: int, pause: float = 0.0, note: str = "") -> list[GattWrite]:
    step = max_payload(mtu)
    parts = [command[i : i + step] for i in range(0, len(command), step)]
    return [
        GattWrite(RX_UUID, p, response=False, pause_after_s=pause if k == len(parts) - 1 else 0.0, note=note)
        for k, p in enumerate(parts)
    ]


def _start_writes(settings: StreamSettings, mtu: int) -> list[GattWrite]:
    PROTOCOLS.get(PROTOCOL).check(settings)
    out: list[GattWrite] = []
    for command in upload_commands():
        pause = RESET_PAUSE_S if command == b"\x10reset();\n" else 0.0
        out += _writes(command, mtu, pause, note="upload watch app")
    return out + _writes(start_command(settings.rate_hz), mtu, note="start streaming")


PROTOCOLS.register(
    PROTOCOL,
    Protocol(
        name=PROTOCOL,
        description="Bangle.js 2 over Nordic UART: our uploaded app prints base64 batches with seq and times",
        service_uuid=SERVICE_UUID,
        data_uuid=TX_UUID,
        control_uuid=RX_UUID,
        nominal_rates_hz=RATES_HZ,
        ranges_g=(4,),
        has_device_timestamps=True,
        has_sequence_numbers=True,
        decoder=lambda s: BangleDecoder(rate_hz=s.rate_hz),
        encoder=lambda s: BangleEncoder(s.rate_hz),
        start_writes=_start_writes,
        stop_writes=lambda: _writes(STOP_COMMAND, DEFAULT_MTU, note="stop streaming"),
    ),
)
