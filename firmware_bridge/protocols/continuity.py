"""Continuity of a packet stream that carries a sequence number AND device times (mujo, Bangle.js).

The two must tell the same story. A sequence jump of `d` says `d - 1` packets were lost, and then the device
clock must have moved on by at least that many samples (and at most 255 per packet); no jump says nothing was
lost, and then the next packet starts one sample period after the previous one ended (within the device's
timing jitter). A packet whose number and time disagree is corrupt, whichever of the two is wrong: it is
rejected, never taken as a gap. (One flipped bit in a sequence number used to report 65,535 lost packets.)

A device can also really restart its stream (a reboot, a clock set back): then every later packet disagrees
with the old anchor. So rejected packets are kept as candidates, and once three packets in a row follow each
other exactly the stream re-anchors on them (`new_stream`): two packets are lost, not the rest of the session.
Pure bookkeeping on numbers; the decoders turn their headers into `Mark`s.
"""

from __future__ import annotations

from dataclasses import dataclass

# A step between samples above this many periods is a gap (the same rule as the client's StreamTimer).
GAP_TOLERANCE = 1.5
MAX_PER_PACKET = 255  # both protocols carry the sample count in one byte


@dataclass(frozen=True)
class Mark:
    """Where one packet sits in its stream: sequence number, device times (s) of its first and last sample, the
    rate it was sampled at (Hz) and its sample count."""

    seq: int
    first_s: float
    last_s: float
    rate_hz: float
    count: int


class Discontinuity(Exception):
    """A packet that does not follow the stream (`field` names what is wrong); decoders raise it as ProtocolError."""

    def __init__(self, reason: str, field: str) -> None:
        self.reason = reason
        self.field = field
        super().__init__(reason)


def lost_packets(
    prev: Mark, nxt: Mark, *, modulus: int, jitter_s: float, grid_s: float | None = None, fixed_count: bool = False
) -> int:
    """Packets lost between `prev` and `nxt` when their sequence numbers and device times agree (else raise
    Discontinuity). `jitter_s`: how much later than its nominal time a device may stamp a sample (a watch app
    stamping in an event handler); a device with exact times (0) is allowed half a period either way.
    `grid_s`: a device whose samples lie on one exact grid (the mujo profile: t0 + k / rate) puts the next
    packet's first sample a whole number of periods after the previous one's last, within `grid_s`; a time off
    that grid was corrupted (a flipped bit moves it by a power of two microseconds, never by whole periods).
    `fixed_count`: every packet of the stream holds the same number of samples (a Bangle.js app's lines), so
    the lost ones did too and the time must have moved by exactly that many periods (within the jitter)."""
    d = (nxt.seq - prev.seq) % modulus
    if d == 0:
        raise Discontinuity(f"sequence number {nxt.seq} repeats the previous packet's", "seq")
    lost = d - 1
    period = 1.0 / min(prev.rate_hz, nxt.rate_hz)  # a rate change applies at a packet boundary
    step = nxt.first_s - prev.last_s  # one period when nothing was lost
    if step < 0 or (step == 0 and jitter_s == 0):
        raise Discontinuity(
            f"device time {nxt.first_s:.4f} s is before the previous packet's last sample ({prev.last_s:.4f} s)",
            "time",
        )
    if grid_s is not None and prev.rate_hz == nxt.rate_hz and abs(step - period * round(step / period)) > grid_s:
        raise Discontinuity(
            f"device time {nxt.first_s:.6f} s is off the sample grid of the previous packet "
            f"({step / period:.3f} periods after its last sample)",
            "time",
        )
    if lost == 0:
        if not 0.5 * period - min(jitter_s, 0.5 * period) <= step <= GAP_TOLERANCE * period + jitter_s:
            raise Discontinuity(
                f"no packet lost (sequence {prev.seq} -> {nxt.seq}) but the device time moved {step:.4f} s after "
                f"the previous packet's last sample, not one period ({period:.4f} s)",
                "time",
            )
        return 0
    fewest = round((step - jitter_s) / period) - 1  # samples the device time says are missing, at least
    most = round((step + jitter_s) / period) - 1
    if fixed_count and prev.count == nxt.count:  # every lost packet held `count` samples too
        fewest = most = lost * nxt.count
        ok = abs(step - (lost * nxt.count + 1) * period) <= 0.5 * period + jitter_s
    else:
        ok = fewest <= lost * MAX_PER_PACKET and most >= lost
    if not ok:
        raise Discontinuity(
            f"sequence {prev.seq} -> {nxt.seq} says {lost} packets were lost, but the device time moved "
            f"{step:.4f} s ({max(fewest, 0)} samples)",
            "seq",
        )
    return lost


