"""Device time -> host time, gaps and stream statistics: what the BLE client does to every decoded batch.

Pure numpy, no BLE here, so all of it is testable with synthetic clocks.

- `DriftClock` maps a device clock to host time. BLE only ever ADDS delay (connection events, retransmissions),
  so every notification's arrival lies on or above the line `host = a + b * device_time` of "no extra delay".
  The line is the lower envelope of the (device time, arrival) points: the edge of their lower convex hull that
  minimises the summed delay (the linear-programming skew estimator of Moon, Skelly & Towsley, 1999). It follows
  drift (b - 1, e.g. +-200 ppm for a watch crystal) over a sliding window and is not pulled up by jitter, which a
  least-squares fit of arrival times would be. The smallest transport delay is unobservable, so mapped times are
  "when the sample would have arrived over the fastest observed link": true time plus a constant.
- `ArrivalStamper` stamps samples of protocols without device times (InfiniTime, MetaWear): the last sample of
  a notification at its arrival, the others spread back at the nominal rate.
- `StreamTimer` puts them together per stream: host times (strictly increasing), gaps (a device-time or sequence
  jump, or time spent disconnected, COUNTED as missing samples, never interpolated), measured rate, loss,
  latency and saturation counts.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from mujo_edge.errors import ConfigError
from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.samples import STANDARD_GRAVITY, AccBatch

log = logging.getLogger(__name__)

# Smallest step between consecutive host times: keeps them strictly increasing when a refit moves the line back.
MIN_STEP_S = 1e-6


class DriftClock:
    """Maps device timestamps (s) to host time (s) with drift correction from notification arrivals.

    Feed it one point per notification, `observe(t_device_of_last_sample, arrival_host_time)`, then map any
    device times with `to_host`. Points are kept as per-`bin_s` minima of the delay over the last `window_s`
    seconds of device time; the fit uses the slope `prior_rate` (1.0: same tick rate) until the points span
    `min_span_s`. A device time that goes back (a device restart, a clock reset after reconnecting) or lands
    more than `jump_s` ahead of its arrival on the fitted line re-anchors the fit (`rebase`), keeping the drift.
    A late arrival does not: BLE holding notifications back (retransmissions) is delay, not a clock jump.
    """

    def __init__(
        self,
        *,
        window_s: float = 300.0,
        bin_s: float = 0.25,
        min_span_s: float = 2.0,
        jump_s: float = 1.0,
        prior_rate: float = 1.0,
        envelope_quantile: float = 0.2,
    ) -> None:
        if not (window_s > 0 and bin_s > 0 and min_span_s >= 0 and jump_s > 0 and prior_rate > 0):
            raise ConfigError("window_s, bin_s, jump_s and prior_rate must be > 0, min_span_s >= 0", field="clock")
        self.window_s = window_s
        self.bin_s = bin_s
        self.min_span_s = min_span_s
        self.jump_s = jump_s
        self.prior_rate = prior_rate
        self.envelope_quantile = envelope_quantile
        self.rebases = 0
        self.reset()

    def reset(self) -> None:
        """Forget everything, including the drift."""
        self.rate = self.prior_rate  # b: host seconds per device second
        self._clear()

    def rebase(self) -> None:
        """The device clock jumped: drop the points, keep the drift estimate."""
        self.rebases += 1
        self._clear()

    def _clear(self) -> None:
        self._ref_t: float | None = None  # device time origin of the stored points (precision)
        self._ref_h = 0.0
        self._bins: deque[list[float]] = deque()  # [bin index, t_rel, h_rel] of each bin's smallest delay
        self._offset = 0.0  # a, relative: h_rel = a + b * t_rel
        self._last: tuple[float, float] | None = None
        self.fitted = False

    @property
    def drift_ppm(self) -> float:
        """(b - 1) * 1e6: how much faster host time runs than device time, in parts per million."""
        return (self.rate - 1.0) * 1e6

    def observe(self, t_device: float, arrival: float) -> bool:
        """Add one notification: device time of its last sample and host time it arrived. Returns True when the
        point did not follow the previous one (the fit was re-anchored on it)."""
        rebased = False
        if self._last is not None:
            dt, dh = t_device - self._last[0], arrival - self._last[1]
            if dt < -self.bin_s or self.ahead(t_device, arrival) > self.jump_s:
                log.info("device clock jumped (device %+.3f s while host %+.3f s): re-anchoring", dt, dh)
                self.rebase()
                rebased = True
        self._last = (t_device, arrival)
        if self._ref_t is None:
            self._ref_t, self._ref_h = t_device, arrival
        t, h = t_device - self._ref_t, arrival - self._ref_h
        key = math.floor(t / self.bin_s)
        below = not self._bins or h < self._offset + self.rate * t
        if self._bins and self._bins[-1][0] == key:
            last = self._bins[-1]
            if h - t < last[2] - last[1]:
                last[1], last[2] = t, h
            else:
                return rebased
            new_bin = False
        else:
            self._bins.append([key, t, h])
            new_bin = True
        while self._bins and self._bins[0][1] < t - self.window_s:
            self._bins.popleft()
        if new_bin or below:
            self._fit()
        return rebased

    def _fit(self) -> None:
        pts = [(b[1], b[2]) for b in self._bins]
        span = pts[-1][0] - pts[0][0]
        if len(pts) < 2 or span < self.min_span_s:
            self.fitted = False
            self._offset = min(h - self.rate * t for t, h in pts)
            return
        hull = _lower_hull(pts)
        t_mean = sum(t for t, _ in pts) / len(pts)
        # the LP optimum: the hull edge above the mean device time (a vertex at either end of the hull
        # cannot be the optimum unless the hull is a single point)
        rate = self.rate
        for (t1, h1), (t2, h2) in itertools.pairwise(hull):
            if t2 >= t_mean:
                rate = (h2 - h1) / (t2 - t1)
                break
        # Refine the slope with every point close to the envelope, not only the two hull vertices: with few
        # notifications (39 samples a packet) two vertices alone leave tens of ppm of slope noise.
        t = np.array([p[0] for p in pts])
        h = np.array([p[1] for p in pts])
        resid = h - rate * t
        near = resid <= np.quantile(resid, self.envelope_quantile)
        if near.sum() >= 3 and np.ptp(t[near]) >= self.min_span_s:
            rate = float(np.polyfit(t[near], h[near], 1)[0])
        self.rate = rate
        self._offset = float(np.min(h - rate * t))
        self.fitted = True

    def to_host(self, t_device: np.ndarray | float) -> np.ndarray:
        """Device times (s) -> host times (s), float64 of the same shape. Needs at least one `observe`."""
        if self._ref_t is None:
            raise ConfigError("the clock has no observation yet", field="clock")
        t = np.asarray(t_device, dtype=np.float64) - self._ref_t
        return self._ref_h + (self._offset + self.rate * t)

    def ahead(self, t_device: float, arrival: float) -> float:
        """How far (s) a device time maps after its own arrival (> 0: impossible unless the link got faster than
        ever seen, the device clock jumped, or the time is corrupt); 0 before the first observation."""
        if self._ref_t is None:
            return 0.0
        return float(self.to_host(t_device)) - arrival

    def delay(self, t_device: float, arrival: float) -> float:
        """Delay of an arrival above the fitted line (s): the part of the latency jitter adds."""
        return float(arrival - self.to_host(t_device))


def _lower_hull(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Lower convex hull of points sorted by x (Andrew's monotone chain)."""
    hull: list[tuple[float, float]] = []
    for p in points:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) <= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


