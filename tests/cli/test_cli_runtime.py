"""`predict` and `bundle inspect` (mujo_edge.cli.runtime) on a local Typer app, as the lead wires them, and the
timeline they print (mujo_edge.runtime.timeline)."""

import importlib.util
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mujo_edge.bundle import Artifact, ArtifactStatus, BundleError
from mujo_edge.cli.runtime import bundle_app, predict
from mujo_edge.errors import ConfigError, UnknownNameError
from mujo_edge.metrics import accuracy, macro_f1

_path = Path(__file__).resolve().parents[1] / "core" / "runtime_fixtures.py"
_spec = importlib.util.spec_from_file_location("_rtfx", _path)
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
fx = fx.load()

app = typer.Typer(pretty_exceptions_enable=False)
app.command("predict")(predict)
app.add_typer(bundle_app, name="bundle")
runner = CliRunner()
WIDE = {"COLUMNS": "200"}


@pytest.fixture(scope="session")
def bundle(tmp_path_factory):
    models = tmp_path_factory.getbasetemp() / "runtime-models"
    failed = Artifact(
        "onnx-int8",
        "onnx",
        "int8",
        None,
        "onnxruntime",
        status=ArtifactStatus.EXPORT_FAILED,
        notes="no ConvInteger kernel",
    )
    return fx.make_bundle(
        tmp_path_factory.mktemp("cli") / "bundle", models, ["tflite-fp32", "onnx-fp32"], extra=[failed]
    )


@pytest.fixture(scope="session")
def csv_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("csv")
    fx.write_csv(folder / "alice.csv", fx.recording(rate=50.0, seconds=30, seed=1))
    bob = fx.recording(rate=100.0, seconds=30, seed=2, gap_at_s=12.0, gap_s=2.0)
    fx.write_csv(folder / "bob.csv", bob)
    return folder


def test_macro_f1_by_hand():
    t = ["a", "a", "b", "b", "c"]
    p = ["a", "b", "b", "b", "a"]
    # a: tp1 fp1 fn1 -> 0.5; b: tp2 fp1 fn0 -> 0.8; c: tp0 fn1 -> 0
    assert macro_f1(t, p) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert accuracy(t, p) == pytest.approx(0.6)
    assert macro_f1(["a"], ["a"]) == 1.0


def test_predict_csv_prints_a_timeline_and_f1(bundle, csv_folder):
    r = runner.invoke(app, ["predict", str(bundle), "--data", str(csv_folder / "alice.csv")], env=WIDE)
    assert r.exit_code == 0, r.output
    for text in ("tflite-fp32", "litert", "curl", "squat", "rest", "biceps curl", "macro-F1", "accuracy"):
        assert text in r.output
    # 30 s of 8 s activities: a handful of segments, not one row per window
    rows = [line for line in r.output.splitlines() if "biceps curl" in line or "resting" in line]
    assert 2 <= len(rows) <= 8


