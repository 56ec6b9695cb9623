"""The session tracker on synthetic streams with a known answer: sets, rest, unknown movement, gaps, a watch
disconnecting mid-set, sets shorter than a window, a stream without an accelerometer, the log's formats."""

import csv
import io
import json

import numpy as np
import pytest

from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError, SampleError
from mujo_edge.runtime.prediction import Prediction
from mujo_edge.runtime.session import (
    CSV_COLUMNS,
    EXERCISE,
    REST,
    UNKNOWN,
    SessionConfig,
    SessionTracker,
    config_for_bundle,
    track,
)

RATE = 50.0
G = 9.81
WINDOW = WindowConfig()
CHANNELS = ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")
UNITS = ("m/s^2",) * 3
LABELS = ("curl", "raise")
CONFIG = SessionConfig(
    energy_threshold=1.0,
    periodicity_threshold=0.3,
    confidence_threshold=0.5,
    enter_windows=3,
    exit_windows=3,
    min_repetitions=3,
    merge_s=4.0,
)


def still(seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * RATE)
    return np.tile([0.0, 0.0, G], (n, 1)) + rng.normal(scale=0.05, size=(n, 3))


def reps(count: int, period_s: float, axes: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Gravity turning by up to 90 degrees and back, `count` times (the arm raised and lowered)."""
    phase = np.arange(int(count * period_s * RATE)) / (period_s * RATE)
    angle = 0.25 * np.pi * (1 - np.cos(2 * np.pi * phase))
    xyz = np.zeros((len(angle), 3))
    xyz[:, axes[0]] = G * np.cos(angle)
    xyz[:, axes[1]] = G * np.sin(angle)
    return xyz + rng.normal(scale=0.1, size=xyz.shape)


def fidget(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Strong movement without repetition (walking about, rummaging in a bag): smoothed random steps."""
    n = int(seconds * RATE)
    steps = np.repeat(rng.normal(scale=4.0, size=(n // 7 + 1, 3)), 7, axis=0)[:n]
    return np.array([0.0, 0.0, G]) + steps


def predictions(t_end: float, label_of, confidence_of=lambda s: 0.95) -> list[Prediction]:
    """One Prediction per 2 s window every 1 s until t_end; label_of(start_s) -> label index."""
    out = []
    for start in np.arange(0.0, t_end - WINDOW.window_s + 1e-9, WINDOW.step / RATE):
        k = label_of(start)
        c = confidence_of(start)
        probs = [c if i == k else (1 - c) / (len(LABELS) - 1) for i in range(len(LABELS))]
        out.append(Prediction(LABELS[k], k, tuple(probs), tuple(np.log(probs)), start, start + 2.0, 0.0, LABELS[k], k))
    return out


def session_stream(seed: int = 0):
    """rest 20 s, curl 12 x 2 s, rest 30 s, raise 15 x 1.3 s, rest 10 s; the model names curl during rest."""
    rng = np.random.default_rng(seed)
    parts = [still(20, rng), reps(12, 2.0, (2, 0), rng), still(30, rng), reps(15, 1.3, (2, 1), rng), still(10, rng)]
    xyz = np.concatenate(parts)
    t = np.arange(len(xyz)) / RATE
    sets = [(20.0, 44.0, "curl", 12), (74.0, 93.5, "raise", 15)]

    def label(start: float) -> int:
        return 1 if 70.0 <= start < 95.0 else 0  # "curl" for every other window, rest included

    return t, xyz, sets, predictions(t[-1], label)


def test_two_sets_between_rests_with_the_model_naming_an_exercise_all_along():
    t, xyz, truth, preds = session_stream()
    log, states = track(preds, t, xyz, CHANNELS, UNITS, WINDOW, CONFIG)
    assert [(s.exercise, s.repetitions) for s in log.sets] == [("curl", 12), ("raise", 15)]
    for found, (start, end, _, _) in zip(log.sets, truth):
        assert abs(found.start_s - start) <= 2.0 and abs(found.end_s - end) <= 2.0
        assert not found.interrupted and 0.9 < found.mean_confidence <= 1.0
    kinds = [(r.kind, round(r.duration_s)) for r in log.rests]
    assert [k for k, _ in kinds] == [REST, REST, REST] and kinds[1][1] >= 25
    # every window wholly inside a rest is shown as rest, although the model said "curl"
    for p, s in zip(preds, states):
        if p.end_s <= 19 or (p.start_s >= 46 and p.end_s <= 72):
            assert s.status == REST and s.exercise is None, (p.start_s, s)
    in_set = [s for p, s in zip(preds, states) if 26 <= p.start_s <= 42]
    assert all(s.status == EXERCISE and s.exercise == "curl" for s in in_set)
    # the live count rises through the set and never goes down; the rest timer runs between sets
    live = [s.repetitions for s in in_set]
    assert live == sorted(live) and live[-1] >= 8
    rest_timer = [s.rest_s for p, s in zip(preds, states) if 50 <= p.start_s <= 70]
    assert rest_timer == sorted(rest_timer) and rest_timer[-1] > 20


def test_live_pushes_in_batches_give_the_offline_log():
    t, xyz, _, preds = session_stream(seed=1)
    offline, _ = track(preds, t, xyz, CHANNELS, UNITS, WINDOW, CONFIG)
    tracker = SessionTracker(CHANNELS, UNITS, WINDOW, CONFIG)
    queue = list(preds)
    for i in range(0, len(t), 13):
        tracker.push_samples(t[i : i + 13], xyz[i : i + 13])
        while queue and queue[0].end_s <= t[min(i + 12, len(t) - 1)]:
            tracker.push_prediction(queue.pop(0))
    live = tracker.finish()
    assert [(s.exercise, s.repetitions, s.start_s, s.end_s) for s in live.sets] == [
        (s.exercise, s.repetitions, s.start_s, s.end_s) for s in offline.sets
    ]


def test_movement_that_is_not_an_exercise_is_unknown_not_a_set():
    rng = np.random.default_rng(2)
    xyz = np.concatenate([still(5, rng), fidget(30, rng), still(5, rng)])
    t = np.arange(len(xyz)) / RATE
    log, states = track(predictions(t[-1], lambda s: 0), t, xyz, CHANNELS, UNITS, WINDOW, CONFIG)
    assert log.sets == ()
    moving = [s.status for p, s in zip(predictions(t[-1], lambda s: 0), states) if 8 <= p.start_s <= 30]
    assert moving.count(UNKNOWN) >= 0.8 * len(moving)
    assert log.rests[0].unknown_windows >= 0.8 * len(moving)


def test_low_confidence_is_not_an_exercise():
    t, xyz, _, _ = session_stream()
    unsure = predictions(t[-1], lambda s: 0, confidence_of=lambda s: 0.4)
    log, states = track(unsure, t, xyz, CHANNELS, UNITS, WINDOW, CONFIG)
    assert log.sets == () and EXERCISE not in {s.status for s in states}


def test_a_watch_disconnecting_mid_set_keeps_what_was_seen():
    t, xyz, _, preds = session_stream()
    lost = (t >= 32.0) & (t < 40.0)  # 8 s of the first set never arrive
    keep = [p for p in preds if p.end_s <= 32.0 or p.start_s >= 40.0]
    log, _ = track(keep, t[~lost], xyz[~lost], CHANNELS, UNITS, WINDOW, CONFIG)
    first = log.sets[0]
    assert first.exercise == "curl" and first.interrupted and abs(first.start_s - 20) <= 2
    assert first.end_s <= 32.0 and 3 <= first.repetitions <= 7  # 12 s of 2 s repetitions were seen
    gaps = [r for r in log.rests if r.kind == "gap"]
    assert len(gaps) == 1 and gaps[0].start_s <= 32.0 and gaps[0].end_s >= 40.0
    assert any("gap" in n for n in log.notes)
    assert [s.exercise for s in log.sets[-1:]] == ["raise"] and log.sets[-1].repetitions == 15
    json.loads(log.to_json())


def test_a_set_shorter_than_a_window_is_not_a_set_and_nothing_is_counted():
    rng = np.random.default_rng(3)
    xyz = np.concatenate([still(10, rng), reps(1, 1.5, (2, 0), rng), still(10, rng)])
    t = np.arange(len(xyz)) / RATE
    log, states = track(predictions(t[-1], lambda s: 0), t, xyz, CHANNELS, UNITS, WINDOW, CONFIG)
    assert log.sets == () and all(s.repetitions == 0 for s in states)
    assert sum(r.duration_s for r in log.rests) == pytest.approx(t[-1], abs=1.0)


def test_a_stream_shorter_than_a_window_gives_a_log_that_says_so():
    tracker = SessionTracker(CHANNELS, UNITS, WINDOW, CONFIG)
    tracker.push_samples(np.arange(50) / RATE, np.tile([0.0, 0.0, G], (50, 1)))
    log = tracker.finish()
    assert log.sets == () and log.windows == 0 and "shorter than one window" in log.notes[0]
    assert json.loads(log.to_json())["entries"] == []


def test_a_stream_without_an_accelerometer_is_refused_with_what_it_has():
    with pytest.raises(ConfigError, match="accelerometer") as err:
        SessionTracker(("wrist_gyro_x", "wrist_gyro_y", "wrist_gyro_z"), ("rad/s",) * 3, WINDOW)
    assert "wrist_gyro_x" in str(err.value) and err.value.field == "channels"
    with pytest.raises(ConfigError, match="m/s"):
        SessionTracker(CHANNELS, ("g",) * 3, WINDOW)


def test_windows_out_of_order_and_bad_samples_are_refused():
    tracker = SessionTracker(CHANNELS, UNITS, WINDOW, CONFIG)
    with pytest.raises(SampleError):
        tracker.push_samples([0.0, 0.02], np.zeros((2, 2)))
    t, xyz, _, preds = session_stream()
    tracker.push_samples(t, xyz)
    tracker.push_prediction(preds[1])
    with pytest.raises(SampleError, match="does not follow"):
        tracker.push_prediction(preds[0])


def test_log_as_strict_json_and_csv():
    t, xyz, _, preds = session_stream()
    log, _ = track(preds, t, xyz, CHANNELS, UNITS, WINDOW, CONFIG)
    data = json.loads(log.to_json())
    assert (
        data["sets"] == 2
        and data["repetitions"] == 27
        and [e["kind"] for e in data["entries"]]
        == [
            "rest",
            "set",
            "rest",
            "set",
            "rest",
        ]
    )
    rows = list(csv.DictReader(io.StringIO(log.to_csv())))
    assert tuple(rows[0]) == CSV_COLUMNS and rows[1]["exercise"] == "curl" and rows[1]["repetitions"] == "12"


def test_config_is_validated_and_round_trips():
    with pytest.raises(ConfigError):
        SessionConfig(confidence_threshold=1.5)
    with pytest.raises(ConfigError):
        SessionConfig(enter_windows=0)
    with pytest.raises(ConfigError, match="unknown session setting"):
        SessionConfig.from_dict({"energy": 1.0})
    assert SessionConfig.from_dict(CONFIG.to_dict()) == CONFIG


def test_a_bundle_without_session_calibration_uses_the_defaults_and_says_so_once(caplog):
    class Manifest:  # what the tracker reads of a bundle manifest that predates it
        session = None
        source = "old-bundle"

    caplog.set_level("INFO", logger="mujo_edge.runtime.session")
    assert config_for_bundle(Manifest()) == SessionConfig()
    assert config_for_bundle(Manifest()) == SessionConfig()
    said = [r for r in caplog.records if "session calibration" in r.getMessage()]
    assert len(said) == 1 and "defaults" in said[0].getMessage()
