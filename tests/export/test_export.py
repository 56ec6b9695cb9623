"""Export a tiny classifier to ONNX, TFLite and ExecuTorch (fp32 + int8) and check the bundle and its parity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mujo_edge.bundle import ArtifactStatus, read_bundle
from mujo_edge.errors import ConfigError, LayoutError, UnknownNameError

pytestmark = pytest.mark.export

NAMES = ["onnx-fp32", "onnx-int8", "tflite-fp32", "tflite-int8", "executorch-fp32", "executorch-int8"]


def test_all_six_artifacts_written_and_verified(exported):
    report, events = exported
    assert [r.name for r in report.rows] == NAMES
    assert all(r.status == ArtifactStatus.PASS for r in report.rows), [(r.name, r.status, r.notes) for r in report.rows]
    assert not report.failed
    bundle = read_bundle(report.bundle)  # checks sizes and sha256 of every file
    assert [a.name for a in bundle.usable] == NAMES
    assert {a.engine for a in bundle.usable} == {"onnxruntime", "litert", "executorch"}
    for a in bundle.usable:
        assert bundle.path_of(a).stat().st_size == a.bytes > 0
        assert {"max_abs_logit_diff", "top1_agreement", "macro_f1", "delta_macro_f1"} <= set(a.parity)
    assert events[-1][0] == events[-1][1]  # progress reached its total


def test_fp32_matches_torch_and_int8_agrees(exported):
    report, _ = exported
    for r in report.rows:
        if r.precision == "fp32":
            assert r.max_abs_logit_diff < 1e-3 and r.top1_agreement == 1.0, r
        else:
            assert r.top1_agreement >= 0.9, r
            assert r.bytes < report.row(r.name.replace("int8", "fp32")).bytes
        assert r.delta_macro_f1 == pytest.approx(r.macro_f1 - report.torch_fp32["macro_f1"])


def test_manifest_content(exported, checkpoint, calib):
    report, _ = exported
    m = read_bundle(report.bundle).manifest
    assert m.channels == checkpoint.channels and m.units == ("m/s^2",) * 3
    assert m.labels == ("a", "b", "c") and m.label_texts["c"] == "fast"
    assert m.normaliser == checkpoint.normaliser
    assert m.input_shape == (3, 100) and m.window.length == 100
    assert m.training.held_out == ("5",) and m.training.dataset == "toy"
    assert {"torch", "onnx", "onnxruntime", "executorch", "onnx2tf", "ai-edge-litert"} <= set(m.versions)
    exp = m.metrics["export"]
    assert exp["calibration"]["windows"] == calib.count == 261 and exp["torch_fp32"]["windows"] == 87
    assert "test" in m.metrics["checkpoint"] and m.created
    raw = json.loads((report.bundle / "mujo.json").read_text())
    assert raw["input"]["layout"] == "NCL" and raw["input"]["shape"] == ["batch", 3, 100]
    for name in ("executorch-fp32", "executorch-int8"):  # how much of the graph XNNPACK runs, as numbers
        share = m.artifact(name).parity["xnnpack"]
        assert 0 < share["delegated"] <= share["ops"] and share["subgraphs"] >= 1


def test_files_reload_in_their_runtimes(exported, held):
    """Each file loads again from the bundle and keeps the NCL [1, C, 100] float input."""
    from mujo_edge.export.parity import run_artifact

    report, _ = exported
    bundle = read_bundle(report.bundle)
    for a in bundle.usable:
        assert a.input_dtype == "float32" and a.input_quant is None
        logits = run_artifact(bundle.path_of(a), a, held.x[:4])
        assert logits.shape == (4, 3) and np.isfinite(logits).all()


def test_sqnr_report_worst_first(exported):
    report, _ = exported
    values = [e.sqnr_db for e in report.sqnr]
    assert len(values) >= 8 and values == sorted(values)
    assert all(math.isfinite(v) and v > 10 for v in values)
    assert {"Gemm", "Gelu"} <= {e.op for e in report.sqnr} and any("Conv" in e.op for e in report.sqnr)


def test_int8_needs_calibration(checkpoint, held, checkpoint_file, tmp_path):
    from mujo_edge.export.pipeline import export_checkpoint, export_classifier

    with pytest.raises(ConfigError) as e:
        export_classifier(checkpoint, tmp_path, test=held, calib=None, formats=("onnx",))
    assert e.value.field == "calib"
    with pytest.raises(ConfigError):
        export_checkpoint(checkpoint_file, tmp_path, int8=True, calib=None)
    with pytest.raises(UnknownNameError):
        export_classifier(checkpoint, tmp_path, test=held, int8=False, formats=("coreml",))


def test_failing_format_is_recorded_and_the_rest_written(checkpoint, held, calib, tmp_path, monkeypatch):
    import onnx2tf

    from mujo_edge.export.pipeline import export_classifier

    def broken(**kwargs):
        raise RuntimeError("converter exploded")

    monkeypatch.setattr(onnx2tf, "convert", broken)
    report = export_classifier(checkpoint, tmp_path / "b", test=held, calib=calib, formats=("onnx", "tflite"))
    status = {r.name: r.status for r in report.rows}
    assert status == {
        "onnx-fp32": ArtifactStatus.PASS,
        "onnx-int8": ArtifactStatus.PASS,
        "tflite-fp32": ArtifactStatus.EXPORT_FAILED,
        "tflite-int8": ArtifactStatus.EXPORT_FAILED,
    }
    assert "converter exploded" in report.row("tflite-int8").notes and report.failed
    bundle = read_bundle(report.bundle)
    assert [a.name for a in bundle.usable] == ["onnx-fp32", "onnx-int8"]
    assert not list(report.bundle.glob("*.tflite"))


def test_tflite_int8_io(checkpoint, held, calib, tmp_path):
    from mujo_edge.export.pipeline import export_classifier

    report = export_classifier(checkpoint, tmp_path, test=held, calib=calib, formats=("tflite",), int8_io=True)
    a = read_bundle(report.bundle).manifest.artifact("tflite-int8")
    assert a.input_dtype == a.output_dtype == "int8"
    assert a.input_quant[0] > 0 and -128 <= a.input_quant[1] <= 127 and a.output_quant[0] > 0
    assert a.parity["top1_agreement"] >= 0.9


def test_tflite_int8_with_dynamic_activations(checkpoint, held, calib, tmp_path):
    """int8 weights, activations quantised per inference: float I/O, said in the manifest, parity as fp32's."""
    from mujo_edge.errors import ConfigError
    from mujo_edge.export.pipeline import export_classifier

    report = export_classifier(
        checkpoint, tmp_path / "dyn", test=held, calib=calib, formats=("tflite",), int8_activations="dynamic"
    )
    manifest = read_bundle(report.bundle).manifest
    dyn, fp32 = manifest.artifact("tflite-int8"), manifest.artifact("tflite-fp32")
    assert dyn.activations == "dynamic" and fp32.activations == "" and "dynamic-range" in dyn.notes
    assert dyn.input_dtype == dyn.output_dtype == "float32" and dyn.input_quant is None
    assert dyn.status == "pass" and dyn.bytes < 0.5 * fp32.bytes  # int8 weights
    assert abs(dyn.parity["macro_f1"] - fp32.parity["macro_f1"]) <= 0.005
    assert {r.precision for r in report.rows} == {"fp32", "int8-dyn"}
    with pytest.raises(ConfigError, match="int8-io"):
        export_classifier(
            checkpoint,
            tmp_path / "x",
            test=held,
            calib=calib,
            formats=("tflite",),
            int8_io=True,
            int8_activations="dynamic",
        )
    with pytest.raises(ConfigError, match="static, dynamic"):
        export_classifier(
            checkpoint, tmp_path / "y", test=held, calib=calib, formats=("tflite",), int8_activations="half"
        )


