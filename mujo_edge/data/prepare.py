"""Dataset -> recordings -> 50 Hz windows, with a summary of what was kept and dropped, cached on disk."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge.cache import cache_key, content_hash, default_cache_dir, load_windows, save_windows
from mujo_edge.channels import ChannelSelection
from mujo_edge.config import WindowConfig
from mujo_edge.data.base import DatasetLoader, resolve_root
from mujo_edge.data.provenance import DataFile, DataProvenance, data_files
from mujo_edge.data.registry import get_loader
from mujo_edge.errors import ConfigError
from mujo_edge.recording import GROUP, UNLABELLED, Recording
from mujo_edge.resample import align
from mujo_edge.windows import Windows, concat, window_recording

log = logging.getLogger(__name__)

# progress(done, total, what): called after each part of a dataset is read
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class DatasetSummary:
    """What a dataset holds at the source and after windowing (all durations in seconds)."""

    dataset: str
    root: str
    recordings: int
    subjects: tuple[str, ...]
    samples: int  # as the source held them (all streams), before resampling
    duration_s: float
    native_rate_hz: tuple[float, float, float]  # min, median, max of per-recording measured rates
    channels: tuple[str, ...]
    source_units: tuple[str, ...]
    units: tuple[str, ...]
    too_short: int  # recordings shorter than one window
    merged_duplicates: int  # samples merged because the source repeated a timestamp
    windows: int
    class_windows: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    # subject -> class -> windows (the classes of `class_windows`, zeros included): what choosing folds needs
    subject_class_windows: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetSummary:
        d = dict(d)
        for k in ("subjects", "native_rate_hz", "channels", "source_units", "units"):
            d[k] = tuple(d[k])
        return cls(**d)


@dataclass(frozen=True)
class Prepared:
    windows: Windows
    summary: DatasetSummary
    from_cache: bool
    # the files read, with their content hashes and rates: what a checkpoint records of its data
    provenance: DataProvenance | None = None


def harmonise_classes(recordings: Sequence[Recording], classes: Sequence[str]) -> list[Recording]:
    """Re-index labels so every recording uses `classes` (or, if empty, the sorted union of theirs)."""
    target = tuple(classes) or tuple(sorted({c for r in recordings for c in r.classes}))
    out = []
    for r in recordings:
        if r.classes == target:
            out.append(r)
            continue
        missing = [c for c in r.classes if c not in target]
        if missing:
            raise ConfigError(f"{r.source}: classes {missing} are not among {list(target)}", field="label")
        lut = np.array([target.index(c) for c in r.classes] + [UNLABELLED], dtype=np.int16)
        out.append(
            Recording(
                t=r.t,
                x=r.x,
                channels=r.channels,
                subject=r.subject,
                classes=target,
                labels=lut[r.labels],
                source=r.source,
                recording_id=r.recording_id,
                valid=r.valid,
                meta=r.meta,
            )
        )
    return out


def _align_groups(recordings: list[Recording], config: WindowConfig) -> list[Recording]:
    """Streams of one part that share a GROUP (e.g. watch + phone) become one aligned recording."""
    groups: dict[str, list[Recording]] = {}
    for r in recordings:
        groups.setdefault(r.meta.get(GROUP, r.recording_id + "\0" + r.source), []).append(r)
    return [g[0] if len(g) == 1 else align(g, config) for g in groups.values()]


def load_recordings(
    loader: DatasetLoader,
    root: Path,
    selection: ChannelSelection,
    config: WindowConfig = WindowConfig(),
    progress: Progress | None = None,
) -> list[Recording]:
    """Every recording of the dataset at `root`, channel-selected, grouped streams aligned, one class list."""
    parts = loader.parts(root)
    recordings: list[Recording] = []
    for i, part in enumerate(parts):
        recordings.extend(_align_groups([r.select(selection) for r in loader.read(root, part, selection)], config))
        if progress:
            progress(i + 1, len(parts), part)
    if not recordings:
        raise ConfigError(f"dataset '{loader.spec.name}' at {root} has no recordings", field="root")
    recordings = harmonise_classes(recordings, loader.spec.classes)
    names = recordings[0].channel_names
    for r in recordings:
        if r.channel_names != names:
            raise ConfigError(
                f"{r.source}: channels {r.channel_names} differ from {names}; select channels "
                f"present in every recording",
                field="channels",
            )
    return recordings


def subject_class_windows(windows: Windows) -> dict[str, dict[str, int]]:
    """Windows per subject (natural order) and class name, zeros included, "(no label)" when any window lacks one."""
    names = list(windows.class_counts())
    ids = [UNLABELLED if n == "(no label)" else windows.classes.index(n) for n in names]
    out = {}
    for subject in windows.subjects():
        y = windows.y[windows.subject == subject]
        out[subject] = {n: int((y == i).sum()) for n, i in zip(names, ids)}
    return out


def summarise(name: str, root: Path, recordings: Sequence[Recording], windows: Windows) -> DatasetSummary:
    rates = np.array([r.native_rate_hz() for r in recordings if r.n_samples > 1])
    counts = windows.class_counts()
    first = recordings[0]
    return DatasetSummary(
        dataset=name,
        root=str(root),
        recordings=len(recordings),
        subjects=tuple(windows.subjects()) if len(windows) else tuple(sorted({r.subject for r in recordings})),
        samples=int(sum(r.source_samples for r in recordings)),
        duration_s=float(sum(r.duration_s for r in recordings)),
        native_rate_hz=(float(rates.min()), float(np.median(rates)), float(rates.max()))
        if len(rates)
        else (float("nan"),) * 3,
        channels=first.channel_names,
        source_units=tuple(c.source_unit for c in first.channels),
        units=tuple(c.unit for c in first.channels),
        too_short=sum(1 for r in recordings if r.duration_s < windows.config.window_s),
        merged_duplicates=sum(int(r.meta.get("merged_duplicates", "0")) for r in recordings),
        windows=len(windows),
        class_windows=counts,
        dropped=dict(windows.dropped),
        subject_class_windows=subject_class_windows(windows),
    )


def prepare(
    name: str,
    root: str | Path | None = None,
    *,
    selection: ChannelSelection = ChannelSelection(),
    config: WindowConfig = WindowConfig(),
    cache: bool = True,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> Prepared:
    """Windows of dataset `name` at `root` (see `resolve_root`), from the cache when nothing changed."""
    loader = get_loader(name)
    path = resolve_root(loader.spec, root)
    key_parts = {
        "dataset": name,
        "loader_version": loader.spec.version,
        "root": str(path.resolve()),
        "selection": asdict(selection),
        "window": config.to_dict(),
    }
    # hashed whether or not the cache is used: the hashes are also the data's provenance
    hashed = [(f, content_hash(f)) for f in loader.fingerprint_files(path)]
    files = data_files(path, hashed)
    entry = None
    if cache:
        key = cache_key(key_parts, hashed)
        entry = (cache_dir or default_cache_dir()) / "windows" / f"{name}-{key}.npz"
        hit = load_windows(entry)
        if hit is not None:
            log.info("windows of %s from cache %s", name, entry)
            # a summary cached before the per-subject table existed gets it from the cached windows
            cached = {"subject_class_windows": subject_class_windows(hit[0]), **hit[1]}
            summary = DatasetSummary.from_dict(cached)
            return Prepared(hit[0], summary, from_cache=True, provenance=_provenance(summary, path, files))
    recordings = load_recordings(loader, path, selection, config, progress)
    windows = concat([window_recording(r, config) for r in recordings])
    summary = summarise(name, path, recordings, windows)
    if entry is not None:
        save_windows(entry, windows, summary.to_dict())
    return Prepared(windows, summary, from_cache=False, provenance=_provenance(summary, path, files))


def _provenance(summary: DatasetSummary, root: Path, files: tuple[DataFile, ...]) -> DataProvenance:
    rates = summary.native_rate_hz
    return DataProvenance(
        dataset=summary.dataset,
        root=str(root.resolve()),
        files=files,
        native_rate_hz=None if any(r != r for r in rates) else rates,
        subjects=summary.subjects,
    )