def test_predict_json_on_a_dataset_with_subjects(bundle, csv_folder):
    r = runner.invoke(
        app,
        [
            "predict",
            str(bundle),
            "--data",
            "csv",
            "--root",
            str(csv_folder),
            "--engine",
            "onnxruntime",
            "--subjects",
            "s1",
            "--smoothing",
            "3",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["artifact"] == "onnx-fp32" and out["engine"] == "onnxruntime" and out["smoothing"] == 3
    assert len(out["recordings"]) == 2  # both files carry subject s1
    m = out["metrics"]
    assert m["macro_f1"] > 0.9 and m["accuracy"] > 0.9 and "smoothed" in m
    bob = next(rec for rec in out["recordings"] if rec["source"].endswith("bob.csv"))
    starts = [w["start_s"] - bob["t0"] for w in bob["windows"]]
    assert not any(10.5 < s < 14.0 for s in starts)  # no window across the 2 s pause
    assert sum(s["windows"] for s in bob["segments"]) == len(bob["windows"])


def test_predict_errors(bundle, csv_folder, tmp_path):
    r = runner.invoke(app, ["predict", str(bundle), "--data", "no_such_dataset"])
    assert isinstance(r.exception, UnknownNameError)
    r = runner.invoke(app, ["predict", str(bundle), "--data", str(csv_folder), "--subjects", "zed"])
    assert isinstance(r.exception, ConfigError) and "zed" in str(r.exception)
    r = runner.invoke(app, ["predict", str(bundle), "--data", str(csv_folder), "--artifact", "onnx-int8"])
    assert isinstance(r.exception, BundleError) and "failed to export" in str(r.exception)
    ankle = tmp_path / "ankle.csv"
    ankle.write_text(
        "timestamp,ankle_acc_x,ankle_acc_y,ankle_acc_z\n" + "".join(f"{i / 50},0,0,9.8\n" for i in range(300))
    )
    r = runner.invoke(app, ["predict", str(bundle), "--data", str(ankle)])
    assert isinstance(r.exception, ConfigError)


def test_bundle_inspect_table_and_json(bundle):
    r = runner.invoke(app, ["bundle", "inspect", str(bundle)], env=WIDE)
    assert r.exit_code == 0, r.output
    for text in (
        "[batch, 3, 100]",
        "NCL",
        "50 Hz",
        "100 samples",
        "wrist_acc_x",
        "m/s^2",
        "biceps curl",
        "tflite-fp32",
        "onnx-fp32",
        "export-failed",
        "ConvInteger",
        "synthetic",
        "0.97",
    ):
        assert text in r.output, text
    r = runner.invoke(app, ["bundle", "inspect", str(bundle), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["verified"] is True and out["labels"] == list(fx.LABELS)
    assert [a["name"] for a in out["artifacts"]] == ["tflite-fp32", "onnx-fp32", "onnx-int8"]


def test_bundle_inspect_refuses_a_changed_file(bundle, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    with open(copy / "model.onnx", "ab") as f:
        f.write(b"x")
    r = runner.invoke(app, ["bundle", "inspect", str(copy)])
    assert isinstance(r.exception, BundleError) and "model.onnx" in str(r.exception)


def _prediction(start: float, label: str, confidence: float = 0.8):
    from mujo_edge.runtime import Prediction

    other = 1.0 - confidence
    probs = (confidence, other) if label == "a" else (other, confidence)
    index = 0 if label == "a" else 1
    return Prediction(
        label=label,
        index=index,
        probabilities=probs,
        logits=probs,
        start_s=start,
        end_s=start + 2.0,
        latency_s=0.001,
        smoothed_label=label,
        smoothed_index=index,
    )


def test_segments_merge_contiguous_windows_and_break_at_a_label_a_truth_or_a_gap():
    from mujo_edge.runtime.timeline import segments

    starts = [0.0, 1.0, 2.0, 3.0, 6.0, 7.0]  # step 1 s; 3 -> 6 skips two windows (a gap)
    labels = ["a", "a", "a", "b", "b", "b"]
    truth = ["a", "a", "b", "b", "b", None]
    preds = [_prediction(s, lab, 0.6 + 0.1 * i) for i, (s, lab) in enumerate(zip(starts, labels))]
    segs = segments(preds, truth, step_s=1.0)
    assert [(s.start_s, s.end_s, s.label, s.true, s.windows) for s in segs] == [
        (0.0, 3.0, "a", "a", 2),
        (2.0, 4.0, "a", "b", 1),
        (3.0, 5.0, "b", "b", 1),
        (6.0, 8.0, "b", "b", 1),
        (7.0, 9.0, "b", None, 1),
    ]
    assert segs[0].confidence == pytest.approx(0.65)  # mean of 0.6 and 0.7
    assert list(segs[0].to_dict()) == ["start_s", "end_s", "label", "true", "windows", "confidence"]