def test_calibration_file_checks(checkpoint, calib_file, tmp_path):
    from mujo_edge.export.calibration import file_calibration, load_window_file, sample

    x = load_window_file(calib_file, checkpoint)
    assert x.dtype == np.float32 and x.shape[1:] == (3, 100)
    assert abs(float(x[:, 0].mean())) < 0.2  # z-scored with the checkpoint's normaliser
    small = file_calibration(checkpoint, calib_file, n=50)
    again = file_calibration(checkpoint, calib_file, n=50)
    assert small.count == 50 and np.array_equal(small.x, again.x) and "50 of 261" in small.source
    assert len(sample(x, 10**6)) == len(x)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 100, 3), np.float32))  # NLC instead of NCL
    with pytest.raises(LayoutError):
        load_window_file(bad, checkpoint)
    npz = tmp_path / "ok.npz"
    np.savez(npz, x=np.load(calib_file)[:5])
    assert load_window_file(npz, checkpoint).shape == (5, 3, 100)


@pytest.mark.parametrize("axes_as_channels", [False, True])
def test_export_graph_equals_classifier(axes_as_channels):
    """The 1-D export graph computes the training classifier's function (two streams, acc + gyro)."""
    import torch

    from mujo_edge.export.graph import export_module
    from mujo_edge.training.finetune import FinetuneConfig, build_classifier
    from mujo_edge.training.models import ArchConfig

    channels = [f"wrist_{s}_{a}" for s in ("acc", "gyro") for a in "xyz"]
    groups = (3, 1, 1) if axes_as_channels else (1, 1, 1)
    arch = ArchConfig(
        sensor_channels=(6, 8, 8),
        sensor_groups=groups,
        sensor_axes_as_channels=axes_as_channels,
        sensor_dim=32,
        proj_dim=16,
        proj_layers=2,
    )
    clf = build_classifier(channels, 4, FinetuneConfig(regime="baseline", head_hidden=8), arch=arch).eval()
    x = torch.randn(5, 6, 100)
    assert torch.allclose(export_module(clf)(x), clf(x), atol=1e-5)