class ArrivalStamper:
    """Host times for samples without device times: the last one at arrival, the others `1/rate_hz` apart before it.

    When that would overlap the previous notification's samples (jitter bunched two notifications), the
    samples are spread evenly over (previous last time, arrival] instead, so times always increase.
    """

    def __init__(self, rate_hz: float) -> None:
        if not rate_hz > 0:
            raise ConfigError(f"rate must be > 0, got {rate_hz}", field="rate_hz")
        self.rate_hz = rate_hz
        self.last: float | None = None

    def reset(self) -> None:
        self.last = None

    def stamp(self, n: int, arrival: float) -> np.ndarray:
        k = np.arange(n, dtype=np.float64)
        t = arrival - (n - 1 - k) / self.rate_hz
        if self.last is not None and n and t[0] <= self.last:
            if arrival > self.last + n * MIN_STEP_S:
                t = self.last + (arrival - self.last) * (k + 1) / n
            else:
                t = self.last + MIN_STEP_S * (k + 1)
        if n:
            self.last = float(t[-1])
        return t


class RateMeter:
    """Samples per second over the last `window_s` seconds of sample times (restarted at every gap)."""

    def __init__(self, window_s: float = 10.0) -> None:
        self.window_s = window_s
        self._batches: deque[tuple[float, float, int]] = deque()  # (first t, last t, samples)

    def reset(self) -> None:
        self._batches.clear()

    def add(self, t: np.ndarray) -> None:
        if len(t) == 0:
            return
        self._batches.append((float(t[0]), float(t[-1]), len(t)))
        while len(self._batches) > 2 and self._batches[0][1] < t[-1] - self.window_s:
            self._batches.popleft()

    @property
    def rate_hz(self) -> float | None:
        if not self._batches:
            return None
        first, last = self._batches[0][0], self._batches[-1][1]
        n = sum(b[2] for b in self._batches)
        return (n - 1) / (last - first) if n > 1 and last > first else None


