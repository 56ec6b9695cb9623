"""`mujo-edge data inspect csv`: the per-subject table and the measured rate, as a user sees them."""

import json
import re
import subprocess
import sys

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


def write_foreign(path, n=640, rate=64.0, label="squat"):
    """`t,ax,ay,az,epoch (ms),act`: datetime timestamps in whole ms, g units, an extra time column."""
    rows = []
    for i in range(n):
        ms = 280_000 + round(i * 1000 / rate)
        stamp = f"1970-01-01 00:{ms // 60000:02d}:{ms % 60000 // 1000:02d}.{ms % 1000:03d}"
        rows.append(f"{stamp},0,0,1,{ms},{label}")
    path.write_text("\n".join(["t,ax,ay,az,epoch (ms),act", *rows]) + "\n")


def test_inspect_prints_the_mapping_it_used(tmp_path, make_mapping):
    write_foreign(tmp_path / "alice_1.csv")
    (tmp_path / "mujo-csv.toml").write_text(make_mapping())
    out = inspect(tmp_path)
    rows = [cells(line) for line in out.splitlines()]
    assert ["t", "timestamp[datetime]"] in rows and ["ax", "wrist_acc_x[g]"] in rows
    assert ["epoch (ms)", "(ignored)"] in rows and ["act", "label"] in rows
    assert "64.0 Hz" in out and "alice" in out
    data = json.loads(inspect(tmp_path, "--json"))
    assert data["mapping"]["rename"]["t"] == "timestamp[datetime]" and data["mapping"]["ignore"] == ["epoch (ms)"]
    assert data["subjects"] == ["alice"]


def test_inspect_says_when_no_mapping_is_used(tmp_path):
    write(tmp_path / "a.csv", ["squat"] * 1280, "alice")
    assert "the documented layout" in inspect(tmp_path)
    assert json.loads(inspect(tmp_path, "--json"))["mapping"] is None


def test_a_bad_mapping_is_one_red_line(tmp_path, make_mapping):
    write_foreign(tmp_path / "alice_1.csv")
    (tmp_path / "mujo-csv.toml").write_text(make_mapping().replace('unit = "datetime"', 'unit = "hours"'))
    # the real entry point, whose error handling makes the one red line
    r = subprocess.run(
        [sys.executable, "-m", "mujo_edge", "data", "inspect", "csv", "--root", str(tmp_path), "--no-cache"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1 and len(lines) == 1 and "Traceback" not in r.stderr
    assert "mujo-csv.toml" in lines[0] and "time.unit" in lines[0] and "hours" in lines[0]


def test_inspect_shows_the_descriptions_of_mujo_labels_toml(tmp_path):
    write(tmp_path / "a.csv", ["sq"] * 1280, "alice")
    (tmp_path / "mujo-labels.toml").write_text('sq = "a person doing squats"\n')
    rows = [cells(line) for line in inspect(tmp_path).splitlines()]
    assert ["sq", "a person doing squats", "19", "100.0 %"] in rows
