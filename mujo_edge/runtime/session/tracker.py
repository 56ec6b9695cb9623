"""The session tracker: a stream of `Prediction`s and raw samples split into sets (exercise, start, end,
repetitions, mean confidence) and rests, live, ending in a session log (table rows, strict JSON, CSV).

Each predicted window gets a status from three measurements, so that stillness and movement the model never
learned (walking about between sets) are not named as an exercise:

- movement energy: the window's acceleration spread, sqrt(sum of per-axis variances) in m/s^2 (gravity's share
  changes only when the arm turns, which exercises do); below `energy_threshold` the wearer is at rest;
- periodicity: the highest normalised autocorrelation, summed over the axes, of the last `context_s` seconds at
  lags of one plausible repetition (`min_period_s`..`max_period_s`): sets are repeated movements;
- the model's confidence in its label.

A window that moves, repeats and is recognised with confidence is "exercise"; one that moves but fails either of
the other two is "unknown"; one that does not move is "rest". Over windows a hysteresis filter decides: a set
opens after `enter_windows` exercise windows in a row (starting at the first of them) and closes after
`exit_windows` others (ending at the end of its last exercise window), so one odd window neither opens nor
ends a set. The thresholds are calibrated by benchmarks/session_tracking.py on validation subjects only (SPAR's
validation subject of the embedded bundle and half of sp-sw-har's subjects), never on the test subjects.

Repetitions are counted by `runtime.repetitions` on the set's own samples, live while the set is open and once
more over the whole set when it closes (the number the log keeps). A gap in the stream (a watch disconnecting)
closes the open set as interrupted, and the log keeps what was seen before it.

Samples are put on the model's grid by `StreamWindower` (the one home of streamed resampling), so the tracker
sees the very values the recognizer windows. Torch-free.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError, SampleError
from mujo_edge.runtime.prediction import Prediction
from mujo_edge.runtime.repetitions import autocorrelation, count_repetitions, warm_up
from mujo_edge.runtime.session.config import SessionConfig
from mujo_edge.runtime.session.log import EXERCISE, REST, UNKNOWN, RestEntry, SessionLog, SetEntry
from mujo_edge.runtime.stream import StreamWindower

# resampled samples reach the tracker in blocks of this many grid points (0.1 s at 50 Hz)
_BLOCK = 5


def acc_triad(channels: Sequence[str], units: Sequence[str]) -> tuple[int, int, int]:
    """Indices of the accelerometer x, y, z among `channels` (names ending acc_x/_y/_z, in m/s^2).
    ConfigError naming what the stream has when there is none: the tracker needs one."""
    names = list(channels)
    for i, name in enumerate(names):
        if name.endswith("acc_x"):
            stem = name[: -len("x")]
            if stem + "y" in names and stem + "z" in names:
                found = (i, names.index(stem + "y"), names.index(stem + "z"))
                if all(units[j] == "m/s^2" for j in found):
                    return found
    raise ConfigError(
        f"sets and repetitions need an accelerometer (x, y, z in m/s^2); the stream has {names} in {list(units)}",
        field="channels",
    )


def periodicity(xyz: np.ndarray, rate_hz: float, min_period_s: float, max_period_s: float) -> float:
    """Highest autocorrelation (normalised to lag 0, summed over axes) of `xyz` [N, 3] at lags between
    min_period_s and max_period_s (at most half the signal): ~1 for a repeated movement, ~0 for noise."""
    n = len(xyz)
    lo, hi = int(np.ceil(min_period_s * rate_hz)), min(int(max_period_s * rate_hz), n // 2)
    if hi < lo:
        return 0.0
    acf = autocorrelation(xyz)
    if not acf[0] > 0:
        return 0.0
    return float(np.clip(acf[lo : hi + 1].max() / acf[0], 0.0, 1.0))


@dataclass(frozen=True)
class WindowStatus:
    """What the tracker made of one predicted window (energy m/s^2; status rest | unknown | exercise)."""

    start_s: float
    end_s: float
    label: str
    confidence: float
    energy: float
    periodicity: float
    status: str


@dataclass(frozen=True)
class SessionState:
    """What the live view shows after a window: status is "exercise" while a set is open (exercise and
    repetitions of that set), else the window's own "rest" or "unknown"; rest_s: time since the last set ended
    (or since the stream began)."""

    time_s: float
    status: str
    exercise: str | None
    repetitions: int
    set_number: int | None
    set_elapsed_s: float | None
    rest_s: float | None
    window: WindowStatus


class SessionTracker:
    """Feed it samples (`push_samples`) and predictions (`push_prediction`, in time order) of one stream; read
    the returned `SessionState` for the live view and `finish()` for the session log.

    channels/units: the columns of the samples you push; window: the bundle's WindowConfig (its rate is the
    grid, its step tells contiguous windows from a gap)."""

    def __init__(
        self,
        channels: Sequence[str],
        units: Sequence[str],
        window: WindowConfig,
        config: SessionConfig | None = None,
    ) -> None:
        self.config = config or SessionConfig()
        self.window = window
        self._acc = list(acc_triad(channels, units))
        self._channels = len(tuple(channels))
        self.config = replace(self.config, repetitions=replace(self.config.repetitions, rate_hz=window.rate_hz))
        warm_up(self.config.repetitions)
        block = WindowConfig(
            rate_hz=window.rate_hz, length=_BLOCK, step=_BLOCK, max_gap_s=window.max_gap_s, min_purity=1.0
        )
        self._grid = StreamWindower(block, ("x", "y", "z"))
        # grid times [n] s and values [n, 3], in time order; blocks pushed since the last read wait in pending
        self._t, self._x = np.zeros(0), np.zeros((0, 3))
        self._pending_t: list[np.ndarray] = []
        self._pending_x: list[np.ndarray] = []
        self._step_s = window.step / window.rate_hz
        self._last: Prediction | None = None
        self._first_s: float | None = None
        # recent windows (a set opening reaches back over those that moved) and every window's start and
        # whether it was "unknown" (the log counts them per rest)
        self._recent: deque[WindowStatus] = deque(maxlen=max(1, int(self.config.context_s / self._step_s) + 1))
        self._starts: list[float] = []
        self._unknown: list[bool] = []
        self._run: list[WindowStatus] = []  # exercise windows not yet in a set
        self._set: list[WindowStatus] = []  # the open set's exercise windows
        self._set_start = 0.0
        self._set_label = ""
        # the windows and samples of the set closed last, kept until the next opens (it may continue it)
        self._closed: tuple[list[WindowStatus], np.ndarray] | None = None
        self._misses = 0
        self._set_fed_until = 0.0
        self._set_samples: list[np.ndarray] = []
        self._live_reps = 0
        self._live_period: float | None = None
        self._sets: list[SetEntry] = []
        self._gaps: list[tuple[float, float]] = []
        self._rest_from: float | None = None
        self._notes: list[str] = []

    # --- samples -----------------------------------------------------------------------------------------
    def push_samples(self, t: np.ndarray | Sequence[float], x: np.ndarray) -> None:
        """Raw samples: t [N] seconds (strictly increasing, the clock the recognizer is fed with), x [N, C] in
        the channel order given at construction (SI units)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self._channels:
            raise SampleError(f"samples have shape {x.shape}, expected (N, {self._channels})", field="x")
        blocks = self._grid.push(t, x[:, self._acc])
        if blocks:
            offsets = np.arange(_BLOCK) / self.window.rate_hz
            self._pending_t.append(np.concatenate([b.start_s + offsets for b in blocks]))
            self._pending_x.append(np.concatenate([b.x.T for b in blocks]).astype(np.float64))

    def _buffer(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pending_t:
            self._t = np.concatenate([self._t, *self._pending_t])
            self._x = np.concatenate([self._x, *self._pending_x])
            self._pending_t, self._pending_x = [], []
        return self._t, self._x

    def _between(self, start_s: float, end_s: float) -> np.ndarray:
        """Grid samples [n, 3] with start_s <= t < end_s (half a grid step of tolerance)."""
        t, x = self._buffer()
        eps = 0.5 / self.window.rate_hz
        lo, hi = np.searchsorted(t, [start_s - eps, end_s - eps])
        return x[lo:hi]

    def _trim(self, before_s: float) -> None:
        t, x = self._buffer()
        cut = int(np.searchsorted(t, before_s))
        if cut > 4096:  # trim in chunks, not every window
            self._t, self._x = t[cut:], x[cut:]

    # --- windows -----------------------------------------------------------------------------------------
    def _status(self, p: Prediction) -> WindowStatus:
        c = self.config
        own = self._between(p.start_s, p.end_s)
        energy = float(np.sqrt(own.var(axis=0).sum())) if len(own) > 1 else 0.0
        context = self._between(p.end_s - c.context_s, p.end_s)
        period = periodicity(context, self.window.rate_hz, c.min_period_s, c.max_period_s) if len(context) else 0.0
        moving = energy >= c.energy_threshold
        if moving and period >= c.periodicity_threshold and p.confidence >= c.confidence_threshold:
            status = EXERCISE
        else:
            status = UNKNOWN if moving else REST
        return WindowStatus(p.start_s, p.end_s, p.smoothed_label, p.confidence, energy, period, status)

    def push_prediction(self, p: Prediction) -> SessionState:
        """Add the prediction of the next window (windows in time order); returns the state to show."""
        if self._last is not None and p.start_s <= self._last.start_s:
            raise SampleError(
                f"window at {p.start_s:.3f} s does not follow the previous one at {self._last.start_s:.3f} s",
                field="start_s",
            )
        if self._first_s is None:
            self._first_s = self._rest_from = p.start_s
        elif self._last is not None and p.start_s - self._last.start_s > 1.5 * self._step_s:
            self._gap(self._last.end_s, p.start_s)
        status = self._status(p)
        self._last = p
        self._starts.append(p.start_s)
        self._unknown.append(status.status == UNKNOWN)
        if self._set:
            self._in_set(p, status)
        elif status.status == EXERCISE:
            self._run.append(status)
            if len(self._run) >= self.config.enter_windows:
                self._open()
        else:
            self._run.clear()
        self._recent.append(status)
        keep = min(self._set_start if self._set else p.end_s, p.end_s - self.config.context_s) - self.window.window_s
        self._trim(keep)
        return self._state(p, status)

    def _open(self) -> None:
        # the periodicity of a set's first windows is measured over a context still holding the rest before
        # it, so a set is recognised a few windows late; it began at the first of the contiguous windows
        # before that moved and were confidently given the same exercise (within one context)
        first = self._run[0].start_s
        start = first
        label = Counter(w.label for w in self._run).most_common(1)[0][0]
        for w in reversed(self._recent):
            if w.start_s >= first:
                continue  # the run's own windows
            contiguous = abs(start - w.start_s - self._step_s) < 0.5 * self._step_s
            same = w.status != REST and w.label == label and w.confidence >= self.config.confidence_threshold
            if not contiguous or not same or first - w.start_s > self.config.context_s:
                break
            start = w.start_s
        run, self._run = list(self._run), []
        previous = self._sets[-1] if self._sets else None
        if (
            previous is not None
            and self._closed is not None
            and previous.exercise == label
            and not previous.interrupted
            and start - previous.end_s <= self.config.merge_s
        ):
            # the same exercise again after a few odd windows: one set that wobbled, not two sets
            self._sets.pop()
            windows, samples = self._closed
            self._set = [*windows, *run]
            self._set_start = previous.start_s
            self._set_samples = [samples, self._between(previous.end_s, run[-1].end_s)]
            self._live_reps, self._live_period = previous.repetitions, previous.period_s
        else:
            self._set, self._set_start = run, start
            self._set_samples = [self._between(start, run[-1].end_s)]
            self._live_reps, self._live_period = 0, None
        self._closed = None
        self._set_label = label
        self._misses = 0
        self._set_fed_until = run[-1].end_s
        self._update_live_count()

    def _in_set(self, p: Prediction, status: WindowStatus) -> None:
        self._set_samples.append(self._between(self._set_fed_until, p.end_s))
        self._set_fed_until = p.end_s
        # another exercise in the middle of a set ends it like rest does: the wearer changed exercise, or
        # walks away with a movement the model takes for an exercise
        if status.status == EXERCISE and status.label == self._set_label:
            self._set.append(status)
            self._misses = 0
        else:
            self._misses += 1
        if self._misses >= self.config.exit_windows:
            self._close(interrupted=False)
        else:
            self._update_live_count()

    def _update_live_count(self) -> None:
        samples = np.concatenate(self._set_samples) if self._set_samples else np.zeros((0, 3))
        self._set_samples = [samples]
        estimate = count_repetitions(samples, self.config.repetitions, confirmed=True, prefer_s=self._live_period)
        if estimate.period_s is not None:
            self._live_period = estimate.period_s
        self._live_reps = max(self._live_reps, estimate.count)

    def _close(self, interrupted: bool) -> None:
        windows, start = self._set, self._set_start
        end = windows[-1].end_s
        samples = np.concatenate(self._set_samples) if self._set_samples else np.zeros((0, 3))
        samples = samples[: max(0, round((end - start) * self.window.rate_hz))]
        estimate = count_repetitions(samples, self.config.repetitions)
        self._set, self._set_samples, self._misses = [], [], 0
        self._closed = (windows, samples)
        if estimate.count < self.config.min_repetitions and not interrupted:
            # moved, repeated, recognised, but too briefly to be a set: the rest goes on
            return
        self._sets.append(
            SetEntry(
                number=len(self._sets) + 1,
                exercise=Counter(w.label for w in windows).most_common(1)[0][0],
                start_s=start,
                end_s=end,
                repetitions=estimate.count,
                mean_confidence=float(np.mean([w.confidence for w in windows])),
                windows=len(windows),
                period_s=estimate.period_s,
                interrupted=interrupted,
            )
        )
        self._rest_from = end

    def _gap(self, start_s: float, end_s: float) -> None:
        if self._set:
            self._close(interrupted=True)
            at = start_s - (self._first_s or 0.0)
            self._notes.append(f"set {len(self._sets)} ended by a gap in the stream {at:.1f} s into the session")
        self._gaps.append((start_s, end_s))
        self._run.clear()
        self._recent.clear()
        self._rest_from = end_s

    def _state(self, p: Prediction, status: WindowStatus) -> SessionState:
        if self._set:
            exercise = Counter(w.label for w in self._set).most_common(1)[0][0]
            number = len(self._sets) + 1
            return SessionState(
                p.end_s, EXERCISE, exercise, self._live_reps, number, p.end_s - self._set_start, None, status
            )
        rest_from = self._rest_from if self._rest_from is not None else p.start_s
        return SessionState(p.end_s, status.status, None, 0, None, None, max(0.0, p.end_s - rest_from), status)

    # --- the end -----------------------------------------------------------------------------------------
    def finish(self) -> SessionLog:
        """Close the open set (the stream ended) and return the session log. The tracker is spent after this."""
        if self._set:
            self._close(interrupted=False)
        end = self._last.end_s if self._last is not None else None
        notes = list(self._notes)
        if self._last is None:
            notes.append("no complete window was predicted: the stream was shorter than one window or had gaps")
        return SessionLog(
            tuple(self._sets),
            tuple(self._rests(end)),
            self._first_s,
            end,
            len(self._starts),
            tuple(notes),
            self.config.calibration,
        )

    def _rests(self, end: float | None) -> list[RestEntry]:
        """Everything between the first window's start and the last window's end that is neither a set nor a
        gap is rest; windows that moved without being an exercise are counted per rest."""
        if self._first_s is None or end is None:
            return []
        busy = sorted([(s.start_s, s.end_s, "set") for s in self._sets] + [(a, b, "gap") for a, b in self._gaps])
        starts, unknown = np.asarray(self._starts), np.asarray(self._unknown, dtype=bool)
        out, cursor = [], self._first_s
        for a, b, kind in [*busy, (end, end, "end")]:
            if a > cursor:
                inside = (starts >= cursor) & (starts < a)
                out.append(RestEntry(cursor, a, REST, int(unknown[inside].sum())))
            if kind == "gap":
                out.append(RestEntry(a, b, "gap", 0))
            cursor = max(cursor, b)
        return out


def track(
    predictions: Sequence[Prediction],
    t: np.ndarray,
    x: np.ndarray,
    channels: Sequence[str],
    units: Sequence[str],
    window: WindowConfig,
    config: SessionConfig | None = None,
) -> tuple[SessionLog, list[SessionState]]:
    """Offline: the session log of a whole stream (t [N] s, x [N, C]) and its predictions, with the state after
    each window (what the live view would have shown)."""
    tracker = SessionTracker(channels, units, window, config)
    tracker.push_samples(t, x)
    states = [tracker.push_prediction(p) for p in predictions]
    return tracker.finish(), states