ContinuityState = tuple[Mark | None, Mark | None, int]  # anchor, candidate, chain


class Continuity:
    """The anchor (last accepted packet) and the candidates (the last rejected packets, while each follows the one
    before) of a stream, and the verdict on each new packet. Decoders call `judge` before committing anything,
    `accept` once the packet is decoded, and keep `state()` to put back with `set_state()`.

    `confirm`: how many consecutive packets must agree with each other (and not with the anchor) before the
    stream re-anchors on them. Two corrupt packets in a row can agree by chance (one random byte each); three
    practically cannot, and a real restart costs two packets.
    """

    def __init__(
        self,
        *,
        modulus: int = 0x10000,
        jitter_s: float = 0.0,
        grid_s: float | None = None,
        fixed_count: bool = False,
        confirm: int = 3,
    ) -> None:
        self.modulus = modulus
        self.jitter_s = jitter_s
        self.grid_s = grid_s
        self.fixed_count = fixed_count
        self.confirm = confirm
        self.reset()

    def reset(self) -> None:
        self.anchor: Mark | None = None
        self.candidate: Mark | None = None
        self.chain = 0  # rejected packets in a row that follow each other, ending at `candidate`

    def state(self) -> ContinuityState:
        return self.anchor, self.candidate, self.chain

    def set_state(self, state: ContinuityState) -> None:
        self.anchor, self.candidate, self.chain = state

    def judge(self, mark: Mark) -> tuple[int, bool]:
        """(packets lost before `mark`, whether it re-anchors the stream), or raise Discontinuity after keeping
        `mark` as the candidate anchor.

        On re-anchoring, the packets lost are counted by sequence number from the old anchor (the candidates are
        among them): right when the old anchor was a corrupt packet that got through, meaningless after a device
        restart. The client tells the two apart by the host time that passed."""
        if self.anchor is None:
            return 0, False
        try:
            return self._lost(self.anchor, mark), False
        except Discontinuity:
            if self.candidate is not None and self._follows(self.candidate, mark):
                if self.chain + 1 >= self.confirm:
                    return self._reanchor(self.anchor, mark)
                self.chain += 1
            else:
                self.chain = 1
            self.candidate = mark
            raise

    def accept(self, mark: Mark) -> None:
        self.anchor, self.candidate, self.chain = mark, None, 0

    def _reanchor(self, anchor: Mark, mark: Mark) -> tuple[int, bool]:
        """The verdict on `mark`, which confirms candidates that disagreed with `anchor`.

        When the device time still runs on from the anchor (forward, on its grid), only the anchor's sequence
        number was corrupt: the stream goes on, its loss counted from the time. Otherwise the device restarted
        or its clock moved: a new stream, the packets lost counted by sequence number."""
        step = mark.first_s - anchor.last_s
        period = 1.0 / min(anchor.rate_hz, mark.rate_hz)
        missing = round(step / period) - 1
        on_grid = self.grid_s is None or abs(step - period * (missing + 1)) <= self.grid_s
        if step > 0 and on_grid and missing >= self.chain:
            return max(self.chain, round(missing / mark.count) if self.fixed_count else self.chain), False
        return (mark.seq - anchor.seq - 1) % self.modulus, True

    def _lost(self, prev: Mark, mark: Mark) -> int:
        return lost_packets(
            prev, mark, modulus=self.modulus, jitter_s=self.jitter_s, grid_s=self.grid_s, fixed_count=self.fixed_count
        )

    def _follows(self, prev: Mark, mark: Mark) -> bool:
        try:
            return self._lost(prev, mark) == 0
        except Discontinuity:
            return False
