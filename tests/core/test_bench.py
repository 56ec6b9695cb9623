"""The benchmark suite on a small bundle: every artifact gets a row from its own process, the markdown
table and the --min-f1 floor work, and the XNNPACK share is read from LiteRT's execution plan."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mujo_edge.bench.data import labelled_windows
from mujo_edge.bench.formats import run_matrix, xnnpack_share
from mujo_edge.bench.report import matrix_markdown
from mujo_edge.bench.timing import TimingConfig, latency_stats
from mujo_edge.bundle import read_bundle
from mujo_edge.errors import ConfigError

_spec = importlib.util.spec_from_file_location("_rtfx", Path(__file__).with_name("runtime_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
fx = fx.load()

FAST = TimingConfig(warmup=2, runs=20, batch=8, batch_runs=3, threads=(1,))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    model_dir = tmp_path_factory.getbasetemp() / "runtime-models"
    return fx.make_bundle(tmp_path_factory.mktemp("bench") / "b", model_dir, ["tflite-int8", "onnx-fp32"])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return fx.write_csv(tmp_path_factory.mktemp("bench-data") / "rec.csv", fx.recording(seconds=60))


def test_latency_stats_report_outliers():
    s = latency_stats([0.001] * 99 + [0.1])
    assert s["p50_ms"] == pytest.approx(1.0) and s["outliers"] == 1 and s["worst_ms"] == pytest.approx(100.0)


def test_matrix_rows_per_artifact_with_scores(bundle, data):
    x, y, info = labelled_windows(read_bundle(bundle).manifest, str(data))
    assert x.shape[1:] == (len(fx.CHANNELS), 100) and info["windows"] == len(y) > 20
    rows = run_matrix(bundle, x, y, timing=FAST)
    assert [r["artifact"] for r in rows] == ["tflite-int8", "onnx-fp32"]
    for r in rows:
        assert r["status"] == "ok" and r["macro_f1"] > 0.9 and r["latency"]["n"] == 20
        assert r["peak_rss_mb"] > 10 and r["first_inference_s"] > 0 and r["throughput_wps"] > 0
    assert rows[0]["xnnpack"]["delegated"] >= 1
    md = matrix_markdown(rows, {"bundle": str(bundle)})
    assert md.count("\n| ") == 3 and "tflite-int8" in md


def test_xnnpack_share_counts_the_delegated_ops(bundle):
    b = read_bundle(bundle)
    share = xnnpack_share(b.path_of(b.manifest.artifact("tflite-int8")))
    assert 0 < share["delegated"] <= share["ops"]


def test_data_without_the_bundles_labels_is_refused(bundle, tmp_path):
    rec = fx.recording(seconds=20, labelled=False)
    with pytest.raises(ConfigError, match="labels"):
        labelled_windows(read_bundle(bundle).manifest, str(fx.write_csv(tmp_path / "u.csv", rec)))


def test_cli_writes_json_and_markdown_and_enforces_min_f1(bundle, data, tmp_path):
    base = [
        sys.executable,
        "-m",
        "mujo_edge",
        "bench",
        "formats",
        str(bundle),
        "--data",
        str(data),
        "--runs",
        "10",
        "--warmup",
        "1",
        "--batch",
        "4",
        "--threads",
        "1",
        "--out",
        str(tmp_path),
    ]
    ok = subprocess.run([*base, "--min-f1", "0.5"], capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    payload = json.loads((tmp_path / "formats.json").read_text())
    assert {r["artifact"] for r in payload["rows"]} == {"tflite-int8", "onnx-fp32"}
    assert (tmp_path / "formats.md").read_text().startswith("# Format matrix")
    floor = subprocess.run([*base, "--min-f1", "1.01"], capture_output=True, text=True, timeout=600)
    assert floor.returncode == 1 and "below --min-f1" in floor.stderr