def test_sqnr_formula():
    from mujo_edge.export.parity import judge, sqnr_db

    ref = np.ones(100)
    assert sqnr_db(ref, ref) == float("inf")
    assert sqnr_db(ref, ref + 0.1) == pytest.approx(20.0)
    assert judge({"delta_macro_f1": -0.01}, 0.01) == ArtifactStatus.PASS
    assert judge({"delta_macro_f1": -0.02}, 0.01) == ArtifactStatus.FAILED_PARITY


def test_cli_exit_code_when_parity_impossible(checkpoint, held, calib, checkpoint_file, monkeypatch):
    import typer
    from typer.testing import CliRunner

    import mujo_edge.export.pipeline as pipeline
    from mujo_edge.cli.export import export

    def fake_export_checkpoint(path, out, **kwargs):  # toy data is no registered dataset: give windows directly
        kwargs.pop("data_root")
        kwargs["calib"] = calib if kwargs.pop("calib") else None
        return pipeline.export_classifier(checkpoint, out, test=held, **kwargs)

    monkeypatch.setattr(pipeline, "export_checkpoint", fake_export_checkpoint)
    app = typer.Typer()
    app.command()(export)
    app.command("other")(lambda: None)  # two commands, so `export` is a subcommand as in mujo-edge
    runner = CliRunner()
    result = runner.invoke(
        app, ["export", str(checkpoint_file), "--format", "onnx", "--int8", "--calib", "x.npy", "--max-f1-drop", "-1"]
    )
    assert result.exit_code == 1, result.output
    assert "exported-but-failed" in result.output and "SQNR" in result.output
    assert (checkpoint_file.parent / "bundle" / "mujo.json").is_file()
    ok = runner.invoke(
        app,
        [
            "export",
            str(checkpoint_file),
            "--format",
            "onnx",
            "--out",  # fp32 by default
            str(checkpoint_file.parent / "b2"),
        ],
    )
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["export", str(checkpoint_file), "--format", "coreml"])
    assert bad.exit_code != 0 and isinstance(bad.exception, ConfigError)
