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
