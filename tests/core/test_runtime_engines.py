"""Engines (`mujo_edge.runtime.engines`): each runs its model file to the logits numpy expects."""

import importlib.util
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mujo_edge.bundle import Artifact, BundleError
from mujo_edge.errors import UnknownNameError
from mujo_edge.runtime.engines import (
    ENGINES,
    Engine,
    EngineSpec,
    EngineUnavailableError,
    dequantise,
    load_engine,
    quantise,
)

_spec = importlib.util.spec_from_file_location("_rtfx", Path(__file__).with_name("runtime_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
fx = fx.load()

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.getbasetemp() / "runtime-models"
    fx.models(d)
    return d


def _normalised(x):
    return ((x - np.array(fx.MEAN, np.float32)[:, None]) / np.array(fx.STD, np.float32)[:, None]).astype(np.float32)


@pytest.mark.parametrize("name", ["onnx-fp32", "tflite-fp32", "executorch-fp32"])
def test_fp32_engines_match_numpy(model_dir, name):
    art = fx.models(model_dir)[name]
    engine = load_engine(art.engine, model_dir / art.file, art, threads=2)
    assert isinstance(engine, Engine) and engine.name == art.engine
    x = fx.random_windows(70, seed=5)  # more than ExecuTorch's planned batch of 64: chunked
    for batch in (x[:1], x):
        out = engine.run(_normalised(batch))
        assert out.dtype == np.float32 and out.shape == (len(batch), fx.K)
        np.testing.assert_allclose(out, fx.reference_logits(batch), atol=1e-4)


def test_tflite_int8_io_is_quantised_and_dequantised(model_dir):
    art = fx.models(model_dir)["tflite-int8"]
    engine = load_engine("litert", model_dir / art.file, art)
    assert engine.max_batch == 1  # fixed batch: run window by window
    x = fx.random_windows(40, seed=9)
    out = engine.run(_normalised(x))
    ref = fx.reference_logits(x)
    assert out.dtype == np.float32 and out.shape == (40, fx.K)
    assert np.abs(out - ref).max() < 10 * art.output_quant[0]  # a few quantisation steps
    assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.95


def test_int8_manifest_mismatch_is_a_bundle_error(model_dir):
    art = fx.models(model_dir)["tflite-int8"]
    wrong = replace(art, input_dtype="float32", output_dtype="float32", input_quant=None, output_quant=None)
    with pytest.raises(BundleError) as e:
        load_engine("litert", model_dir / art.file, wrong)
    assert e.value.field == "artifacts.tflite-int8.input_dtype"


def test_fixed_batch_models_are_chunked_and_padded(tmp_path):
    x = fx.random_windows(5, seed=2)
    onnx1 = fx.build_onnx(tmp_path / "b1.onnx", batch=1)
    a = Artifact("onnx-b1", "onnx", "fp32", onnx1.name, "onnxruntime")
    e = load_engine("onnxruntime", onnx1, a)
    assert e.max_batch == 1
    np.testing.assert_allclose(e.run(_normalised(x)), fx.reference_logits(x), atol=1e-4)
    tfl2 = fx.build_tflite(tmp_path / "b2.tflite", batch=2)
    a = Artifact("tflite-b2", "tflite", "fp32", tfl2.name, "litert")
    e = load_engine("litert", tfl2, a)
    assert e.max_batch == 2
    np.testing.assert_allclose(e.run(_normalised(x)), fx.reference_logits(x), atol=1e-4)


def test_quantise_round_trip():
    x = np.linspace(-3, 3, 101, dtype=np.float32)
    q = quantise(x, 0.05, 3, np.int8)
    assert q.dtype == np.int8
    assert np.abs(dequantise(q, 0.05, 3) - np.clip(x, (-128 - 3) * 0.05, (127 - 3) * 0.05)).max() <= 0.025 + 1e-6
    assert quantise(np.array([100.0], np.float32), 0.05, 3, np.int8)[0] == 127  # clipped, not wrapped


def test_missing_engine_names_the_install():
    spec = EngineSpec(
        "litert", ("no_such_module_for_mujo",), "pip install 'mujo-edge[litert]'", loader=ENGINES.get("litert").loader
    )
    with pytest.raises(EngineUnavailableError) as e:
        spec.import_module()
    assert e.value.engine == "litert" and "mujo-edge[litert]" in str(e.value)
    assert "no_such_module_for_mujo" in str(e.value)
    with pytest.raises(UnknownNameError, match="onnxruntime"):
        ENGINES.get("tensorrt")
    assert ENGINES.names() == ["litert", "executorch", "onnxruntime"]
    assert ENGINES.get("executorch").needs_torch and not ENGINES.get("litert").needs_torch


def test_corrupt_model_file_is_a_bundle_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(BundleError, match="ONNX Runtime") as e:
        load_engine("onnxruntime", bad, Artifact("onnx-fp32", "onnx", "fp32", "bad.onnx", "onnxruntime"))
    assert "bad.onnx" in str(e.value)


def test_runtime_sources_never_import_torch():
    files = [*sorted((REPO / "mujo_edge" / "runtime").glob("*.py")), REPO / "mujo_edge" / "cli" / "runtime.py"]
    assert len(files) >= 5
    for f in files:
        assert not re.search(r"import torch", f.read_text()), f
