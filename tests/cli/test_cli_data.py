"""The CLI end to end, as a user runs it (subprocess for the entry point, CliRunner for speed)."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from mujo_edge import __version__
from mujo_edge.cli import app

runner = CliRunner()


def run_cli(*args):
    """The real entry point (error handling included), in a subprocess."""
    return subprocess.run([sys.executable, "-m", "mujo_edge", *args], capture_output=True, text=True, timeout=120)


def test_help_and_version():
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0 and "data" in r.output
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


def test_data_list_shows_every_loader():
    r = runner.invoke(app, ["data", "list"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    for name in ("spar_watch", "sp_sw_har", "hapt", "csv"):
        assert name in r.output


def test_inspect_spar_watch_reports_real_numbers(shared_data):
    r = runner.invoke(
        app, ["data", "inspect", "spar_watch", "--root", str(shared_data / "spar_watch")], env={"COLUMNS": "200"}
    )
    assert r.exit_code == 0, r.output
    for text in ("140", "10: 1, 2, 3", "244,102", "50.0 Hz", "wrist_acc_x", "m/s^2", "PEN", "pendulum", "4,677"):
        assert text in r.output


def test_inspect_json_and_selection(shared_data):
    r = runner.invoke(
        app,
        [
            "data",
            "inspect",
            "sp_sw_har",
            "--root",
            str(shared_data / "sp_sw_har"),
            "--placements",
            "wrist",
            "--sensors",
            "acc",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert summary["channels"] == ["wrist_acc_x", "wrist_acc_y", "wrist_acc_z"]
    assert len(summary["subjects"]) == 23 and summary["recordings"] == 223
    assert summary["windows"] == sum(summary["class_windows"].values())
    assert summary["dropped"]["mixed_label"] > 0


def test_errors_are_one_red_line_and_exit_code_1(tmp_path):
    r = run_cli("data", "inspect", "spar_watch", "--root", str(tmp_path / "missing"))
    assert r.returncode == 1
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "error:" in lines[0] and "missing" in lines[0]
    assert "Traceback" not in r.stderr
    r = run_cli("data", "inspect", "nope")
    assert r.returncode == 1 and "unknown dataset 'nope'" in r.stderr
    r = run_cli("data", "inspect", "spar_watch", "--step", "0", "--root", str(tmp_path))
    assert r.returncode == 1 and "step" in r.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,wrist_acc_x,wrist_acc_y,wrist_acc_z\n0,1,2,3\n1,1,2\n")
    r = run_cli("data", "inspect", "csv", "--root", str(bad))
    assert r.returncode == 1 and f"{bad}, line 3" in r.stderr


def test_the_one_comma_list_parser():
    from mujo_edge.cli.console import comma_ints, comma_list
    from mujo_edge.errors import ConfigError

    assert comma_list(None) is None and comma_list(" , ,") is None
    assert comma_list("wrist, ankle,,acc ") == ("wrist", "ankle", "acc")
    assert comma_ints("1, 2,4", "--threads") == (1, 2, 4)
    with pytest.raises(ConfigError, match="--threads"):
        comma_ints("1,two", "--threads")
