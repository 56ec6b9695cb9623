"""`Recording`: one continuous stream of samples from one subject, in SI units.

Shapes: `t` [N] float64 seconds (strictly increasing), `x` [N, C] float32, `labels` [N] int16 indexing
`classes` with -1 meaning "no activity label" (unlabelled or NULL), `valid` [N] bool (False only for grid
points the resampler placed inside a gap; those samples are NaN and no window may touch them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

from mujo_edge.channels import Channel, ChannelSelection, channel_indices, channel_names
from mujo_edge.errors import ConfigError, SampleError

UNLABELLED = -1
# meta key: streams recorded at the same time by different devices share a group and are aligned together
GROUP = "group"
# meta key: the measured native rate of the source stream(s), kept when a recording is resampled or aligned
NATIVE_RATE = "native_rate_hz"
# meta key: how many samples the source stream(s) held before resampling or aligning
SOURCE_SAMPLES = "source_samples"
# meta key (resampled recordings): how many jumps between source samples were longer than the gap limit
GAPS = "gaps"

# What a wearable's motion sensor can deliver: below 0.5 Hz a stream says nothing about movement (and is the
# signature of millisecond timestamps read as seconds); above 10 kHz no IMU streams (and it is the reverse).
MIN_RATE_HZ = 0.5
MAX_RATE_HZ = 10_000.0
# A silence longer than this between two samples of one recording is a mistyped or corrupted timestamp
# (an extra digit, a clock reset to 1970), never a pause: no wearable records one file across it.
MAX_JUMP_S = 366 * 86_400.0


@dataclass(frozen=True, eq=False)
class Recording:
    """A validated stream; construct it through a loader or `Recording.create`."""

    t: np.ndarray
    x: np.ndarray
    channels: tuple[Channel, ...]
    subject: str
    classes: tuple[str, ...]
    labels: np.ndarray
    source: str
    recording_id: str
    valid: np.ndarray
    meta: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def create(
        cls,
        t: np.ndarray | Sequence[float],
        x: np.ndarray,
        channels: Sequence[Channel],
        *,
        subject: str | int,
        source: str | Path,
        recording_id: str | None = None,
        classes: Sequence[str] = (),
        labels: np.ndarray | None = None,
        valid: np.ndarray | None = None,
        meta: Mapping[str, str] | None = None,
        first_line: int | None = None,
        lines: np.ndarray | Sequence[int] | None = None,
    ) -> Recording:
        """Validate and build a recording.

        `x` must already be in SI units. When the source is a text file, errors name the line: `lines` [N]
        gives the 1-based line of each sample (right even when blank lines or comments sit between samples),
        `first_line` the line of sample 0 for files with one sample per line and nothing else; without either,
        errors name the sample index.
        """
        src = str(source)
        t = np.ascontiguousarray(t, dtype=np.float64)
        x = np.ascontiguousarray(x, dtype=np.float32)
        channels = tuple(channels)
        where = _Where(src, first_line, None if lines is None else np.asarray(lines, dtype=np.int64))
        if t.ndim != 1 or t.shape[0] == 0:
            raise SampleError("recording has no samples", path=src)
        if x.ndim != 2 or x.shape[0] != t.shape[0]:
            raise SampleError(f"samples have shape {x.shape}, expected ({t.shape[0]}, {len(channels)})", path=src)
        if x.shape[1] != len(channels):
            raise SampleError(f"{x.shape[1]} sample columns but {len(channels)} channels", path=src)
        if len(set(channel_names(channels))) != len(channels):
            raise SampleError(f"duplicate channel names {channel_names(channels)}", path=src)
        valid = np.ones(t.shape[0], dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
        if valid.shape != t.shape:
            raise SampleError(f"valid mask has shape {valid.shape}, expected {t.shape}", path=src)
        if where.lines is not None and where.lines.shape != t.shape:
            raise SampleError(f"line numbers have shape {where.lines.shape}, expected {t.shape}", path=src)
        _check_timestamps(t, where)
        bad = ~np.isfinite(x).all(axis=1) & valid
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            col = int(np.flatnonzero(~np.isfinite(x[i]))[0])
            raise SampleError(
                f"non-finite value {plain(x[i, col])} ({int(bad.sum())} such samples)",
                path=where.file,
                line=where.line(i),
                field=channels[col].name,
            )
        classes = tuple(str(c) for c in classes)
        if labels is None:
            labels = np.full(t.shape[0], UNLABELLED, dtype=np.int16)
        labels = np.asarray(labels)
        if labels.shape != t.shape or not np.issubdtype(labels.dtype, np.integer):
            raise SampleError(
                f"labels must be integers of shape {t.shape}, got {labels.dtype} {labels.shape}", path=src
            )
        out_of_range = (labels < UNLABELLED) | (labels >= len(classes))
        if out_of_range.any():
            i = int(np.flatnonzero(out_of_range)[0])
            raise SampleError(
                f"label index {int(labels[i])} outside the {len(classes)} classes",
                path=where.file,
                line=where.line(i),
                field="label",
            )
        return cls(
            t=t,
            x=x,
            channels=channels,
            subject=str(subject),
            classes=classes,
            labels=labels.astype(np.int16, copy=False),
            source=src,
            recording_id=recording_id or Path(src).stem,
            valid=valid,
            meta=MappingProxyType(dict(meta or {})),
        )

    # --- derived views -------------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        return int(self.t.shape[0])

    @property
    def source_samples(self) -> int:
        """Samples the source held (differs from `n_samples` once streams were aligned on a grid)."""
        return int(self.meta.get(SOURCE_SAMPLES, self.n_samples))

    @property
    def channel_names(self) -> tuple[str, ...]:
        return channel_names(self.channels)

    @property
    def duration_s(self) -> float:
        return float(self.t[-1] - self.t[0]) if self.n_samples > 1 else 0.0

    def native_rate_hz(self) -> float:
        """Sampling rate measured from the source timestamps (`measured_rate_hz`: samples over time)."""
        if NATIVE_RATE in self.meta:
            return float(self.meta[NATIVE_RATE])
        return measured_rate_hz(self.t)

    def select(self, selection: ChannelSelection) -> Recording:
        """The same recording with only the selected channels (order kept); error if none match."""
        idx = selection.indices(self.channels)
        if not idx:
            raise ConfigError(
                f"{self.source}: no channel matches {selection.describe()} (has {', '.join(self.channel_names)})",
                field="channels",
            )
        if len(idx) == len(self.channels):
            return self
        return self._take(idx)

    def _take(self, idx: Sequence[int]) -> Recording:
        """The same recording with the channels at `idx`, in that order."""
        return replace(self, x=self.x[:, idx], channels=tuple(self.channels[i] for i in idx))

    def with_channels(self, names: Sequence[str]) -> Recording:
        """The same recording with the channels `names`, in that order (the ordering rule of `channels`).

        MissingChannelsError (a ConfigError) names the channels it lacks; ConfigError for no names."""
        if not names:
            raise ConfigError(f"{self.source}: no channels asked for", field="channels")
        idx = channel_indices(self.channel_names, names, source=self.source)
        if idx == list(range(len(self.channels))):
            return self
        return self._take(idx)


def plain(value: float | np.floating) -> str:
    """A number as a user would write it (`0.02`, `1700000000.12`, `1e+300`): never numpy's `np.float64(...)`,
    and 15 significant digits, so a unit conversion's rounding noise (`.1200001`) does not show."""
    return format(float(value), ".15g")


