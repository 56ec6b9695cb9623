"""A bundle whose manifest disagrees with its model file (channels, window length, labels) is refused when the
model loads, by `Recognizer.from_bundle` and by `bundle inspect`, instead of failing at the first window; and a
recognizer opened from a .zip removes what it unpacked when it closes (issue 15)."""

import importlib.util
import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mujo_edge.bundle import MANIFEST, Artifact, BundleError, read_bundle, write_manifest, zip_bundle
from mujo_edge.cli.runtime import bundle_app
from mujo_edge.config import WindowConfig
from mujo_edge.default_model import bundle_path
from mujo_edge.normalise import Normaliser
from mujo_edge.runtime import Recognizer
from mujo_edge.runtime.recognizer import check_models

_spec = importlib.util.spec_from_file_location("_rtfx", Path(__file__).with_name("runtime_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
fx = fx.load()

app = typer.Typer(pretty_exceptions_enable=False)
app.add_typer(bundle_app, name="bundle")
runner = CliRunner()


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> Path:
    """The fixtures' linear model as ONNX: [batch, 3, 100] -> [batch, 3] (onnx.helper only, no converter)."""
    return fx.build_onnx(tmp_path_factory.mktemp("model") / "model.onnx")


def _onnx_bundle(folder: Path, model: Path, **changes) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(model, folder / "model.onnx")
    manifest = fx.manifest([Artifact("onnx-fp32", "onnx", "fp32", "model.onnx", "onnxruntime")])
    write_manifest(folder, replace(manifest, **changes))
    return folder


def _refused_on_load(folder: Path, field: str, engine: str | None = None) -> BundleError:
    read_bundle(folder)  # the manifest alone is consistent: only the model file contradicts it
    with pytest.raises(BundleError) as e:
        Recognizer.from_bundle(folder, engine=engine)
    assert e.value.field == field and "\n" not in str(e.value)
    r = runner.invoke(app, ["bundle", "inspect", str(folder)])
    assert r.exit_code != 0 and isinstance(r.exception, BundleError) and r.exception.field == field
    return e.value


def _four_channels() -> dict:
    channels = (*fx.CHANNELS, "wrist_gyro_x")
    return dict(
        channels=channels, units=("m/s^2",) * 3 + ("rad/s",), normaliser=Normaliser(channels, (0.0,) * 4, (1.0,) * 4)
    )


def test_more_channels_than_the_model_takes_are_refused_on_load(onnx_model, tmp_path):
    e = _refused_on_load(_onnx_bundle(tmp_path / "b", onnx_model, **_four_channels()), "input.shape")
    assert "[?, 3, 100]" in str(e) and "[batch, 4, 100]" in str(e) and "model.onnx" in str(e)


def test_another_window_length_is_refused_on_load(onnx_model, tmp_path):
    folder = _onnx_bundle(tmp_path / "b", onnx_model, window=WindowConfig(length=120, step=60))
    _refused_on_load(folder, "input.shape")


def test_more_labels_than_the_model_outputs_are_refused_on_load(onnx_model, tmp_path):
    folder = _onnx_bundle(tmp_path / "b", onnx_model, labels=(*fx.LABELS, "jump"))
    e = _refused_on_load(folder, "labels")
    assert "4 labels" in str(e)


def test_a_litert_model_is_checked_too(tmp_path):
    """The shipped int8 TFLite model ([1, 3, 100] -> [1, 7]) under a manifest with a longer window."""
    src = bundle_path()
    folder = tmp_path / "b"
    shutil.copytree(src, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    data = json.loads((folder / MANIFEST).read_text())
    data["window"].update(length=150, step=75)
    data["input"]["shape"] = ["batch", 3, 150]
    (folder / MANIFEST).write_text(json.dumps(data))
    pytest.importorskip("ai_edge_litert")
    _refused_on_load(folder, "input.shape", engine="litert")


def test_a_consistent_bundle_reports_its_models_checked(onnx_model, tmp_path):
    folder = _onnx_bundle(tmp_path / "b", onnx_model)
    with read_bundle(folder) as bundle:
        assert check_models(bundle) == {"onnx-fp32": True}
    with Recognizer.from_bundle(folder) as rec:
        assert rec.engine.input_shape == (None, 3, 100) and rec.engine.output_shape == (None, 3)
    r = runner.invoke(app, ["bundle", "inspect", str(folder), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["models_checked"] == {"onnx-fp32": True}
    with read_bundle(bundle_path()) as shipped:
        assert set(check_models(shipped)) == {"tflite-int8"}


def test_a_recognizer_removes_its_unpacked_zip_when_closed(onnx_model, tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    z = zip_bundle(_onnx_bundle(tmp_path / "b", onnx_model), tmp_path / "b.zip")
    rec = Recognizer.from_bundle(z)
    assert len(list(tmp.iterdir())) == 1
    x = fx.random_windows(4)
    assert rec.predict_windows(x)[0].shape == (4,)
    rec.close()
    assert list(tmp.iterdir()) == []
    with Recognizer.from_bundle(z) as rec:
        rec.predict_windows(x)
    assert list(tmp.iterdir()) == []
    bad = zip_bundle(_onnx_bundle(tmp_path / "c", onnx_model, **_four_channels()), tmp_path / "c.zip")
    with pytest.raises(BundleError):
        Recognizer.from_bundle(bad)  # refused after unpacking: still nothing left
    assert list(tmp.iterdir()) == []


def test_a_bundle_passed_in_stays_open_for_its_owner(onnx_model, tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    z = zip_bundle(_onnx_bundle(tmp_path / "b", onnx_model), tmp_path / "b.zip")
    with read_bundle(z) as bundle:
        Recognizer.from_bundle(bundle).close()
        assert (bundle.folder / "model.onnx").is_file()
    assert list(tmp.iterdir()) == []
