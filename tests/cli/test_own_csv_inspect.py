"""`mujo-edge data inspect csv`: the per-subject table and the measured rate, as a user sees them."""

import json
import re

from typer.testing import CliRunner

from mujo_edge.cli import app

runner = CliRunner()
HEADER = "timestamp[ms],wrist_acc_x[g],wrist_acc_y[g],wrist_acc_z[g],label,subject"


def write(path, labels, subject, rate=64.0):
    rows = [f"{round(i * 1000 / rate)},0,0,1,{label},{subject}" for i, label in enumerate(labels)]
    path.write_text("\n".join([HEADER, *rows]) + "\n")


def cells(line):
    """The cells of a rich table row."""
    return [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]


def inspect(root, *extra):
    r = runner.invoke(
        app, ["data", "inspect", "csv", "--root", str(root), "--no-cache", *extra], env={"COLUMNS": "200"}
    )
    assert r.exit_code == 0, r.output
    return r.output


def test_inspect_prints_windows_per_subject_and_class_and_64_hz(tmp_path):
    write(tmp_path / "a.csv", ["squat"] * 1280, "alice")  # 20 s at 64 Hz -> 19 windows at 50 Hz
    write(tmp_path / "b.csv", ["lunge"] * 1280, "bob")
    out = inspect(tmp_path)
    assert "64.0 Hz" in out and "62.5" not in out
    assert "windows per subject and class" in out
    rows = [cells(line) for line in out.splitlines()]
    lines = {r[0]: r[1:] for r in rows if r[:1] in (["alice"], ["bob"])}
    header = next(r for r in rows if r[:1] == ["subject"])
    assert header[-3:] == ["lunge", "squat", "total"]
    assert lines["alice"][-3:] == ["0", "19", "19"] and lines["bob"][-3:] == ["19", "0", "19"]


def test_inspect_json_has_the_per_subject_table(tmp_path):
    write(tmp_path / "a.csv", ["squat"] * 1280, "alice")
    data = json.loads(inspect(tmp_path, "--json"))
    assert data["subject_class_windows"] == {"alice": {"squat": 19}}
    assert abs(data["native_rate_hz"][1] - 64.0) < 0.1
