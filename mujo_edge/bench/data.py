"""Labelled windows for a bundle, prepared as in training (its channels, window config; no normalising:
engines get raw SI windows through the bundle's normaliser)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge.bundle import Manifest
from mujo_edge.errors import ConfigError


def labelled_windows(
    manifest: Manifest, data: str | None = None, root: str | Path | None = None, subjects: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(x float32 [W, C, L] SI, label names [W], description) of windows whose label the bundle knows.

    `data` is a dataset name or a CSV file/folder in the bring-your-own layout; by default the dataset the
    bundle was trained on and its held-out test subjects (`training.split.test`), so scores are honest."""
    from mujo_edge.data.prepare import prepare

    provenance = manifest.training
    data = data or provenance.dataset
    if not data:
        raise ConfigError("the bundle does not name its training dataset: pass --data", field="--data")
    if subjects is None and data == provenance.dataset:
        subjects = provenance.held_out
    is_file = Path(str(data)).exists()
    windows = prepare(
        "csv" if is_file else str(data),
        data if is_file else root,
        selection=manifest.channel_selection(),
        config=manifest.window,
    ).windows
    if subjects:
        windows = windows.for_subjects(list(subjects))
    windows = windows.with_channels(manifest.channels)
    names = np.array([windows.classes[y] if y >= 0 else "" for y in windows.y], dtype=str)
    keep = np.isin(names, np.asarray(manifest.labels, dtype=str))
    if not keep.any():
        raise ConfigError(
            f"no window of {data} carries one of the bundle's labels {list(manifest.labels)}", field="--data"
        )
    info = {"data": str(data), "subjects": sorted(set(windows.subject[keep].tolist())), "windows": int(keep.sum())}
    return windows.x[keep], names[keep], info
