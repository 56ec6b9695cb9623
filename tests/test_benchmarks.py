"""The benchmark scripts run and write JSON + markdown (timings are reported, never asserted)."""

import json


def test_bench_data_writes_json_and_markdown(tmp_path, shared_data, load_script):
    results = load_script("benchmarks/bench_data.py").main(
        ["--data", str(shared_data), "--out", str(tmp_path), "--repeats", "1", "--hours", "0.01"]
    )
    saved = json.loads((tmp_path / "data.json").read_text())
    assert saved["datasets"]["spar_watch"]["windows"] == 4677
    assert saved["datasets"]["sp_sw_har"]["samples"] == 521_766 - 23_259  # source rows less merged repeats
    assert saved == json.loads(json.dumps(results))
    md = (tmp_path / "data.md").read_text()
    assert "| spar_watch | 140 | 244,102 | 4,677 |" in md


def test_bench_device_runs_every_device_benchmark(tmp_path, shared_data, load_script):
    done = load_script("benchmarks/bench_device.py").main(
        [
            "--root",
            str(shared_data / "spar_watch"),
            "--runs",
            "5",
            "--threads",
            "1",
            "--watches",
            "1",
            "--seconds",
            "3",
            "--out",
            str(tmp_path),
        ]
    )
    assert done == ["formats", "stream", "flops"]
    rows = json.loads((tmp_path / "formats.json").read_text())["rows"]
    assert rows[0]["artifact"] == "tflite-int8" and rows[0]["macro_f1"] > 0.6
    assert json.loads((tmp_path / "stream.json").read_text())["rows"][0]["missing_samples"] == 0
    for name in ("formats.md", "stream.md", "flops-paper.md"):
        assert (tmp_path / name).is_file()
