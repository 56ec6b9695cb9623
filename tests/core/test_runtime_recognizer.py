"""`Recognizer`: artifact choice, input checks, offline predictions, and streaming equal to offline."""

import importlib.util
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mujo_edge.bundle import Artifact, ArtifactStatus, BundleError, read_bundle
from mujo_edge.channels import Channel
from mujo_edge.errors import ConfigError, SampleError, UnknownNameError
from mujo_edge.recording import Recording
from mujo_edge.runtime import Recognizer, candidate_artifacts
from mujo_edge.windows import window_recording

_spec = importlib.util.spec_from_file_location("_rtfx", Path(__file__).with_name("runtime_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
fx = fx.load()

ALL = ["tflite-int8", "tflite-fp32", "executorch-fp32", "onnx-fp32"]
FAILED = Artifact(
    "onnx-int8", "onnx", "int8", None, "onnxruntime", status=ArtifactStatus.EXPORT_FAILED, notes="no ConvInteger kernel"
)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.getbasetemp() / "runtime-models"
    fx.models(d)
    return d


@pytest.fixture(scope="session")
def bundle(model_dir, tmp_path_factory):
    return fx.make_bundle(tmp_path_factory.mktemp("bundle") / "b", model_dir, ALL, extra=[FAILED])


@pytest.fixture(scope="session")
def onnx(bundle):
    return Recognizer.from_bundle(bundle, engine="onnxruntime")


def test_automatic_choice_and_explicit_choice(bundle):
    assert Recognizer.from_bundle(bundle).artifact.name == "tflite-int8"
    assert Recognizer.from_bundle(bundle, engine="onnxruntime").artifact.name == "onnx-fp32"
    assert Recognizer.from_bundle(bundle, engine="litert").artifact.name == "tflite-int8"
    assert Recognizer.from_bundle(bundle, artifact="tflite-fp32").engine.name == "litert"
    with pytest.raises(UnknownNameError, match="known: litert, executorch, onnxruntime"):
        Recognizer.from_bundle(bundle, engine="tensorrt")
    with pytest.raises(ConfigError, match="runs on 'litert'"):
        Recognizer.from_bundle(bundle, engine="onnxruntime", artifact="tflite-fp32")
    with pytest.raises(BundleError, match="no artifact 'nope'"):
        Recognizer.from_bundle(bundle, artifact="nope")


def test_export_failed_is_refused(bundle):
    with pytest.raises(BundleError, match="failed to export") as e:
        Recognizer.from_bundle(bundle, artifact="onnx-int8")
    assert e.value.field == "artifacts.onnx-int8.status" and "ConvInteger" in str(e.value)


def test_failed_parity_warns_and_ranks_last(model_dir, tmp_path, caplog):
    b = fx.make_bundle(
        tmp_path / "b", model_dir, ["tflite-int8", "onnx-fp32"], status={"tflite-int8": ArtifactStatus.FAILED_PARITY}
    )
    assert [a.name for a in candidate_artifacts(read_bundle(b).manifest)] == ["onnx-fp32", "tflite-int8"]
    with caplog.at_level(logging.WARNING, logger="mujo_edge.runtime.recognizer"):
        r = Recognizer.from_bundle(b, artifact="tflite-int8")
    assert r.artifact.name == "tflite-int8" and "exported-but-failed" in caplog.text


def test_predict_windows_matches_numpy_and_checks_input(onnx):
    x = fx.random_windows(20, seed=11)
    idx, probs = onnx.predict_windows(x)
    ref = fx.reference_logits(x)
    np.testing.assert_array_equal(idx, ref.argmax(1))
    np.testing.assert_allclose(probs.sum(1), 1.0)
    # channels named in another order (and one more) are picked by name
    names = ("wrist_gyro_x", "wrist_acc_z", "wrist_acc_x", "wrist_acc_y")
    shuffled = np.concatenate([np.zeros_like(x[:, :1]), x[:, [2, 0, 1]]], axis=1)
    np.testing.assert_allclose(onnx.predict_windows(shuffled, channels=names)[1], probs, atol=1e-6)
    with pytest.raises(ConfigError) as e:
        onnx.predict_windows(x[:, :2])
    assert "expected 3 channels" in str(e.value) and "got 2" in str(e.value) and e.value.field == "channels"
    with pytest.raises(ConfigError, match="lacks"):
        onnx.predict_windows(x[:, :2], channels=("wrist_acc_x", "wrist_acc_y"))
    with pytest.raises(ConfigError, match="100 samples") as e:
        onnx.predict_windows(x[:, :, :80])
    assert "got 80" in str(e.value)
    bad = x.copy()
    bad[3, 1, 5] = np.nan
    with pytest.raises(SampleError, match="window 3"):
        onnx.predict_windows(bad)
    assert onnx.predict_windows(x[:0])[1].shape == (0, 3)


def test_predict_recording_uses_training_windows(onnx):
    rec = fx.recording(rate=100.0, seconds=40, gap_at_s=17.3, gap_s=1.0, extra_channel=True)
    preds = onnx.predict_recording(rec)
    offline = window_recording(onnx.fit_recording(rec), fx.WINDOW)
    assert [p.start_s for p in preds] == offline.start.tolist()
    np.testing.assert_allclose([p.logits for p in preds], fx.reference_logits(offline.x), atol=1e-4)
    truth = onnx.true_labels(rec, preds)
    scored = [(t, p.label) for t, p in zip(truth, preds) if t is not None]
    assert len(scored) > 0.7 * len(preds)
    assert np.mean([t == p for t, p in scored]) > 0.9  # the linear model recognises the synthetic activity
    p = preds[0]
    assert p.end_s == pytest.approx(p.start_s + 2.0) and p.confidence == max(p.probabilities)
    assert p.latency_s > 0 and p.smoothed_label == p.label


def test_recording_that_does_not_fit_is_refused(onnx):
    rec = fx.recording(rate=50.0, seconds=5)
    other = Recording.create(
        rec.t,
        rec.x,
        [Channel.parse(c) for c in ("ankle_acc_x", "ankle_acc_y", "ankle_acc_z")],
        subject="s",
        source="ankle.csv",
    )
    with pytest.raises(ConfigError, match="lacks") as e:
        onnx.predict_recording(other)
    assert "ankle.csv" in str(e.value) and "wrist_acc_x" in str(e.value)
    slow = fx.recording(rate=2.0, seconds=100)
    with pytest.raises(ConfigError, match="2 Hz") as e:
        onnx.predict_recording(slow)
    assert e.value.field == "sample_rate_hz"
    assert onnx.predict_recording(fx.recording(rate=50.0, seconds=1.5)) == []  # shorter than a window


@pytest.mark.parametrize("engine", ["onnxruntime", "litert"])
@pytest.mark.parametrize("rate,gap", [(100.0, 17.3), (25.0, 9.1)])
def test_streaming_equals_predict_recording(bundle, engine, rate, gap):
    r = Recognizer.from_bundle(bundle, artifact="onnx-fp32" if engine == "onnxruntime" else "tflite-fp32", smoothing=3)
    rec = fx.recording(rate=rate, seconds=45, gap_at_s=gap, gap_s=1.2, jitter=0.3, seed=4)
    offline = r.predict_recording(rec)
    rng = np.random.default_rng(0)
    for mode in ("1", "7", "random"):
        live = r.stream(channels=rec.channel_names)
        got, i = [], 0
        while i < rec.n_samples:
            k = {"1": 1, "7": 7, "random": int(rng.integers(1, 100))}[mode]
            got += live.push(rec.t[i : i + k], rec.x[i : i + k])
            i += k
        got += live.flush()
        assert [p.start_s for p in got] == [p.start_s for p in offline], mode
        np.testing.assert_allclose([p.logits for p in got], [p.logits for p in offline], atol=1e-5)
        assert [p.smoothed_label for p in got] == [p.smoothed_label for p in offline]


def test_smoothing_is_a_majority_over_contiguous_windows(onnx, bundle):
    r = Recognizer.from_bundle(bundle, engine="onnxruntime", smoothing=5)
    rec = fx.recording(rate=50.0, seconds=40, seed=8)
    preds = r.predict_recording(rec)
    raw = [p.index for p in preds]
    for i, p in enumerate(preds):
        window = raw[max(0, i - 4) : i + 1]
        counts = np.bincount(window, minlength=3)
        assert counts[p.smoothed_index] == counts.max()
    with pytest.raises(ConfigError):
        Recognizer.from_bundle(bundle, engine="onnxruntime", smoothing=0)


def test_stream_channel_checks(onnx):
    with pytest.raises(ConfigError, match="lacks"):
        onnx.stream(channels=("wrist_acc_x",))
    live = onnx.stream()
    with pytest.raises(SampleError, match="expected"):
        live.push([0.0], np.zeros((1, 4)))


def test_executorch_recognizer(bundle):
    r = Recognizer.from_bundle(bundle, engine="executorch")
    x = fx.random_windows(3, seed=1)
    logits, _ = r.logits(x)
    np.testing.assert_allclose(logits, fx.reference_logits(x), atol=1e-4)


def test_truncated_bundle_file_is_named(model_dir, tmp_path):
    b = fx.make_bundle(tmp_path / "b", model_dir, ["onnx-fp32"])
    data = (b / "model.onnx").read_bytes()
    (b / "model.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match=r"model\.onnx"):
        Recognizer.from_bundle(b)


_BLOCKED = textwrap.dedent("""
    import json, sys
    sys.modules["torch"] = None  # any attempt to import torch now fails
    import numpy as np
    from mujo_edge.runtime import Recognizer
    sys.path.insert(0, {fixtures!r})
    import runtime_fixtures as fx
    x = fx.random_windows(6, seed=3)
    out = {{}}
    for name in ("onnx-fp32", "tflite-fp32", "tflite-int8"):
        r = Recognizer.from_bundle({bundle!r}, artifact=name)
        out[name] = r.logits(x)[0].tolist()
    out["auto"] = Recognizer.from_bundle({et_first!r}).artifact.name
    live = Recognizer.from_bundle({bundle!r}, engine="onnxruntime").stream()
    rec = fx.recording(rate=50.0, seconds=6)
    out["stream"] = len(live.push(rec.t, rec.x))
    out["reference"] = fx.reference_logits(x).tolist()
    out["torch_loaded"] = sys.modules.get("torch") is not None
    print(json.dumps(out))
""")


def test_runtime_runs_with_torch_blocked(bundle, model_dir, tmp_path):
    et_first = fx.make_bundle(tmp_path / "et", model_dir, ["executorch-fp32", "onnx-fp32"])
    code = _BLOCKED.format(fixtures=str(Path(__file__).parent), bundle=str(bundle), et_first=str(et_first))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    ref = np.array(out["reference"])
    np.testing.assert_allclose(out["onnx-fp32"], ref, atol=1e-4)
    np.testing.assert_allclose(out["tflite-fp32"], ref, atol=1e-4)
    assert (np.argmax(out["tflite-int8"], 1) == ref.argmax(1)).all()
    assert out["auto"] == "onnx-fp32"  # executorch needs torch: skipped
    assert out["stream"] == 5 and out["torch_loaded"] is False
