"""Sliding windows over resampled recordings: the one place model input is cut.

`Windows.x` is float32 [W, C, L] (channels first, L = `WindowConfig.length` samples), `y` int64 [W]
(class index, -1 = no activity label), `subject`/`recording` str [W], `start` float64 [W] seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from mujo_edge.channels import channel_indices
from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError
from mujo_edge.recording import GAPS, UNLABELLED, Recording
from mujo_edge.resample import lattice_index, resample

DROP_GAP = "gap"
DROP_MIXED = "mixed_label"


@dataclass(frozen=True, eq=False)
class Windows:
    """A batch of windows plus where each came from; `dropped` counts windows cut but not kept, by reason, and
    `gaps` the jumps in time longer than `config.max_gap_s` the source recordings held."""

    x: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    recording: np.ndarray
    start: np.ndarray
    channels: tuple[str, ...]
    classes: tuple[str, ...]
    config: WindowConfig
    dropped: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    gaps: int = 0

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def subset(self, index: np.ndarray | Sequence[int]) -> Windows:
        """Windows at `index` (integer indices or a boolean mask); `dropped` and `gaps` are not carried over."""
        idx = np.asarray(index)
        return Windows(
            x=self.x[idx],
            y=self.y[idx],
            subject=self.subject[idx],
            recording=self.recording[idx],
            start=self.start[idx],
            channels=self.channels,
            classes=self.classes,
            config=self.config,
        )

    def with_channels(self, names: Sequence[str]) -> Windows:
        """The same windows with the rows `names`, in that order (the ordering rule of `channels`); `dropped` and
        `gaps` are kept (the windows are the same). MissingChannelsError (a ConfigError) names the channels they
        lack."""
        if not names:
            raise ConfigError("no channels asked for", field="channels")
        rows = channel_indices(self.channels, names)
        if rows == list(range(len(self.channels))):
            return self
        return Windows(
            x=self.x[:, rows],
            y=self.y,
            subject=self.subject,
            recording=self.recording,
            start=self.start,
            channels=tuple(names),
            classes=self.classes,
            config=self.config,
            dropped=self.dropped,
            gaps=self.gaps,
        )

    def for_subjects(self, subjects: Sequence[str]) -> Windows:
        return self.subset(np.isin(self.subject, np.asarray(list(subjects), dtype=str)))

    def subjects(self) -> list[str]:
        return sorted(set(self.subject.tolist()), key=_natural_key)

    def classes_by_subject(self) -> dict[str, set[int]]:
        """The labelled classes (indices) each subject has windows of: what choosing validation subjects needs."""
        labelled = self.y >= 0
        return {s: set(np.unique(self.y[labelled & (self.subject == s)]).tolist()) for s in self.subjects()}

    def class_counts(self) -> dict[str, int]:
        """Windows per class name, plus "(no label)" for y = -1."""
        counts = Counter(self.y.tolist())
        out = {name: counts.get(i, 0) for i, name in enumerate(self.classes)}
        if counts.get(UNLABELLED):
            out["(no label)"] = counts[UNLABELLED]
        return out


def _natural_key(s: str) -> tuple[int, int | str]:
    return (0, int(s)) if s.isdigit() else (1, s)


def _empty(
    channels: tuple[str, ...], classes: tuple[str, ...], config: WindowConfig, dropped: Mapping[str, int], gaps: int
) -> Windows:
    return Windows(
        x=np.zeros((0, len(channels), config.length), np.float32),
        y=np.zeros(0, np.int64),
        subject=np.zeros(0, dtype="<U1"),
        recording=np.zeros(0, dtype="<U1"),
        start=np.zeros(0, np.float64),
        channels=channels,
        classes=classes,
        config=config,
        dropped=MappingProxyType(dict(dropped)),
        gaps=gaps,
    )


def window_labels(
    labels: np.ndarray | Sequence[Any], starts: np.ndarray | Sequence[int], length: int, min_purity: float
) -> tuple[np.ndarray, np.ndarray]:
    """The labelling rule of every window, training's and the demo's: (majority [W], pure bool [W]).

    `labels` [N] holds one label per sample (class indices with -1 for "no label", or names: any type numpy
    can sort); window w covers samples [starts[w], starts[w] + length). Its majority is the label most samples
    carry, ties going to the smallest label (so -1, "no label", wins a tie against a class); `pure` says the
    majority covers at least `min_purity` of the window. A window reaching past either end of `labels` is
    not pure (its majority is then meaningless).
    """
    lab = np.asarray(labels)
    first = np.asarray(starts, dtype=np.int64)
    if lab.ndim != 1 or first.ndim != 1:
        raise ConfigError(
            f"labels [N] and starts [W] must be vectors, got {lab.shape} and {first.shape}", field="labels"
        )
    if length < 1:
        raise ConfigError(f"must be >= 1, got {length}", field="length")
    inside = (first >= 0) & (first + length <= lab.shape[0])
    if lab.shape[0] == 0 or not inside.any():
        return np.zeros(first.shape, dtype=lab.dtype), np.zeros(first.shape, dtype=bool)
    values, codes = np.unique(lab, return_inverse=True)
    # windows outside the labels read sample 0 instead; they are marked not pure below
    idx = np.where(inside, first, 0)[:, None] + np.arange(length)[None, :]
    coded = codes.reshape(-1)[idx]
    counts = np.stack([(coded == k).sum(axis=1) for k in range(len(values))], axis=1)
    pure = inside & (counts.max(axis=1) >= min_purity * length)
    return values[counts.argmax(axis=1)], pure


def window_recording(recording: Recording, config: WindowConfig) -> Windows:
    """Resample `recording` to `config.rate_hz` and cut it into windows.

    Windows start every `config.step` points of the grid's lattice, counted from the first sample. A window is
    dropped (and counted) when it touches a gap, or when its majority label covers less than
    `config.min_purity` of it. Windows whose majority is "no label" are kept with y = -1. Only the grid points
    the data fills exist (see `resample`), so the lattice windows lying in a gap are counted, never cut.
    """
    grid = resample(recording, config)
    channels, classes = grid.channel_names, grid.classes
    gaps = int(grid.meta.get(GAPS, 0))
    k = lattice_index(grid.t, config.rate_hz)
    lattice_starts = _count_starts(int(k[-1]) + 1, config)
    if lattice_starts == 0:
        return _empty(channels, classes, config, {}, gaps)
    rows = _complete_windows(k, grid.valid, config)  # first grid row of every window clear of gaps
    majority, ok_pure = window_labels(grid.labels, rows, config.length, config.min_purity)
    dropped = {DROP_GAP: lattice_starts - len(rows), DROP_MIXED: int((~ok_pure).sum())}
    kept = rows[ok_pure]
    x = grid.x[kept[:, None] + np.arange(config.length)[None, :]].transpose(0, 2, 1)
    return Windows(
        x=np.ascontiguousarray(x, dtype=np.float32),
        y=majority[ok_pure].astype(np.int64),
        subject=np.full(len(kept), grid.subject),
        recording=np.full(len(kept), grid.recording_id),
        start=grid.t[kept],
        channels=channels,
        classes=classes,
        config=config,
        dropped=MappingProxyType({k: v for k, v in dropped.items() if v}),
        gaps=gaps,
    )


def _count_starts(points: int, config: WindowConfig) -> int:
    """Windows the lattice of `points` grid points holds (starts 0, step, 2 step, ... with room for a window)."""
    return 0 if points < config.length else (points - config.length) // config.step + 1


def _complete_windows(k: np.ndarray, valid: np.ndarray, config: WindowConfig) -> np.ndarray:
    """Row of the first point of every lattice window whose `length` points all exist and are valid.

    `k` [M] is the sorted lattice index of each grid row; windows start at multiples of `step`. Runs of
    consecutive valid lattice points are found first, so the work grows with the rows, not with the lattice."""
    length, step = config.length, config.step
    link = valid[:-1] & valid[1:] & (np.diff(k) == 1)  # row i and i + 1 are neighbours in one run
    first = np.flatnonzero(valid & np.concatenate([[True], ~link]))
    last = np.flatnonzero(valid & np.concatenate([~link, [True]]))
    lo, hi = k[first], k[last]
    first_start = -(-lo // step) * step  # the first multiple of step at or after the run's first point
    count = np.maximum((hi - length + 1 - first_start) // step + 1, 0)
    nth = np.arange(int(count.sum()), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    return np.asarray(np.repeat(first - lo + first_start, count) + step * nth, dtype=np.int64)


def concat(parts: Sequence[Windows]) -> Windows:
    """Windows of several recordings in one batch; channels, classes and config must agree."""
    if not parts:
        raise ConfigError("no windows to concatenate", field="windows")
    first = parts[0]
    for p in parts[1:]:
        if p.channels != first.channels:
            raise ConfigError(f"channels differ: {p.channels} vs {first.channels}", field="channels")
        if p.classes != first.classes:
            raise ConfigError(f"classes differ: {p.classes} vs {first.classes}", field="classes")
        if p.config != first.config:
            raise ConfigError("window configs differ", field="window")
    dropped: Counter[str] = Counter()
    for p in parts:
        dropped.update(p.dropped)
    return Windows(
        x=np.concatenate([p.x for p in parts]),
        y=np.concatenate([p.y for p in parts]),
        subject=np.concatenate([p.subject.astype(str) for p in parts]),
        recording=np.concatenate([p.recording.astype(str) for p in parts]),
        start=np.concatenate([p.start for p in parts]),
        channels=first.channels,
        classes=first.classes,
        config=first.config,
        dropped=MappingProxyType(dict(dropped)),
        gaps=sum(p.gaps for p in parts),
    )


# The class that windows of no activity (unlabelled, transitions, a dataset's null classes) become when a protocol
# keeps them; the last class of a classifier trained with NULL.
NULL_CLASS = "NULL"


def null_labels(windows: Windows, null_classes: Sequence[str], with_null: bool) -> Windows:
    """Windows relabelled for one protocol: without NULL, windows of no label or of a null class are dropped;
    with NULL, they all become the last class "NULL"."""
    keep_classes = [c for c in windows.classes if c not in null_classes]
    lut = np.array([keep_classes.index(c) if c in keep_classes else -1 for c in windows.classes] + [-1])
    y = lut[windows.y]  # y = -1 indexes the appended -1
    if with_null:
        y = np.where(y < 0, len(keep_classes), y)
        classes = (*keep_classes, NULL_CLASS)
        idx = np.arange(len(windows))
    else:
        idx = np.flatnonzero(y >= 0)
        classes = tuple(keep_classes)
    sub = windows.subset(idx)
    return Windows(
        x=sub.x,
        y=y[idx].astype(np.int64),
        subject=sub.subject,
        recording=sub.recording,
        start=sub.start,
        channels=sub.channels,
        classes=classes,
        config=sub.config,
    )