@dataclass(frozen=True, eq=False)
class TimedBatch:
    """A decoded batch placed on the host clock.

    t: float64 [N] host seconds, strictly increasing across batches of a stream. t_device: [N] device seconds or
    None. xyz: [N, 3] m/s^2. gap_before_s: time with no samples before t[0] beyond one sample period (0 = none).
    missing_samples: samples estimated lost in that gap (from device times, sequence numbers or, across a
    reconnect without a device clock, elapsed host time at the nominal rate).
    """

    t: np.ndarray
    t_device: np.ndarray | None
    xyz: np.ndarray
    gap_before_s: float = 0.0
    missing_samples: int = 0


@dataclass(frozen=True)
class TimingStats:
    """A snapshot of one stream's timing and loss.

    measured_rate_hz: samples per host second over the last 10 s (None before two samples). drift_ppm: device
    clock drift relative to host time (None without device times). latency_s: median delay of recent arrivals
    above the fastest observed one (jitter; None without device times). loss_fraction: missing / (received +
    missing). saturated_samples: samples with an axis at >= 98 % of the range.
    """

    samples: int = 0
    batches: int = 0
    gaps: int = 0
    missing_samples: int = 0
    measured_rate_hz: float | None = None
    nominal_rate_hz: float | None = None
    drift_ppm: float | None = None
    latency_s: float | None = None
    saturated_samples: int = 0
    clock_rebases: int = 0

    @property
    def loss_fraction(self) -> float:
        total = self.samples + self.missing_samples
        return self.missing_samples / total if total else 0.0


