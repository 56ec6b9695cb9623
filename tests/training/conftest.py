"""Shared toy data for the training tests."""

import numpy as np
import pytest

from mujo_edge.channels import triaxial
from mujo_edge.config import WindowConfig
from mujo_edge.recording import Recording
from mujo_edge.windows import concat, window_recording


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
    """`make_toy(subjects=..., seed=...)` -> labelled toy windows."""
    return toy_windows
