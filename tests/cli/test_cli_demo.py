"""`mujo-edge demo` end to end on the embedded bundle, and what the demo library (mujo_edge.runtime.demo) refuses."""

import subprocess
import sys

import numpy as np
import pytest

from mujo_edge.bundle import read_bundle
from mujo_edge.config import WindowConfig
from mujo_edge.default_model import bundle_path
from mujo_edge.errors import ConfigError
from mujo_edge.runtime.demo import DemoStream, demo_stream, window_truth


@pytest.fixture(scope="module")
def manifest():
    return read_bundle(bundle_path()).manifest


def test_demo_runs_end_to_end_on_an_unseen_subject(shared_data):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mujo_edge",
            "demo",
            "--sets",
            "3",
            "--speed",
            "40",
            "--quiet",
            "--data",
            str(shared_data / "spar_watch"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "against the recording's labels" in out and "0.00 % loss" in out and "tflite-int8" in out
    accuracy = float(out.split("per window")[1].split()[1].strip("│"))
    assert accuracy > 0.5  # 3 sets of a subject the model never saw; chance is 1/7


def test_demo_stream_is_the_unseen_subjects_sets(manifest, shared_data):
    unseen = manifest.training.held_out
    stream = demo_stream(manifest, shared_data / "spar_watch", None, 4)
    assert stream.subject == unseen[0] and stream.sets == 4
    assert stream.xyz.shape == (len(stream.t), 3) and len(stream.labels) == len(stream.t)
    np.testing.assert_allclose(np.diff(stream.t), 1 / manifest.window.rate_hz)


def test_demo_refuses_a_subject_the_model_trained_on(manifest, shared_data):
    seen = manifest.training.split.train[0]
    with pytest.raises(ConfigError, match="trained or validated on subject"):
        demo_stream(manifest, shared_data / "spar_watch", str(seen), None)


def test_window_truth_uses_the_training_purity_rule():
    labels = np.array(["A"] * 150 + ["B"] * 150)
    stream = DemoStream("1", np.arange(300) / 50, np.zeros((300, 3)), labels, 2, "test")
    w = WindowConfig()
    # 100-sample windows at 1 s (all A), 2 s (50 A + 50 B: no label covers 60 %), 3 s (all B), 5 s (too short)
    assert window_truth(stream, np.array([1.0, 2.0, 3.0, 5.0]), w) == ["A", None, "B", None]