@dataclass(frozen=True)
class _Where:
    """Turns a sample index into a line number when the source is a text file."""

    file: str
    first_line: int | None
    lines: np.ndarray | None = None

    def line(self, i: int) -> int | None:
        if self.lines is not None:
            return int(self.lines[i])
        return None if self.first_line is None else self.first_line + i


@dataclass(frozen=True)
class Gaps:
    """Jumps longer than a gap limit between consecutive valid samples: `count`, and the `longest` (seconds)
    with `after`, the index of the sample that ends it (None when there is no gap)."""

    count: int
    longest_s: float
    after: int | None


def find_gaps(t: np.ndarray, valid: np.ndarray, max_gap_s: float) -> Gaps:
    """The gaps of a stream (t [N] seconds, valid [N]): the one definition resampling and loaders share.

    Only a jump between two valid samples counts; an invalid sample already marks a gap a resampler found."""
    dt = np.diff(t)
    jump = (dt > max_gap_s) & valid[:-1] & valid[1:]
    if not jump.any():
        return Gaps(0, 0.0, None)
    i = int(np.argmax(np.where(jump, dt, -np.inf)))
    return Gaps(int(jump.sum()), float(dt[i]), i + 1)


def measured_rate_hz(t: np.ndarray) -> float:
    """Samples per second of timestamps `t` [N] seconds: (samples - 1) / (last - first) over gap-free stretches.

    The one rate measurement of a recording (inspect, replay, live). 1 / median step is wrong for rounded
    timestamps (64 Hz in whole milliseconds steps 15 or 16 ms: the median says 62.5 Hz); the mean step over
    stretches is not. A step ends a stretch (a pause or a lost sample, not the device's rate) when the stream's
    own jitter cannot explain it: longer than 1.5 median steps and than the median plus 5 robust standard
    deviations (the rule of `runtime.live.stream_gaps`), so neither a gap nor heavy jitter biases the rate.
    NaN for fewer than two samples."""
    if len(t) < 2:
        return float("nan")
    dt = np.diff(np.asarray(t, dtype=np.float64))
    period = float(np.median(dt))
    jitter = 1.4826 * float(np.median(np.abs(dt - period)))
    inside = dt[dt <= max(1.5 * period, period + 5 * jitter)]
    total = float(inside.sum())
    return float(len(inside) / total) if total > 0 else float("nan")


def _check_timestamps(t: np.ndarray, where: _Where) -> None:
    if not np.isfinite(t).all():
        i = int(np.flatnonzero(~np.isfinite(t))[0])
        raise SampleError(
            f"non-finite timestamp {plain(t[i])} at sample {i}", path=where.file, line=where.line(i), field="timestamp"
        )
    dt = np.diff(t)
    if (dt < 0).any():
        i = int(np.flatnonzero(dt < 0)[0]) + 1
        raise SampleError(
            f"timestamps go backwards at sample {i} ({plain(t[i - 1])} s -> {plain(t[i])} s)",
            path=where.file,
            line=where.line(i),
            field="timestamp",
        )
    if (dt == 0).any():
        i = int(np.flatnonzero(dt == 0)[0]) + 1
        raise SampleError(
            f"duplicate timestamp {plain(t[i])} s at sample {i} ({int((dt == 0).sum())} duplicates)",
            path=where.file,
            line=where.line(i),
            field="timestamp",
        )
    if (dt > MAX_JUMP_S).any():
        i = int(np.flatnonzero(dt > MAX_JUMP_S)[0]) + 1
        raise SampleError(
            f"timestamp {plain(t[i])} s jumps {dt[i - 1]:.4g} s (more than a year) after the previous sample "
            f"{plain(t[i - 1])} s: a mistyped or corrupted timestamp, or a wrong unit",
            path=where.file,
            line=where.line(i),
            field="timestamp",
        )
