"""Repetition counting for one exercise set, offline and live, from the wrist accelerometer alone.

The count is the number of cycles of the set's dominant period between the first and the last repetition:

1. band-pass the acceleration (gravity included, so slow changes of arm orientation count as movement) to the
   band repetitions live in, with a zero-phase Butterworth filter (`scipy.signal.sosfiltfilt`);
2. the period P is the lag of the highest peak of the autocorrelation summed over the three axes
   (FFT), searched between `min_period_s` and `max_period_s`; summing over axes keeps the
   full repetition as the period when one axis swings twice per repetition (raise and lower);
3. peaks of the signal on its principal axis, at least `min_distance` x P apart and `prominence` x its standard
   deviation prominent (`scipy.signal.find_peaks`), mark repetitions; count = (last - first) / P + 1 over the
   maxima and over the minima, the smaller of the two: a set that starts and ends in the rest position has one
   more extreme of that side than repetitions. A missed or doubled peak in the middle of a set changes nothing,
   and stillness before or after the set (low amplitude, no prominent peak) is never counted.

Why this shape: on the 140 real SPAR sets (20 repetitions each, pendulum swings at ~1.3 s to raises at ~2.4 s)
counting the peaks themselves was within +-1 in 86 % of sets, the span over the period in 97 %
(benchmarks/session_tracking.py measures it on held-out subjects).

Live (`RepetitionCounter`): the same estimate over the samples of the set so far, counting only peaks that are
confirmed (a quarter period in the past, and fallen away by the prominence), so the count lags a repetition
by less than one once the period is known (after two periods of data); the shown count never goes down.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from mujo_edge.errors import ConfigError, SampleError


@dataclass(frozen=True)
class RepetitionConfig:
    """How repetitions are counted. Frequencies in Hz, times in seconds; `min_distance` and `prominence` are
    fractions (of the period and of the signal's standard deviation). Defaults: the grid point of
    benchmarks/session_tracking.py chosen on the SPAR subjects the embedded bundle was trained and validated on
    (never its test subjects); the benchmark also reports the choice per held-out fold."""

    rate_hz: float = 50.0
    low_hz: float = 0.1
    high_hz: float = 2.5
    min_period_s: float = 0.6
    max_period_s: float = 6.0
    min_distance: float = 0.6
    prominence: float = 0.2
    # the live count is recomputed after this many new samples (a fraction of the shortest period is enough)
    update_every: int = 10

    def __post_init__(self) -> None:
        if not self.rate_hz > 0:
            raise ConfigError(f"must be > 0, got {self.rate_hz}", field="rate_hz")
        if not 0 < self.low_hz < self.high_hz < self.rate_hz / 2:
            raise ConfigError(
                f"need 0 < low_hz < high_hz < rate_hz / 2, got {self.low_hz}, {self.high_hz}, {self.rate_hz}",
                field="high_hz",
            )
        if not 0 < self.min_period_s < self.max_period_s:
            raise ConfigError(
                f"need 0 < min_period_s < max_period_s, got {self.min_period_s}, {self.max_period_s}",
                field="min_period_s",
            )
        if not 0 < self.min_distance <= 1:
            raise ConfigError(f"must be in (0, 1], got {self.min_distance}", field="min_distance")
        if not self.prominence >= 0:
            raise ConfigError(f"must be >= 0, got {self.prominence}", field="prominence")
        if self.update_every < 1:
            raise ConfigError(f"must be >= 1, got {self.update_every}", field="update_every")


@dataclass(frozen=True)
class RepetitionEstimate:
    """count: repetitions; period_s: the dominant period (None: not enough periodic signal to know it);
    peaks: sample indices [K] of the repetitions found on the principal axis (maxima)."""

    count: int
    period_s: float | None
    peaks: np.ndarray


# live: a peak counts once this share of a period has passed after it. find_peaks' prominence already needs the
# signal to have fallen away from it; waiting a whole `min_distance` (0.7 period) made the count lag a
# repetition's peak by more than a period for 18 % of SPAR's repetitions, a quarter period for 3 %
# (benchmarks/session_tracking.py, live_lag), at the price of a live count that may end one above the final one
CONFIRM_AFTER = 0.25
# an autocorrelation peak this close to the highest may be preferred for continuity (live counting)
PREFER_TOLERANCE = 0.85

_NONE = RepetitionEstimate(0, None, np.zeros(0, np.int64))


def _signal() -> Any:
    # scipy.signal is imported on first use, not with this module: importing it imports scipy.stats, whose
    # import-time doc examples probe `sys.modules["torch"]`, and the packaging test blocks torch by setting that
    # entry to None to prove the runtime imports without it
    import scipy.signal

    return scipy.signal


def warm_up(config: RepetitionConfig) -> None:
    """Import scipy.signal and design the filter now: both take a while the first time, which a live stream
    must not wait for in the middle of its first set."""
    _bandpass(config.low_hz, config.high_hz, config.rate_hz)


@functools.lru_cache(maxsize=16)
def _bandpass(low_hz: float, high_hz: float, rate_hz: float) -> np.ndarray:
    # designed once per setting: the live count filters every second
    sos: np.ndarray = _signal().butter(2, [low_hz, high_hz], "bandpass", fs=rate_hz, output="sos")
    return sos


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Autocorrelation [N] (lags 0..N-1, not normalised) of `x` [N, C] after removing each channel's mean,
    summed over channels; by FFT, zero-padded so it is linear, not circular (numpy's FFT in one call: the
    tracker runs this every window)."""
    n = len(x)
    centred = x - x.mean(axis=0)
    spectrum = np.fft.rfft(centred, n=2 * n, axis=0)
    acf: np.ndarray = np.fft.irfft((spectrum * spectrum.conj()).real, n=2 * n, axis=0)[:n].sum(axis=1)
    return acf


def _bandpassed(xyz: np.ndarray, config: RepetitionConfig) -> np.ndarray | None:
    sos = _bandpass(config.low_hz, config.high_hz, config.rate_hz)
    # sosfiltfilt's default edge padding needs a few dozen samples; shorter input holds no repetition anyway
    if len(xyz) <= 3 * (2 * len(sos) + 1):
        return None
    filtered: np.ndarray = _signal().sosfiltfilt(sos, xyz, axis=0)
    return filtered


def dominant_period(filtered: np.ndarray, config: RepetitionConfig, prefer_s: float | None = None) -> float | None:
    """The lag (s) of the highest autocorrelation peak of `filtered` [N, C] summed over channels, between
    min_period_s and min(max_period_s, half the signal); None when there is no such peak.

    prefer_s: the period found earlier in the same set. Among peaks nearly as high as the highest (within
    PREFER_TOLERANCE) the one closest to it wins, so a live count does not flip between a period and its half
    when both fit almost equally well."""
    n = len(filtered)
    acf = autocorrelation(filtered)
    if not acf[0] > 0:
        return None
    acf /= acf[0]
    lo = int(np.ceil(config.min_period_s * config.rate_hz))
    # at least two periods must lie in the signal for the period to be seen twice
    hi = min(int(config.max_period_s * config.rate_hz), n // 2)
    if hi <= lo:
        return None
    peaks, _ = _signal().find_peaks(acf[: hi + 1], prominence=0.05)
    peaks = peaks[peaks >= lo]
    if len(peaks) == 0 or acf[peaks].max() <= 0:
        return None
    best = peaks[np.argmax(acf[peaks])]
    if prefer_s is not None:
        close = peaks[acf[peaks] >= PREFER_TOLERANCE * acf[best]]
        best = close[np.argmin(np.abs(np.log(close / (prefer_s * config.rate_hz))))]
    return float(best / config.rate_hz)


def _span_count(peaks: np.ndarray, period_samples: float) -> float:
    if len(peaks) == 0:
        return 0.0
    return float((peaks[-1] - peaks[0]) / period_samples + 1.0)


def count_repetitions(
    xyz: np.ndarray, config: RepetitionConfig | None = None, confirmed: bool = False, prefer_s: float | None = None
) -> RepetitionEstimate:
    """Repetitions in `xyz` [N, 3] (accelerometer, m/s^2, uniformly sampled at config.rate_hz), one set.

    confirmed=True counts only peaks at least CONFIRM_AFTER x period before the last sample (the live rule:
    a peak is known once the signal has fallen away from it). prefer_s: see `dominant_period`."""
    config = config or RepetitionConfig()
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] < 1:
        raise SampleError(f"samples must be [N, channels], got shape {xyz.shape}", field="xyz")
    if not np.isfinite(xyz).all():
        raise SampleError("samples hold non-finite values", field="xyz")
    filtered = _bandpassed(xyz, config)
    if filtered is None:
        return _NONE
    period = dominant_period(filtered, config, prefer_s)
    if period is None:
        return _NONE
    centred = filtered - filtered.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    principal = centred @ vt[0]
    spread = float(principal.std())
    if not spread > 0:
        return _NONE
    period_samples = period * config.rate_hz
    distance = max(1, int(config.min_distance * period_samples))
    counts, maxima = [], np.zeros(0, np.int64)
    for sign in (1.0, -1.0):
        peaks, _ = _signal().find_peaks(sign * principal, distance=distance, prominence=config.prominence * spread)
        if confirmed:
            peaks = peaks[peaks <= len(principal) - 1 - int(CONFIRM_AFTER * period_samples)]
        counts.append(_span_count(peaks, period_samples))
        if sign > 0:
            maxima = peaks.astype(np.int64)
    return RepetitionEstimate(int(np.floor(min(counts) + 0.5)), period, maxima)


class RepetitionCounter:
    """Live count of one set: `push(xyz [N, 3])` samples as they arrive (uniform at config.rate_hz), read
    `count` (never decreasing, confirmed peaks only) and, when the set ends, `final()` (all samples)."""

    def __init__(self, config: RepetitionConfig | None = None) -> None:
        self.config = config or RepetitionConfig()
        self._chunks: list[np.ndarray] = []
        self._samples = 0
        self._since_update = 0
        self.count = 0
        self.period_s: float | None = None

    @property
    def samples(self) -> int:
        return self._samples

    def _all(self) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.zeros((0, 3))

    def push(self, xyz: np.ndarray) -> int:
        """Add samples [N, 3]; returns the live count."""
        xyz = np.asarray(xyz, dtype=np.float64)
        if xyz.ndim != 2:
            raise SampleError(f"samples must be [N, channels], got shape {xyz.shape}", field="xyz")
        if len(xyz) == 0:
            return self.count
        self._chunks.append(xyz)
        self._samples += len(xyz)
        self._since_update += len(xyz)
        if self._since_update >= self.config.update_every:
            self._since_update = 0
            estimate = count_repetitions(self._all(), self.config, confirmed=True, prefer_s=self.period_s)
            if estimate.period_s is not None:
                self.period_s = estimate.period_s
            self.count = max(self.count, estimate.count)
        return self.count

    def final(self) -> RepetitionEstimate:
        """The count over every sample of the set (the number the session log keeps)."""
        return count_repetitions(self._all(), self.config)
