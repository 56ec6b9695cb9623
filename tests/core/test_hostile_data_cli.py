"""The hostile-data checks as a user meets them: `data inspect` and `predict` warn, or fail with --strict, and the
windows cache never serves windows of a file's old content."""

import importlib.util
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from mujo_edge.bundle import Artifact, write_manifest
from mujo_edge.cli import app
from mujo_edge.cli.runtime import predict
from mujo_edge.data.prepare import prepare
from mujo_edge.errors import DataError

runner = CliRunner()
_path = Path(__file__).with_name("runtime_fixtures.py")
_spec = importlib.util.spec_from_file_location("_rtfx", _path)
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
fx = fx.load()


def csv_in_g_labelled_si(path, seconds=20, seed=0):
    """A worn wrist's accelerometer written in g under an m/s^2 header (the macro-F1 0.005 file)."""
    rng = np.random.default_rng(seed)
    n = seconds * 50
    acc_g = np.array([0.1, -0.2, 0.97]) + rng.normal(scale=0.2, size=(n, 3))
    rows = [f"{20 * i},{a:.4f},{b:.4f},{c:.4f},walk" for i, (a, b, c) in enumerate(acc_g)]
    header = "timestamp[ms],wrist_acc_x[m/s^2],wrist_acc_y[m/s^2],wrist_acc_z[m/s^2],label"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_data_inspect_warns_about_units_and_fails_with_strict(tmp_path, caplog):
    f = csv_in_g_labelled_si(tmp_path / "in_g.csv")
    caplog.set_level(logging.WARNING)
    r = runner.invoke(app, ["data", "inspect", "csv", "--root", str(f), "--no-cache", "--json"])
    assert r.exit_code == 0, r.output
    assert any(str(f) in m and "likely in [g]" in m for m in caplog.messages)
    r = runner.invoke(app, ["data", "inspect", "csv", "--root", str(f), "--strict"])
    assert r.exit_code == 1 and isinstance(r.exception, DataError)
    assert r.exception.path == str(f) and "likely in [g]" in str(r.exception)


def test_data_inspect_strict_is_not_fooled_by_the_cache(tmp_path):
    f = csv_in_g_labelled_si(tmp_path / "in_g.csv")
    assert runner.invoke(app, ["data", "inspect", "csv", "--root", str(f), "--json"]).exit_code == 0  # cached
    r = runner.invoke(app, ["data", "inspect", "csv", "--root", str(f), "--strict"])
    assert isinstance(r.exception, DataError)


def test_data_inspect_counts_gaps(tmp_path):
    rows = [f"{20 * i + (3_600_000 if i >= 500 else 0)},0,0,9.8" for i in range(1000)]  # an hour's pause
    f = tmp_path / "gap.csv"
    f.write_text("timestamp[ms],wrist_acc_x,wrist_acc_y,wrist_acc_z\n" + "\n".join(rows) + "\n")
    r = runner.invoke(app, ["data", "inspect", "csv", "--root", str(f), "--json"])
    assert r.exit_code == 0, r.output
    assert '"gaps": 1' in r.output
    r = runner.invoke(app, ["data", "inspect", "csv", "--root", str(f)], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "gaps (jumps > --max-gap" in r.output


@pytest.fixture(scope="module")
def onnx_bundle(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    fx.build_onnx(folder / "model.onnx")
    write_manifest(folder, fx.manifest([Artifact("onnx-fp32", "onnx", "fp32", "model.onnx", "onnxruntime")]))
    return folder


def test_predict_fails_with_strict_on_a_file_in_the_wrong_unit(onnx_bundle, tmp_path, caplog):
    pytest.importorskip("onnxruntime")
    cli = typer.Typer(pretty_exceptions_enable=False)
    cli.command("predict")(predict)
    cli.command("unused")(lambda: None)  # two commands: `predict` stays a sub-command name
    f = csv_in_g_labelled_si(tmp_path / "in_g.csv")
    caplog.set_level(logging.WARNING)
    r = runner.invoke(cli, ["predict", str(onnx_bundle), "--data", str(f), "--json"])
    assert r.exit_code == 0, r.output
    assert any(str(f) in m and "likely in [g]" in m for m in caplog.messages)
    r = runner.invoke(cli, ["predict", str(onnx_bundle), "--data", str(f), "--strict"])
    assert isinstance(r.exception, DataError) and r.exception.path == str(f)


def test_cache_sees_an_edit_that_keeps_size_and_modification_time(tmp_path):
    rows = [f"{20 * i},0,0,9.8,{'squat' if i < 500 else 'lunge'}" for i in range(1000)]
    f = tmp_path / "edit.csv"
    f.write_text("timestamp[ms],wrist_acc_x,wrist_acc_y,wrist_acc_z,label\n" + "\n".join(rows) + "\n")
    cache = tmp_path / "cache"
    first = prepare("csv", f, cache_dir=cache)
    assert not first.from_cache and prepare("csv", f, cache_dir=cache).from_cache
    stat = f.stat()
    f.write_text(f.read_text().replace(",0,0,9.8,", ",0,0,9.7,"))  # same size
    os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the old modification time
    assert f.stat().st_size == stat.st_size and f.stat().st_mtime_ns == stat.st_mtime_ns
    again = prepare("csv", f, cache_dir=cache)
    assert not again.from_cache
    assert again.windows.x[0, 2, 0] == pytest.approx(9.7) and first.windows.x[0, 2, 0] == pytest.approx(9.8)
    # unchanged content is still a hit, whatever the modification time says
    os.utime(f, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert prepare("csv", f, cache_dir=cache).from_cache


def test_replay_fails_with_strict_on_a_file_in_the_wrong_unit(onnx_bundle, tmp_path):
    pytest.importorskip("onnxruntime")
    from mujo_edge.cli.live import replay

    cli = typer.Typer(pretty_exceptions_enable=False)
    cli.command("replay")(replay)
    cli.command("unused")(lambda: None)
    f = csv_in_g_labelled_si(tmp_path / "in_g.csv")
    r = runner.invoke(cli, ["replay", str(f), "--bundle", str(onnx_bundle), "--strict"])
    assert isinstance(r.exception, DataError) and r.exception.path == str(f)