class StreamTimer:
    """Per-stream timing: `add(batch, arrival)` -> TimedBatch; `disconnected()` marks a reconnect gap.

    Whatever a decoder lets through, what comes out is usable: host times increase strictly (within a batch too)
    and samples are finite; a batch that cannot be timed raises ProtocolError and leaves the timer as it was.
    Loss is counted where the device says it: a sequence jump (its samples from the device times, or exactly
    when the decoder knows them), a device-time jump, or time spent disconnected. Jitter is not loss: with
    sequence numbers and no jump, the batch follows the previous one whatever its times say.

    Args:
        nominal_rate_hz: the rate the stream was started at (used where the device tells nothing better).
        device_timestamps: map device times with a `DriftClock`; else stamp on arrival.
        retime_stretched: the decoder spreads a frame's samples over the time since the previous frame (Polar);
            a frame spread over more than `gap_tolerance` sample periods each followed lost frames, so its samples
            are re-timed at the device rate ending at its (exact) last timestamp and the rest counted as a gap.
        range_g: full-scale range, for the saturation count (None: not counted).
        gap_tolerance: a step between samples above this many nominal periods is a gap.
        protocol: the protocol's name, for the errors.
    """

    def __init__(
        self,
        nominal_rate_hz: float,
        *,
        device_timestamps: bool,
        retime_stretched: bool = False,
        range_g: float | None = None,
        gap_tolerance: float = 1.5,
        clock: DriftClock | None = None,
        protocol: str = "",
    ) -> None:
        if not nominal_rate_hz > 0:
            raise ConfigError(f"rate must be > 0, got {nominal_rate_hz}", field="rate_hz")
        self.nominal_rate_hz = nominal_rate_hz
        self.device_timestamps = device_timestamps
        self.retime_stretched = retime_stretched
        self.gap_tolerance = gap_tolerance
        self.protocol = protocol
        self.saturation = None if range_g is None else 0.98 * range_g * STANDARD_GRAVITY
        self.clock = clock or DriftClock()
        self.stamper = ArrivalStamper(nominal_rate_hz)
        self.rate = RateMeter()
        self._delays: deque[float] = deque(maxlen=200)
        self._last_t: float | None = None
        self._last_t_device: float | None = None
        self._last_len = 0
        self._after_disconnect = False
        self._refused_offset: float | None = None  # arrival - device time of the last batch refused as "ahead"
        self._spread_steps: deque[float] = deque(maxlen=32)  # per-sample steps of recent gapless spread frames
        self.samples = self.batches = self.gaps = self.missing = self.saturated = 0

    def disconnected(self) -> None:
        """The link dropped: the next batch follows a reconnect (its gap is counted from the clocks)."""
        self._after_disconnect = True

    def add(self, batch: AccBatch, arrival: float) -> TimedBatch:
        """Time one decoded batch that arrived at host time `arrival` (s); ProtocolError if it cannot be."""
        n = len(batch)
        if n == 0:
            return TimedBatch(np.zeros(0), None if batch.t_device is None else np.zeros(0), np.zeros((0, 3)))
        self._check_finite(batch)
        rate = batch.device_rate_hz or self.nominal_rate_hz
        t_dev: np.ndarray | None
        if self.device_timestamps and batch.t_device is not None:
            t, t_dev, gap_s, missing = self._device_timed(batch, arrival, rate)
        else:
            t, t_dev, gap_s, missing = self._arrival_timed(batch, arrival, rate)
        self._after_disconnect = False
        if missing == 0 and batch.lost_before > 0 and t_dev is None:
            missing = batch.lost_before * max(self._last_len, n)
            gap_s = missing / rate
        t = self._strictly_after(t, self._last_t)
        if missing or gap_s > 0:
            self.gaps += 1
            self.missing += missing
            self.rate.reset()
        self._last_t = float(t[-1])
        self._last_t_device = None if t_dev is None else float(t_dev[-1])
        self._last_len = n
        self.samples += n
        self.batches += 1
        self.rate.add(t)
        if self.saturation is not None:
            self.saturated += int(np.sum(np.abs(batch.xyz).max(axis=1) >= self.saturation))
        return TimedBatch(t, t_dev, batch.xyz, gap_before_s=max(gap_s, 0.0), missing_samples=missing)

    def _device_timed(self, batch: AccBatch, arrival: float, rate: float) -> tuple[np.ndarray, np.ndarray, float, int]:
        """Host times of a device-timestamped batch, the gap before it and its missing samples."""
        n = len(batch)
        t_dev = np.asarray(batch.t_device, dtype=np.float64)
        spread = self._spread_excess(t_dev, rate)
        if spread is not None and spread[0] >= 1:  # the frame followed lost samples: time it at the device's rate
            t_dev = t_dev[-1] - np.arange(n - 1, -1, -1, dtype=np.float64) * spread[1]
        jumped = batch.new_stream or self._jumped_ahead(batch, float(t_dev[-1]), arrival)
        if jumped:
            self.clock.rebase()
        rebased = self.clock.observe(float(t_dev[-1]), arrival) or jumped
        t = self.clock.to_host(t_dev)
        gap_s, missing = 0.0, 0
        if rebased:
            if self._last_t is not None:  # the device clock restarted or jumped: host time tells the gap ...
                gap_s, missing = self._host_gap(float(t[0]), rate)
                if batch.lost_samples is not None and abs(batch.lost_samples - missing) <= max(rate, 0.1 * missing):
                    missing = batch.lost_samples  # ... roughly; the decoder's count by sequence number, exactly
                    gap_s = missing / rate
        elif spread is not None and self._last_t_device is not None:
            missing = self._count_spread(spread[0], float(t_dev[-1] - self._last_t_device) / n)
            gap_s = missing / rate
        elif batch.lost_samples is not None and not self._after_disconnect:
            missing = batch.lost_samples  # the decoder knows exactly
            gap_s = missing / rate
        elif batch.seq is not None and batch.lost_before == 0 and not self._after_disconnect:
            pass  # numbered packets with no jump: nothing was lost, whatever the (jittery) times say
        elif self._last_t_device is not None:
            step = float(t_dev[0] - self._last_t_device)
            if step > self.gap_tolerance / rate:
                missing = max(0, round(step * rate) - 1)
                gap_s = step - 1.0 / rate
        self._delays.append(self.clock.delay(float(t_dev[-1]), arrival))
        return t, t_dev, gap_s, missing

    def _spread_excess(self, t_dev: np.ndarray, rate: float) -> tuple[int, float] | None:
        """For a frame the decoder spread over the time since the previous frame (`retime_stretched`, Polar):
        (samples that time holds beyond the frame's own, the device's sample period in s), else None.

        A frame stamps only its last sample and carries no count or sequence number, so the span since the
        previous frame is the one witness of loss: a lost frame, or the tail of a frame cut short, leaves a span
        holding more samples than arrived. Counted at the device's real period (the median per-sample step of
        recent gapless frames: a Polar sensor is not exactly at its nominal rate), not at the nominal one."""
        if not self.retime_stretched or self._last_t_device is None or self._after_disconnect:
            return None
        steps = sorted(self._spread_steps)
        period = steps[len(steps) // 2] if len(steps) >= 4 else 1.0 / rate
        return round(float(t_dev[-1] - self._last_t_device) / period) - len(t_dev), period

    def _count_spread(self, excess: int, step: float) -> int:
        """Missing samples before a spread frame with `excess` (see `_spread_excess`), per-sample `step` (s).

        A frame with fewer samples than its span holds follows lost ones; more (a span too short) is no loss: a
        timestamp off by jitter, or a frame that is not what it claims, which a protocol without a sequence
        number or checksum cannot tell apart (only a span from gapless frames teaches the device's period)."""
        if excess == 0:
            self._spread_steps.append(step)
        return max(excess, 0)

    def _jumped_ahead(self, batch: AccBatch, t_last: float, arrival: float) -> bool:
        """Whether the device clock jumped ahead (re-anchor on this batch), raising ProtocolError when the batch's
        device time lies further after its own arrival than jitter allows and nothing confirms a real jump.

        A sample cannot arrive before it was taken: a time far ahead is corrupt (a flipped timestamp bit, or a
        sequence and time that jumped together), and counting it as a gap would invent loss. A real jump (a
        device clock set forward) is confirmed by the next batch landing at the same offset, or by a reconnect.
        """
        tolerance = self.clock.jump_s if self.clock.fitted else 10 * self.clock.jump_s  # few points: loose fit
        ahead = self.clock.ahead(t_last, arrival)
        if ahead <= tolerance:
            self._refused_offset = None
            return False
        offset = arrival - t_last
        if self._after_disconnect or (
            self._refused_offset is not None and abs(offset - self._refused_offset) < 0.25 * self.clock.jump_s
        ):
            self._refused_offset = None
            return True
        self._refused_offset = offset
        raise ProtocolError(
            f"device time {t_last:.6f} s is {ahead:.3f} s ahead of its arrival: a corrupt time, not a gap",
            protocol=self.protocol,
            field="t_device",
            packet=batch.raw or b"",
        )

    def _arrival_timed(self, batch: AccBatch, arrival: float, rate: float) -> tuple[np.ndarray, None, float, int]:
        """Host times of a batch without device times (stamped on arrival) and the reconnect gap before it."""
        if self._after_disconnect:
            self.stamper.reset()
        t = self.stamper.stamp(len(batch), arrival)
        gap_s, missing = 0.0, 0
        if self._after_disconnect and self._last_t is not None:
            gap_s, missing = self._host_gap(float(t[0]), rate)
        return t, None, gap_s, missing

    def _check_finite(self, batch: AccBatch) -> None:
        bad = None
        if batch.t_device is not None and not np.isfinite(batch.t_device).all():
            bad = "device time"
        elif not np.isfinite(batch.xyz).all():
            bad = "sample value"
        if bad is not None:
            raise ProtocolError(f"non-finite {bad}", protocol=self.protocol, field="samples", packet=batch.raw or b"")

    @staticmethod
    def _strictly_after(t: np.ndarray, last: float | None) -> np.ndarray:
        """`t` moved up just enough that every time exceeds the one before it (and `last`) by >= MIN_STEP_S:
        a refit moving the line back, or a device giving several samples one time, never repeats a time."""
        start = -np.inf if last is None else last
        if t[0] >= start + MIN_STEP_S and np.all(np.diff(t) >= MIN_STEP_S):
            return t  # the usual case, untouched to the last bit (a recording replays these very floats)
        steps = MIN_STEP_S * np.arange(1, len(t) + 1)
        return np.maximum.accumulate(np.concatenate([[start], t - steps]))[1:] + steps

    def _host_gap(self, t_first: float, rate: float) -> tuple[float, int]:
        gap = t_first - (self._last_t or t_first) - 1.0 / rate
        return max(gap, 0.0), max(0, round(gap * rate))

    def stats(self) -> TimingStats:
        has_clock = self.device_timestamps and self.clock._ref_t is not None
        delays = sorted(self._delays)
        return TimingStats(
            samples=self.samples,
            batches=self.batches,
            gaps=self.gaps,
            missing_samples=self.missing,
            measured_rate_hz=self.rate.rate_hz,
            nominal_rate_hz=self.nominal_rate_hz,
            drift_ppm=self.clock.drift_ppm if has_clock and self.clock.fitted else None,
            latency_s=delays[len(delays) // 2] if delays else None,
            saturated_samples=self.saturated,
            clock_rebases=self.clock.rebases,
        )
