import json

import numpy as np
import pytest

from mujo_edge.channels import triaxial
from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError, DataError, LayoutError
from mujo_edge.normalise import Normaliser
from mujo_edge.recording import Recording
from mujo_edge.windows import window_recording


def windows(offset=0.0, scale=1.0, n=2000, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, 3)) * [1, 2, 3] * scale + [5, -1, offset]).astype(np.float32)
    r = Recording.create(np.arange(n) / 50, x, triaxial("wrist", "acc", "m/s^2"), subject=1, source="r")
    return window_recording(r, WindowConfig())


def test_fit_gives_zero_mean_unit_std_on_training_windows():
    w = windows()
    norm = Normaliser.fit(w)
    z = norm.apply(w.x)
    np.testing.assert_allclose(z.mean(axis=(0, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2)), 1, atol=1e-4)
    assert norm.mean[0] == pytest.approx(5, abs=0.1) and norm.std[2] == pytest.approx(3, rel=0.05)


def test_saved_statistics_are_reapplied_not_refitted(tmp_path):
    norm = Normaliser.fit(windows())
    norm.save(tmp_path / "norm.json")
    loaded = Normaliser.load(tmp_path / "norm.json")
    assert loaded == norm
    other = windows(offset=100.0, scale=5.0, seed=1)  # different data at "inference"
    np.testing.assert_array_equal(loaded.apply(other.x), norm.apply(other.x))
    assert abs(loaded.apply(other.x)[:, 2].mean()) > 10  # the training statistics were used


def test_channel_mismatch_is_an_error():
    norm = Normaliser.fit(windows())
    with pytest.raises(ConfigError, match="do not match"):
        norm.apply(np.zeros((1, 3, 100), np.float32), channels=("a", "b", "c"))
    with pytest.raises(ConfigError, match="channels"):
        norm.apply(np.zeros((1, 4, 100), np.float32))


def test_constant_channel_gets_unit_std():
    r = Recording.create(
        np.arange(500) / 50, np.ones((500, 3), np.float32), triaxial("wrist", "acc", "g"), subject=1, source="r"
    )
    norm = Normaliser.fit(window_recording(r, WindowConfig()))
    assert norm.std == (1.0, 1.0, 1.0)


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        Normaliser.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LayoutError, match="not valid JSON"):
        Normaliser.load(tmp_path / "bad.json")
    (tmp_path / "partial.json").write_text(json.dumps({"kind": "zscore", "channels": ["a"], "mean": [0.0]}))
    with pytest.raises(LayoutError) as e:
        Normaliser.load(tmp_path / "partial.json")
    assert e.value.field == "std"
    (tmp_path / "zero.json").write_text(json.dumps({"kind": "zscore", "channels": ["a"], "mean": [0.0], "std": [0.0]}))
    with pytest.raises(LayoutError, match="std"):
        Normaliser.load(tmp_path / "zero.json")
