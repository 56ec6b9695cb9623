"""Calibration and held-out windows for export, prepared exactly as the checkpoint was trained.

The dataset is prepared with the checkpoint's own window config and a channel selection rebuilt from its
channel names (same placements and sensors, so the same rows in the same order), relabelled with the same
NULL protocol, and z-scored with the checkpoint's normaliser (never re-fitted). Calibration draws from the
TRAINING subjects of the checkpoint's split; parity is measured on its TEST subjects, which the model never saw.
A file of raw windows (.npy, or .npz with an array "x") can replace the dataset for calibration.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mujo_edge.errors import ConfigError, DataError, DataNotFoundError, LayoutError
from mujo_edge.normalise import Normaliser

if TYPE_CHECKING:
    from mujo_edge.training.checkpoints import ClassifierCheckpoint

log = logging.getLogger(__name__)

DEFAULT_CALIBRATION = 300  # int8 ranges from min/max observers settle well before this on 2-s IMU windows
CALIB_DATASET = "dataset"


@dataclass(frozen=True)
class HeldOut:
    """Z-scored windows x float32 [N, C, L] with labels y int64 [N] (class indices of the checkpoint)."""

    x: np.ndarray
    y: np.ndarray
    subjects: tuple[str, ...]


@dataclass(frozen=True)
class Calibration:
    """Z-scored calibration windows x float32 [N, C, L]; `source` says where they came from."""

    x: np.ndarray
    source: str

    @property
    def count(self) -> int:
        return len(self.x)


def sample(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """At most `n` windows, drawn without replacement by a seeded generator, kept in their original order."""
    if len(x) <= n:
        return x
    idx = np.sort(np.random.default_rng(seed).choice(len(x), size=n, replace=False))
    return x[idx]


def checkpoint_normaliser(ckpt: ClassifierCheckpoint) -> Normaliser:
    norm = ckpt.normaliser
    if tuple(norm.channels) != ckpt.channels:
        raise LayoutError(
            f"normaliser channels {norm.channels} differ from the input channels {list(ckpt.channels)}",
            field="normaliser",
        )
    return norm


def load_window_file(path: str | Path, ckpt: ClassifierCheckpoint) -> np.ndarray:
    """Raw (SI-unit, not z-scored) windows [N, C, L] from .npy / .npz ("x"), z-scored with the checkpoint's
    normaliser. Pickles are refused (allow_pickle=False)."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError("calibration file not found", path=p)
    try:
        data = np.load(p, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            if "x" not in data.files:
                raise LayoutError(f"the .npz needs an array 'x' (has {data.files})", path=p, field="x")
            data = data["x"]
    except ValueError as e:
        raise DataError(f"not a numpy array file: {e}", path=p) from None
    channels, length = len(ckpt.channels), int(ckpt.window["length"])
    if data.ndim != 3 or data.shape[1:] != (channels, length):
        raise LayoutError(
            f"windows must be [N, {channels}, {length}] (NCL, channels {list(ckpt.channels)}), got {list(data.shape)}",
            path=p,
        )
    if len(data) == 0 or not np.isfinite(data).all():
        raise DataError("windows must be finite and at least one", path=p)
    return checkpoint_normaliser(ckpt).apply(data.astype(np.float32))


def prepare_like_training(ckpt: ClassifierCheckpoint, root: str | Path | None = None) -> Any:
    """The checkpoint's dataset as `Windows` (raw SI units), relabelled exactly as for training: read from `root`,
    else from where training read it (the checkpoint records it), warning when the files differ."""
    from mujo_edge.channels import Channel, ChannelSelection
    from mujo_edge.config import WindowConfig
    from mujo_edge.data.prepare import prepare
    from mujo_edge.data.provenance import recorded_root, warn_if_changed
    from mujo_edge.data.registry import get_loader
    from mujo_edge.windows import NULL_CLASS, null_labels

    dataset = ckpt.dataset
    spec = get_loader(dataset).spec  # UnknownNameError when the dataset is not registered
    parsed = [Channel.parse(c) for c in ckpt.channels]
    selection = ChannelSelection(
        placements=tuple(dict.fromkeys(c.placement for c in parsed)),
        sensors=tuple(dict.fromkeys(c.sensor for c in parsed)),
    )
    root = recorded_root(ckpt.data, dataset, root) or root
    prepared = prepare(dataset, root, selection=selection, config=WindowConfig.from_dict(dict(ckpt.window)))
    warn_if_changed(ckpt.data, prepared.provenance)
    windows = prepared.windows
    if ckpt.finetune.get("split_by") == "recording":  # the split names recordings (see `classifier_checkpoint`)
        windows = replace(windows, subject=windows.recording.copy())
    classes = list(ckpt.classes)
    windows = null_labels(windows, spec.null_classes, with_null=bool(classes) and classes[-1] == NULL_CLASS)
    if list(windows.classes) != classes:
        raise DataError(
            f"the dataset's classes {list(windows.classes)} differ from the checkpoint's {classes}", field="classes"
        )
    if tuple(windows.channels) != ckpt.channels:
        missing = [c for c in ckpt.channels if c not in windows.channels]
        if missing:
            raise DataError(f"the dataset lacks channels {missing}", field="channels")
        # same channels, other order: take the checkpoint's order
        windows = windows.with_channels(ckpt.channels)
    return windows


def _subjects(ckpt: ClassifierCheckpoint, part: str) -> Sequence[str]:
    subjects = list(ckpt.split.get(part, ()))
    if not subjects:
        raise ConfigError(f"the checkpoint records no {part} subjects", field=f"split.{part}")
    return subjects


def dataset_calibration(
    ckpt: ClassifierCheckpoint, windows: Any, n: int = DEFAULT_CALIBRATION, seed: int = 0
) -> Calibration:
    """`n` windows of the checkpoint's training subjects (seeded draw), z-scored with its normaliser."""
    train = windows.for_subjects(_subjects(ckpt, "train"))
    if len(train) == 0:
        raise DataError("no windows of the checkpoint's training subjects in the dataset", field="split.train")
    x = checkpoint_normaliser(ckpt).apply(sample(train.x, n, seed))
    if len(x) < n:
        log.warning("only %d calibration windows (asked for %d)", len(x), n)
    return Calibration(x, f"{ckpt.dataset} training subjects, {len(x)} of {len(train)} windows")


def file_calibration(
    ckpt: ClassifierCheckpoint, path: str | Path, n: int = DEFAULT_CALIBRATION, seed: int = 0
) -> Calibration:
    """`n` windows (seeded draw) of a raw-window file, z-scored with the checkpoint's normaliser."""
    x = load_window_file(path, ckpt)
    chosen = sample(x, n, seed)
    return Calibration(chosen, f"file {Path(path).name}, {len(chosen)} of {len(x)} windows")


def held_out(ckpt: ClassifierCheckpoint, windows: Any) -> HeldOut:
    """The checkpoint's test-subject windows, z-scored, with labels."""
    subjects = _subjects(ckpt, "test")
    test = windows.for_subjects(subjects)
    if len(test) == 0:
        raise DataError(f"no windows of the test subjects {subjects} in the dataset", field="split.test")
    return HeldOut(checkpoint_normaliser(ckpt).apply(test.x), test.y.astype(np.int64), tuple(subjects))
