"""Shared fixtures: where the real data lives, and an isolated cache per test session."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from mujo_edge.channels import triaxial
from mujo_edge.config import WindowConfig
from mujo_edge.recording import Recording
from mujo_edge.windows import concat, window_recording

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the checkout; the real-data tests need it (CI always has it)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"real data not found at {SHARED_DATA}: clone the project next to shared/")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the user's real window cache from tests."""
    monkeypatch.setenv("MUJO_EDGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def load_script() -> Callable[[str], ModuleType]:
    """Import a script by its path relative to the repo (examples/, benchmarks/ are not packages)."""

    def load(relative: str) -> ModuleType:
        path = REPO / relative
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


def toy_windows(subjects=("1", "2", "3", "4", "5"), seed=0):
    """Three classes (sines at 1, 2 and 4 Hz on x; y and z noise); 30 s per class per subject."""
    rng = np.random.default_rng(seed)
    parts = []
    for s in subjects:
        t = np.arange(3 * 1500) / 50
        labels = np.repeat(np.arange(3, dtype=np.int16), 1500)
        freq = np.array([1.0, 2.0, 4.0])[labels]
        x = np.stack([np.sin(2 * np.pi * freq * t), rng.normal(size=len(t)), rng.normal(size=len(t))], axis=1)
        rec = Recording.create(t, x.astype(np.float32) + 0.2 * rng.normal(size=x.shape).astype(np.float32),
                               triaxial("wrist", "acc", "m/s^2"), subject=s, source="toy", classes=("a", "b", "c"),
                               labels=labels)
        parts.append(window_recording(rec, WindowConfig()))
    return concat(parts)


@pytest.fixture(scope="session")
def make_toy():
    """`make_toy(subjects=..., seed=...)` -> labelled toy windows (training and export tests)."""
    return toy_windows
