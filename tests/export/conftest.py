"""A tiny classifier on toy windows, exported once per session (keeps tests/export quick)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mujo_edge.windows import Windows

TRAIN, VAL, TEST = ("1", "2", "3"), ("4",), ("5",)


@pytest.fixture(scope="session")
def toy(make_toy) -> Windows:
    return make_toy(TRAIN + VAL + TEST)


@pytest.fixture(scope="session")
def checkpoint(toy: Windows, make_toy_classifier: Callable[..., Any]) -> Any:
    """A classifier checkpoint of a small model (the real architecture, narrower) trained for a few epochs."""
    from mujo_edge.training.finetune import FinetuneConfig
    from mujo_edge.training.models import ArchConfig

    config = FinetuneConfig(regime="baseline", epochs=8, patience=8, head_hidden=32, augment_deg=0.0, augment_scale=0.0)
    arch = ArchConfig(sensor_channels=(4, 8, 8), sensor_dim=64, proj_dim=32, proj_layers=2)
    return make_toy_classifier(toy, arch, config, (TRAIN, VAL, TEST))


@pytest.fixture(scope="session")
def checkpoint_file(checkpoint: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mujo_edge.training.checkpoints import write_classifier as save_classifier

    return save_classifier(checkpoint, tmp_path_factory.mktemp("ckpt") / "classifier.pt")


@pytest.fixture(scope="session")
def held(checkpoint: dict[str, Any], toy: Windows):
    """The checkpoint's test-subject windows, z-scored (export.calibration.HeldOut)."""
    from mujo_edge.export.calibration import held_out

    return held_out(checkpoint, toy)


@pytest.fixture(scope="session")
def calib_file(toy: Windows, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Raw training-subject windows as a .npy file (toy data is no registered dataset)."""
    path = tmp_path_factory.mktemp("calib") / "calib.npy"
    np.save(path, toy.for_subjects(TRAIN).x)
    return path


@pytest.fixture(scope="session")
def calib(checkpoint: dict[str, Any], calib_file: Path):
    from mujo_edge.export.calibration import file_calibration

    return file_calibration(checkpoint, calib_file)


@pytest.fixture(scope="session")
def exported(checkpoint, held, calib, tmp_path_factory: pytest.TempPathFactory):
    """All three formats, fp32 and int8, exported once."""
    from mujo_edge.export.pipeline import export_classifier

    events: list[tuple[int, int, str]] = []
    report = export_classifier(
        checkpoint,
        tmp_path_factory.mktemp("bundle") / "bundle",
        test=held,
        calib=calib,
        progress=lambda d, t, w: events.append((d, t, w)),
    )
    return report, events
