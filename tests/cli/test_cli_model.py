"""`mujo-edge model summary` through CliRunner (the sub-app mounted on a local root, as the real CLI does)."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from mujo_edge.cli.model import app as model_app
from mujo_edge.cli.model import human
from mujo_edge.errors import UnknownNameError

runner = CliRunner()
root = typer.Typer()
root.add_typer(model_app, name="model")


@root.callback()
def _root() -> None:
    """Test root."""


def invoke(*args: str):
    return runner.invoke(root, ["model", *args], env={"COLUMNS": "220"})


def test_human_units_as_the_paper_prints_them():
    assert human(2_152_112) == "2.1521 M" and human(619_514) == "619.5140 K" and human(512) == "512"


def test_summary_paper_table():
    r = invoke("summary", "--preset", "paper")
    assert r.exit_code == 0, r.output
    for text in (
        "text (text)",
        "pose (pose)",
        "video (video)",
        "sensor_1 (sensor)",
        "sensor_3 (sensor)",
        "3 x 17 x 100",
        "9 x 100",
        "619.5140 K",
        "619.7120 K",
        "328.1920 K",
        "2.3296 M",
        "1.1804 M",  # encoder params = Table 4
        "3.9386 M",
        "4.2662 M",
        "3.6109 M",
        "4.5939 M",  # projection params = Table 4
        "2.1396 M",
        "38.0960 M",
        "7.8643 M",  # torch FLOPs
        "Sensor (MHEALTH)",
        "Sensor (MM-Fit)",
        "38.1508 M",
        "-0.58 %",
    ):
        assert text in r.output, text


def test_summary_paper_convention_matches_table4_json():
    r = invoke("summary", "--preset", "paper", "--convention", "paper", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["convention"] == "paper" and data["config"]["arch"]["sensor_groups"] == [3, 3, 1]
    rows = {m["modality"]: m for m in data["modalities"]}
    assert rows["sensor_1"]["encoder_flops"] == 2_152_112 and rows["pose"]["encoder_flops"] == 38_150_800
    assert rows["video"]["encoder_flops"] == 655_872  # Table 4: 655.8720 K
    assert len(data["table4"]) == 6
    for c in data["table4"]:
        assert all(abs(d) < 0.01 for d in c["diff_pct"].values()), c  # only Table 4's rounding remains


def test_summary_wrist_json_and_text_without_table4_row():
    r = invoke("summary", "--preset", "wrist", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    rows = {m["modality"]: m for m in data["modalities"]}
    assert rows["wrist_acc"]["total_params"] == 4_559_262 and rows["wrist_acc"]["input"] == [3, 100]
    assert rows["text"]["table4_row"] is None and rows["text"]["encoder_params"] == 295_680
    assert [c["modality"] for c in data["table4"]] == ["wrist_acc"]


def test_summary_list_and_unknown_preset():
    r = invoke("summary", "--list")
    assert r.exit_code == 0 and "paper" in r.output and "wrist" in r.output
    r = invoke("summary", "--preset", "nope")
    assert r.exit_code != 0 and isinstance(r.exception, UnknownNameError)


def test_summary_help_does_not_need_torch():
    r = invoke("summary", "--help")
    assert r.exit_code == 0 and "--preset" in r.output


@pytest.mark.parametrize("preset", ["wrist"])
def test_summary_table_renders(preset):
    r = invoke("summary", "--preset", preset)
    assert r.exit_code == 0 and "wrist_acc (sensor)" in r.output and "620.7020 K" in r.output
