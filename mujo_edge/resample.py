"""Resampling onto an exact grid by timestamp, never interpolating across a gap.

Source streams arrive at any rate (10, 12.5, 25, 52, 100 Hz...) with jitter. The grid is the lattice
t0 + k / rate_hz counted from the first sample, but only the points the data can fill are made: those inside a
run of samples no further apart than `max_gap_s`, plus the lattice's first and last point and one point on
either side of every gap, which are marked invalid (NaN, `valid=False`) so nothing downstream (a second
resampling, windowing) bridges the gap. Windows touching a gap are dropped later and counted. Memory and time
grow with the number of samples, never with the time the recording spans: an 11-day pause costs two points.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import MappingProxyType

import numpy as np
from scipy.interpolate import PchipInterpolator

from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError, SampleError
from mujo_edge.recording import GAPS, GROUP, MAX_RATE_HZ, NATIVE_RATE, SOURCE_SAMPLES, Recording, find_gaps, plain

log = logging.getLogger(__name__)

# A grid may hold at most this many points per source sample (plus a fixed allowance for short recordings):
# more cannot be filled by the data and only comes from a gap limit that bridges days, so it is refused
# instead of allocated. A 1 Hz stream bridged at 50 Hz needs 50 per sample.
MAX_GRID_PER_SAMPLE = 1000
_GRID_ALLOWANCE = 100_000
# Grid indices stay exact in float64 (2**53) with room to spare for the arithmetic on them.
_MAX_GRID_INDEX = 2**50


def grid_for(t_start: float, t_end: float, rate_hz: float) -> np.ndarray:
    """Grid times t_start + k / rate_hz for every k that stays within [t_start, t_end] (seconds).

    Dense: every point of the span. `resample` makes only the points the data can fill (`fillable_grid`)."""
    return t_start + np.arange(_last_index(t_start, t_end, rate_hz) + 1, dtype=np.float64) / rate_hz


def _last_index(t_start: float, t_end: float, rate_hz: float) -> int:
    # the tolerance is part of the grid's definition: the stream windower and cached windows rely on it
    return max(int(np.floor((t_end - t_start) * rate_hz + 1e-9)), -1)


def lattice_index(grid: np.ndarray, rate_hz: float) -> np.ndarray:
    """Lattice index k [M] of each point of a grid made by `resample` (t0 + k / rate_hz, t0 = grid[0])."""
    return np.asarray(np.rint((grid - grid[0]) * rate_hz), dtype=np.int64)


def _segments(t: np.ndarray, valid: np.ndarray, max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) sample index of every run of valid samples no further apart than `max_gap_s`."""
    linked = (np.diff(t) <= max_gap_s) & valid[:-1] & valid[1:]
    starts = valid & np.concatenate([[True], ~linked])
    ends = valid & np.concatenate([~linked, [True]])
    return np.flatnonzero(starts), np.flatnonzero(ends)


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The integers of every range [lo_i, hi_i] (empty when hi_i < lo_i), concatenated."""
    n = np.maximum(hi - lo + 1, 0)
    offsets = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
    return np.asarray(np.repeat(lo, n) + offsets, dtype=np.int64)


def fillable_grid(
    recording: Recording, config: WindowConfig, t_start: float | None = None, t_end: float | None = None
) -> np.ndarray:
    """The points of the lattice t_start + k / rate_hz (0 <= k <= last point at or before t_end; default: the
    recording's first and last sample) that `recording`'s samples can fill, in seconds, sorted.

    That is every point between two valid samples at most `config.max_gap_s` apart, the lattice's first and
    last point, and the point on either side of each gap (these come out invalid). SampleError for timestamps
    no grid can hold, ConfigError when the grid would outgrow MAX_GRID_PER_SAMPLE points per sample.
    """
    t, rate = recording.t, config.rate_hz
    t0 = float(t[0]) if t_start is None else t_start
    last = _last_index(t0, float(t[-1]) if t_end is None else t_end, rate)
    _check_lattice(recording, t0, last, rate)
    first_i, last_i = _segments(t, recording.valid, config.max_gap_s)
    lo = _first_index_at_or_after(t0, t[first_i], rate)
    hi = np.minimum(_last_index_at_or_before(t0, t[last_i], rate), last)
    lo = np.maximum(lo, 0)
    size = int(np.maximum(hi - lo + 1, 0).sum())
    if size > MAX_GRID_PER_SAMPLE * recording.n_samples + _GRID_ALLOWANCE:
        raise ConfigError(
            f"{recording.source}: a {rate:g} Hz grid bridging gaps up to {config.max_gap_s:g} s needs {size:,} "
            f"points for {recording.n_samples:,} samples, more than the data can fill; lower max_gap_s",
            field="max_gap_s",
        )
    marks = np.concatenate([[0, last], lo - 1, hi + 1])
    k = np.union1d(_ranges(lo, hi), marks[(marks >= 0) & (marks <= last)])
    return t0 + k.astype(np.float64) / rate


def _first_index_at_or_after(t0: float, times: np.ndarray, rate_hz: float) -> np.ndarray:
    """Smallest k with t0 + k / rate_hz >= each time, by the grid's own float arithmetic (not an estimate)."""
    k = np.ceil((times - t0) * rate_hz).astype(np.int64)
    k = np.where(t0 + (k - 1).astype(np.float64) / rate_hz >= times, k - 1, k)
    return np.where(t0 + k.astype(np.float64) / rate_hz < times, k + 1, k)


def _last_index_at_or_before(t0: float, times: np.ndarray, rate_hz: float) -> np.ndarray:
    """Largest k with t0 + k / rate_hz <= each time, by the grid's own float arithmetic."""
    k = np.floor((times - t0) * rate_hz).astype(np.int64)
    k = np.where(t0 + (k + 1).astype(np.float64) / rate_hz <= times, k + 1, k)
    return np.where(t0 + k.astype(np.float64) / rate_hz > times, k - 1, k)


def _check_lattice(recording: Recording, t0: float, last: int, rate_hz: float) -> None:
    """Timestamps a grid cannot hold: a span of more than 2**50 points, or values so large that float64 rounds
    them by more than 1 % of a grid step."""
    if last > _MAX_GRID_INDEX:
        raise SampleError(
            f"timestamps span {recording.duration_s:.4g} s, beyond any {rate_hz:g} Hz grid",
            path=recording.source,
            field="timestamp",
        )
    biggest = float(max(abs(recording.t[0]), abs(recording.t[-1]), abs(t0)))
    if np.spacing(biggest) * rate_hz > 0.01:
        raise SampleError(
            f"timestamps near {plain(biggest)} s are too large to place samples 1/{rate_hz:g} s apart",
            path=recording.source,
            field="timestamp",
        )


def _check_rate(config: WindowConfig) -> None:
    if config.rate_hz > MAX_RATE_HZ:
        raise ConfigError(
            f"{config.rate_hz:g} Hz is beyond any wearable sensor (at most {MAX_RATE_HZ:g} Hz)", field="rate_hz"
        )


def _gap_mask(t: np.ndarray, valid: np.ndarray, grid: np.ndarray, max_gap_s: float) -> np.ndarray:
    """True for grid points that lie on a measured sample or between two close, valid samples."""
    right = np.searchsorted(t, grid, side="left")  # first source sample at or after each grid point
    right = np.clip(right, 0, len(t) - 1)
    left = np.clip(right - 1, 0, len(t) - 1)
    on_sample = t[right] == grid
    inside = (t[left] <= grid) & (grid <= t[right])
    close = (t[right] - t[left]) <= max_gap_s
    ok_between = inside & close & valid[left] & valid[right]
    return np.asarray((on_sample & valid[right]) | ok_between, dtype=bool)


def _interpolate(t: np.ndarray, x: np.ndarray, grid: np.ndarray, method: str) -> np.ndarray:
    if len(t) == 1:
        return np.repeat(x[:1], len(grid), axis=0).astype(np.float32)
    if method == "pchip":
        # NaNs (gap points of an already resampled stream) would poison the spline; they are masked anyway
        finite = np.isfinite(x).all(axis=1)
        return np.asarray(PchipInterpolator(t[finite], x[finite], axis=0, extrapolate=False)(grid), dtype=np.float32)
    out = np.empty((len(grid), x.shape[1]), dtype=np.float32)
    for c in range(x.shape[1]):
        out[:, c] = np.interp(grid, t, x[:, c])
    return out


def _nearest_labels(t: np.ndarray, labels: np.ndarray, grid: np.ndarray) -> np.ndarray:
    right = np.clip(np.searchsorted(t, grid), 0, len(t) - 1)
    left = np.clip(right - 1, 0, len(t) - 1)
    take_left = np.abs(grid - t[left]) <= np.abs(t[right] - grid)
    return np.where(take_left, labels[left], labels[right]).astype(np.int16)


def resample(recording: Recording, config: WindowConfig, grid: np.ndarray | None = None) -> Recording:
    """The recording on an exact `config.rate_hz` grid (`fillable_grid`, or `grid`, seconds, if given).

    Values are interpolated (`config.interpolation`), labels take the nearest source sample, and grid
    points inside gaps longer than `config.max_gap_s` become NaN with `valid=False`. The result's meta
    counts the gaps (GAPS) found in the source, added to those a resampled input already counted.
    """
    _check_rate(config)
    t = recording.t
    if grid is None:
        grid = fillable_grid(recording, config)
    valid = _gap_mask(t, recording.valid, grid, config.max_gap_s)
    x = _interpolate(t, recording.x, grid, config.interpolation)
    valid &= np.isfinite(x).all(axis=1)
    x[~valid] = np.nan
    labels = _nearest_labels(t, recording.labels, grid)
    if not valid.any():
        log.warning("%s: no valid sample on the %.1f Hz grid", recording.source, config.rate_hz)
    gaps = int(recording.meta.get(GAPS, 0)) + find_gaps(t, recording.valid, config.max_gap_s).count
    return Recording(
        t=grid,
        x=x,
        channels=recording.channels,
        subject=recording.subject,
        classes=recording.classes,
        labels=labels,
        source=recording.source,
        recording_id=recording.recording_id,
        valid=valid,
        meta=MappingProxyType({**recording.meta, GAPS: str(gaps)}),
    )


def align(recordings: Sequence[Recording], config: WindowConfig) -> Recording:
    """Streams recorded at the same time (e.g. watch + phone) on one common grid, channels side by side.

    The grid covers only the time all streams share; labels come from the first stream; a grid point is
    valid only where every stream is. Channel names must differ between the streams.
    """
    if not recordings:
        raise SampleError("nothing to align")
    first = recordings[0]
    start = max(float(r.t[0]) for r in recordings)
    end = min(float(r.t[-1]) for r in recordings)
    if end <= start:
        raise SampleError(
            f"streams do not overlap in time ({', '.join(r.source for r in recordings)})", path=first.source
        )
    # the first stream's fillable points bound the grid; the others' gaps inside them come out invalid
    grid = fillable_grid(first, config, start, end)
    parts = [resample(r, config, grid) for r in recordings]
    x = np.concatenate([p.x for p in parts], axis=1)
    valid = np.logical_and.reduce([p.valid for p in parts])
    x[~valid] = np.nan
    meta = {
        GROUP: first.meta.get(GROUP, first.recording_id),
        NATIVE_RATE: str(min(r.native_rate_hz() for r in recordings)),
        SOURCE_SAMPLES: str(sum(r.source_samples for r in recordings)),
        "merged_duplicates": str(sum(int(r.meta.get("merged_duplicates", "0")) for r in recordings)),
        GAPS: str(sum(int(p.meta[GAPS]) for p in parts)),
        "aligned": " + ".join(r.source for r in recordings),
    }
    return Recording.create(
        grid,
        x,
        [c for p in parts for c in p.channels],
        subject=first.subject,
        source=first.source,
        recording_id=first.recording_id,
        classes=first.classes,
        labels=parts[0].labels,
        valid=valid,
        meta=meta,
    )


def merge_duplicate_timestamps(
    t: np.ndarray, x: np.ndarray, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """Average samples that share a timestamp (sensor batching artefacts); returns the count merged.

    Only for sources documented to repeat timestamps; for user files a repeat is an error.
    `t` must be sorted (non-decreasing).
    """
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = np.diff(t) != 0
    n_merged = int((~keep).sum())
    if n_merged == 0:
        return t, x, labels, 0
    group = np.cumsum(keep) - 1
    counts = np.bincount(group)
    sums = np.zeros((int(group[-1]) + 1, x.shape[1]), dtype=np.float64)
    np.add.at(sums, group, x)
    merged_x = (sums / counts[:, None]).astype(x.dtype)
    merged_labels = None if labels is None else labels[keep]
    return t[keep], merged_x, merged_labels, n_merged
