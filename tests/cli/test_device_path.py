"""Issue 16, from checkpoint to device, on the command line: sizes in one unit, `predict` on labels the bundle
does not know, `replay --json-out` latencies, where `pretrain` looks for data."""

import importlib.util
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mujo_edge.bundle import read_bundle
from mujo_edge.cli.runtime import bundle_app, human_bytes, predict

_path = Path(__file__).resolve().parents[1] / "core" / "runtime_fixtures.py"
_spec = importlib.util.spec_from_file_location("_rtfx_device_path", _path)
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
fx = fx.load()

app = typer.Typer(pretty_exceptions_enable=False)
app.command("predict")(predict)
app.add_typer(bundle_app, name="bundle")
runner = CliRunner()
WIDE = {"COLUMNS": "200"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    models = tmp_path_factory.getbasetemp() / "runtime-models"
    return fx.make_bundle(tmp_path_factory.mktemp("device-path") / "bundle", models, ["onnx-fp32"])


@pytest.mark.parametrize(
    ("n", "shown"),
    [(5_030_000, "5.03 MB"), (999, "999 B"), (1_000, "1.00 KB"), (48_500, "48.50 KB"), (2_500_000_000, "2.50 GB")],
)
def test_sizes_are_decimal_like_export_reports_them(n, shown):
    assert human_bytes(n) == shown


def test_bundle_inspect_prints_the_size_export_prints(bundle):
    art = read_bundle(bundle).manifest.artifact("onnx-fp32")
    r = runner.invoke(app, ["bundle", "inspect", str(bundle)], env=WIDE)
    assert r.exit_code == 0, r.output
    assert human_bytes(art.bytes) in r.output and f"{art.bytes / 1e3:.2f} KB" in r.output


def _renamed_csv(path: Path, renames: dict[str, str]) -> Path:
    """A fixture recording (8 s each of curl, squat, rest) written with some labels renamed."""
    fx.write_csv(path, fx.recording(rate=50.0, seconds=48, seed=3))
    text = path.read_text()
    for old, new in renames.items():
        text = text.replace(f",{old},", f",{new},")
    path.write_text(text)
    return path


def test_predict_on_labels_the_bundle_does_not_know_names_them_and_prints_the_timeline(bundle, tmp_path):
    csv = _renamed_csv(tmp_path / "other.csv", {"curl": "biceps", "squat": "knee_bend", "rest": "pause"})
    r = runner.invoke(app, ["predict", str(bundle), "--data", str(csv)], env=WIDE)
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "no labelled windows" not in out
    assert "labels the bundle does not know: biceps (" in out and "knee_bend (" in out and "pause (" in out
    assert "it knows curl, squat, rest" in out
    assert "other.csv (subject s1)" in out and "true label" in out  # the timeline, with its true-label column


def test_predict_scores_the_known_labels_and_names_the_others(bundle, tmp_path):
    csv = _renamed_csv(tmp_path / "partly.csv", {"rest": "pause"})
    r = runner.invoke(app, ["predict", str(bundle), "--data", str(csv), "--json"])
    assert r.exit_code == 0, r.output
    import json

    report = json.loads(r.output)
    assert report["labels"] == ["curl", "squat", "rest"]
    assert list(report["unknown_labels"]) == ["pause"] and report["unknown_labels"]["pause"] > 0
    assert report["metrics"]["windows"] > 0
    r = runner.invoke(app, ["predict", str(bundle), "--data", str(csv)], env=WIDE)
    assert "macro-F1" in r.output and "labels the bundle does not know: pause" in " ".join(r.output.split())


def test_replay_json_has_no_repeated_latency_per_prediction(bundle, tmp_path):
    from mujo_edge.cli.live import replay

    replay_app = typer.Typer(pretty_exceptions_enable=False)
    replay_app.command("replay")(replay)
    replay_app.command("unused")(lambda: None)  # two commands: typer keeps the "replay" name
    csv = fx.write_csv(tmp_path / "stream.csv", fx.recording(rate=50.0, seconds=20, seed=5))
    out = tmp_path / "replay.json"
    r = runner.invoke(replay_app, ["replay", str(csv), "--bundle", str(bundle), "--json-out", str(out)], env=WIDE)
    assert r.exit_code == 0, r.output
    import json

    data = json.loads(out.read_text())
    assert len(data["predictions"]) >= 17
    assert not any("latency_s" in p for p in data["predictions"])
    assert "latency_p50_s" not in data and data["inference_s_per_window"] > 0


def test_pretrain_drops_torchaos_library_load_warnings_and_nothing_else():
    import logging

    from mujo_edge.cli.pretrain import quiet_library_load

    quiet_library_load()
    quiet_library_load()  # twice: still one filter
    assert len(logging.getLogger("torchao").filters) == 1

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    # a handler on each logger: once torch is imported, its loggers no longer propagate to the root
    keep = Keep()
    loggers = [logging.getLogger("torchao"), logging.getLogger("torch.utils._pytree")]
    for logger in loggers:
        logger.addHandler(keep)
    try:
        so = "/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so"
        loggers[0].warning("Failed to load %s: Could not load this library: %s", so, so)
        loggers[1].warning(
            "%s is an Enum subclass and is now natively supported by torch.compile", "<enum 'KernelPreference'>"
        )
        loggers[0].warning("a real torchao warning")
        loggers[1].warning("a real pytree warning")
    finally:
        for logger in loggers:
            logger.removeHandler(keep)
    assert keep.messages == ["a real torchao warning", "a real pytree warning"]
