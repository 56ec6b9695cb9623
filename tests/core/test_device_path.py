"""Issue 16, from checkpoint to device: strict JSON everywhere a bundle or a result is written."""

import json
from pathlib import Path

import pytest

import mujo_edge
from mujo_edge.bundle import MANIFEST, Artifact, Manifest, read_bundle, write_manifest
from mujo_edge.config import WindowConfig
from mujo_edge.metrics import UNDEFINED_DEFAULT, UNDEFINED_REASONS, dumps_strict, scores
from mujo_edge.normalise import Normaliser

CHANNELS = ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")


def _strict(text: str):
    """json.loads as a strict parser (JavaScript's JSON.parse, Swift's JSONDecoder) reads it: no NaN/Infinity."""

    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _lacking_a_class() -> dict:
    # three classes, the test windows hold classes 0 and 1 only and nothing is predicted as 2: F1 of 2 is undefined
    return scores([0, 0, 1, 1], [0, 1, 1, 1], 3)


def test_the_shipped_manifest_is_strict_json():
    path = Path(mujo_edge.__file__).parent / "default_model" / MANIFEST
    _strict(path.read_text())


def test_an_undefined_f1_is_null_with_its_reason():
    out = _strict(dumps_strict({"test": _lacking_a_class()}))["test"]
    assert out["f1_per_class"][2] is None and out["f1_per_class"][0] == pytest.approx(2 / 3)
    assert out["f1_per_class_undefined"] == UNDEFINED_REASONS["f1_per_class"]
    assert "macro_f1_undefined" not in out  # a defined score carries no reason


def test_no_scored_window_gives_null_scores_with_reasons():
    out = _strict(dumps_strict({"macro_f1": float("nan"), "latency": float("inf"), "n": 0}))
    assert out == {
        "macro_f1": None,
        "macro_f1_undefined": UNDEFINED_REASONS["macro_f1"],
        "latency": None,
        "latency_undefined": UNDEFINED_DEFAULT,
        "n": 0,
    }


def test_an_exported_manifest_with_a_class_missing_from_the_test_subjects_is_strict_json(tmp_path):
    # the metrics export writes: the checkpoint's test scores and the held-out parity, both lacking class "c"
    metrics = {"checkpoint": {"test": _lacking_a_class()}, "export": {"torch_fp32": {"macro_f1": float("nan")}}}
    (tmp_path / "model.onnx").write_bytes(b"onnx" * 10)
    manifest = Manifest(
        channels=CHANNELS,
        units=("m/s^2",) * 3,
        window=WindowConfig(),
        normaliser=Normaliser(CHANNELS, (0.0, 0.0, 9.8), (1.0, 2.0, 3.0)),
        labels=("a", "b", "c"),
        label_texts={"a": "a", "b": "b", "c": "c"},
        artifacts=(Artifact("onnx-fp32", "onnx", "fp32", "model.onnx", "onnxruntime"),),
        training={"dataset": "x"},
        metrics=metrics,
    )
    data = _strict(write_manifest(tmp_path, manifest).read_text())
    assert data["metrics"]["checkpoint"]["test"]["f1_per_class"][2] is None
    assert data["metrics"]["export"]["torch_fp32"]["macro_f1"] is None
    assert read_bundle(tmp_path).manifest.labels == ("a", "b", "c")  # and the runtime still loads it


def test_dumps_strict_refuses_what_it_cannot_make_strict():
    with pytest.raises(TypeError):
        dumps_strict({"x": object()})


def test_a_missing_data_folder_says_how_to_point_at_one(tmp_path, monkeypatch):
    from mujo_edge.data.base import DATA_ENV, data_home, resolve_root
    from mujo_edge.data.registry import get_loader
    from mujo_edge.errors import DataNotFoundError

    spec = get_loader("hapt").spec
    monkeypatch.delenv(DATA_ENV, raising=False)
    monkeypatch.chdir(tmp_path)  # no ../shared/data from here
    # pretrain resolves the folder of datasets first (data_home) and hands it on, as --data would be
    for data_dir in (data_home(None), None):
        with pytest.raises(DataNotFoundError) as e:
            resolve_root(spec, data_dir=data_dir)
        text = str(e.value)
        assert "--data FOLDER" in text and f"{DATA_ENV}=FOLDER" in text
        assert f"the default, relative to the current folder {tmp_path}" in text
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "env"))
    for data_dir in (data_home(None), None):
        with pytest.raises(DataNotFoundError, match=rf"not found in {tmp_path / 'env'} \(\${DATA_ENV}\)"):
            resolve_root(spec, data_dir=data_dir)
    with pytest.raises(DataNotFoundError, match=r"\(--data\); pass --data FOLDER"):
        resolve_root(spec, data_dir=tmp_path / "mine")
