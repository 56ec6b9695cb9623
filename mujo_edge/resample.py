"""Resampling onto an exact grid by timestamp, never interpolating across a gap.

Source streams arrive at any rate (10, 12.5, 25, 52, 100 Hz...) with jitter. Every grid point between
two source samples that are further apart than `max_gap_s` is marked invalid (NaN, `valid=False`) instead of
being invented; windows touching such points are dropped later and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

from mujo_edge.config import WindowConfig
from mujo_edge.errors import SampleError
from mujo_edge.recording import GROUP, NATIVE_RATE, SOURCE_SAMPLES, Recording

log = logging.getLogger(__name__)


def grid_for(t_start: float, t_end: float, rate_hz: float) -> np.ndarray:
    """Grid times t_start + k / rate_hz for every k that stays within [t_start, t_end] (seconds)."""
    n = int(np.floor((t_end - t_start) * rate_hz + 1e-9)) + 1
    return t_start + np.arange(max(n, 0), dtype=np.float64) / rate_hz


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
    """The recording on an exact `config.rate_hz` grid (or on `grid`, seconds, if given).

    Values are interpolated (`config.interpolation`), labels take the nearest source sample, and grid
    points inside gaps longer than `config.max_gap_s` become NaN with `valid=False`.
    """
    t = recording.t
    if grid is None:
        grid = grid_for(float(t[0]), float(t[-1]), config.rate_hz)
    valid = _gap_mask(t, recording.valid, grid, config.max_gap_s)
    x = _interpolate(t, recording.x, grid, config.interpolation)
    valid &= np.isfinite(x).all(axis=1)
    x[~valid] = np.nan
    labels = _nearest_labels(t, recording.labels, grid)
    if not valid.any():
        log.warning("%s: no valid sample on the %.1f Hz grid", recording.source, config.rate_hz)
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
        meta=recording.meta,
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
    grid = grid_for(start, end, config.rate_hz)
    parts = [resample(r, config, grid) for r in recordings]
    x = np.concatenate([p.x for p in parts], axis=1)
    valid = np.logical_and.reduce([p.valid for p in parts])
    x[~valid] = np.nan
    meta = {
        GROUP: first.meta.get(GROUP, first.recording_id),
        NATIVE_RATE: str(min(r.native_rate_hz() for r in recordings)),
        SOURCE_SAMPLES: str(sum(r.source_samples for r in recordings)),
        "merged_duplicates": str(sum(int(r.meta.get("merged_duplicates", "0")) for r in recordings)),
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
