"""Sessions in the live path: `replay` (library and command) carries the session log, a stream the tracker cannot
use is a warning and the rest of the summary, and `live` needs no --bundle."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from mujo_edge.channels import triaxial
from mujo_edge.cli import app
from mujo_edge.default_model import bundle_path
from mujo_edge.recording import Recording
from mujo_edge.runtime import Recognizer
from mujo_edge.runtime.live import replay_summary, session_tracker
from mujo_edge.runtime.session import match_sets

RATE = 50.0
G = 9.81
WIDE = {"COLUMNS": "200"}


@pytest.fixture(scope="module")
def recognizer():
    with Recognizer.from_bundle(bundle_path()) as r:
        yield r


def raises(count, period_s, rng):
    phase = np.arange(int(count * period_s * RATE)) / (period_s * RATE)
    angle = 0.25 * np.pi * (1 - np.cos(2 * np.pi * phase))
    xyz = np.stack([G * np.cos(angle), np.full_like(angle, 0.3), G * np.sin(angle)], axis=1)
    return xyz + rng.normal(scale=0.1, size=xyz.shape)


def session_recording(path=None):
    """still 15 s, 15 arm raises of 2.4 s, still 20 s: the shape of a SPAR abduction set between rests."""
    rng = np.random.default_rng(0)
    still = [
        np.tile([G, 0.3, 0.0], (int(s * RATE), 1)) + rng.normal(scale=0.05, size=(int(s * RATE), 3)) for s in (15, 20)
    ]
    xyz = np.concatenate([still[0], raises(15, 2.4, rng), still[1]])
    t = 1000.0 + np.arange(len(xyz)) / RATE
    if path is not None:
        rows = ["timestamp[s],wrist_acc_x[m/s^2],wrist_acc_y[m/s^2],wrist_acc_z[m/s^2]"]
        rows += [f"{a:.3f},{x:.4f},{y:.4f},{z:.4f}" for a, (x, y, z) in zip(t, xyz)]
        path.write_text("\n".join(rows) + "\n")
    return Recording.create(t, xyz.astype(np.float32), triaxial("wrist", "acc", "m/s^2"), subject="me", source="test")


def test_replay_summary_carries_the_session_log(recognizer):
    summary = replay_summary(recognizer, session_recording())
    log = summary.session
    assert log is not None and log.windows == len(summary.predictions)
    data = summary.to_dict()["session"]
    assert data["windows"] == log.windows and data["entries"][0]["kind"] == "rest"
    # the rest before and after the movement is rest, whatever the model named it
    assert log.rests and log.rests[0].duration_s >= 10
    # one set (the model's name for synthetic raises is its own business); its count near the 15 done
    assert len(log.sets) == 1 and 10 <= log.sets[0].repetitions <= 16
    assert match_sets(log, []) == []


def test_a_stream_without_an_accelerometer_keeps_recognition_and_says_why(recognizer):
    tracker, why = session_tracker(recognizer, ("wrist_gyro_x", "wrist_gyro_y", "wrist_gyro_z"), ("rad/s",) * 3)
    assert tracker is None and "accelerometer" in why and "wrist_gyro_x" in why


def test_replay_command_prints_and_writes_the_session_log(tmp_path):
    rec = tmp_path / "rec.csv"
    session_recording(rec)
    out = tmp_path / "session.csv"
    as_json = tmp_path / "replay.json"
    r = CliRunner().invoke(
        app,
        ["replay", str(rec), "--bundle", str(bundle_path()), "--session-out", str(out), "--json-out", str(as_json)],
        env=WIDE,
    )
    assert r.exit_code == 0, r.output
    assert "session:" in r.output and "repetitions" in r.output
    assert out.read_text().startswith("kind,number,exercise,start_s,end_s")
    assert json.loads(as_json.read_text())["session"]["entries"]


def test_live_needs_no_bundle():
    r = CliRunner().invoke(app, ["live", "--help"], env=WIDE)
    assert r.exit_code == 0 and "default: the embedded one" in r.output


def test_predict_shows_the_session_of_each_recording(tmp_path):
    rec = tmp_path / "rec.csv"
    session_recording(rec)
    runner = CliRunner()
    r = runner.invoke(app, ["predict", str(bundle_path()), "--data", str(rec)], env=WIDE)
    assert r.exit_code == 0, r.output
    assert "session of" in r.output and "set 1" in r.output
    r = runner.invoke(app, ["predict", str(bundle_path()), "--data", str(rec), "--json"], env=WIDE)
    sessions = json.loads(r.output)["sessions"]
    assert len(sessions) == 1 and sessions[0]["note"] is None and sessions[0]["log"]["sets"] == 1
