"""Workout sessions on real data: repetitions per set, and sets against rest (issue 17).

    python benchmarks/session_tracking.py --data ../shared/data --out benchmarks/results

(a) Repetitions: every SPAR recording is one set of 20 repetitions. Five subject-wise folds over SPAR's 10
subjects (`mujo_edge.splits.subject_kfold`, seed 0): per fold the counter's settings are chosen from a small
grid on the fold's training and validation subjects only, then counted on its test subjects. Reported: mean
absolute error per set and the share of sets within +-1 and +-2, per exercise and overall.

(b) Sets and rest: for each SPAR subject the embedded bundle never saw (its `training.split.test`), its sets in
a seeded random order, separated by real non-exercise stretches: 2 to 4 sp-sw-har smartwatch executions (seated,
standing up, walking, turning, sitting down; resampled to 50 Hz, already m/s^2) back to back, with one before the
first set and after the last. The stream goes through the embedded bundle's streaming recognizer and the session
tracker. The tracker's thresholds are calibrated on streams built the same way from the bundle's validation
subject and sp-sw-har subjects s01-s11; the test streams use s12-s23. Reported: share of rest windows shown as
rest (or unknown), of exercise windows shown as an exercise, set boundaries within +-2 s, and per set: found
(a detected set covers half of it), exercise right, repetitions within +-1; next to the runtime without the
tracker, which names an exercise for every window.

Your own data: `--csv FOLDER` (bring-your-own CSV layout, one set per file, wrist accelerometer) with a side file
`FOLDER/mujo-reps.toml` holding a table `[reps]` of `"file.csv" = repetitions done` runs (a) on it with the
default counter settings. Writes `session_tracking.json` and `session_tracking.md` (or `session_tracking_csv.*`)
into --out. Needs only the runtime install.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
import tomllib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from mujo_edge import __version__
from mujo_edge.channels import ChannelSelection
from mujo_edge.config import WindowConfig
from mujo_edge.data.prepare import load_recordings
from mujo_edge.data.registry import get_loader
from mujo_edge.default_model import bundle_path
from mujo_edge.errors import DataError
from mujo_edge.metrics import dumps_strict
from mujo_edge.recording import Recording
from mujo_edge.resample import resample
from mujo_edge.runtime import Prediction, Recognizer
from mujo_edge.runtime.repetitions import RepetitionConfig, RepetitionCounter, count_repetitions
from mujo_edge.runtime.session import EXERCISE, SessionConfig, SessionLog, SessionState, track
from mujo_edge.runtime.session.truth import TrueSet, match_sets
from mujo_edge.splits import subject_kfold
from mujo_edge.training import results_tables

WRIST_ACC = ChannelSelection(placements=("wrist",), sensors=("acc",))
RATE = 50.0
SPAR_REPS = 20
CALIBRATION_SW = tuple(f"s{i:02d}" for i in range(1, 12))  # sp-sw-har subjects for calibration; the rest test
REP_GRID = {
    "prominence": (0.2, 0.3, 0.5),
    # not below 0.6 of a period: at 0.5 the live count takes half a period for the period early in a set and lags
    # (within one repetition for 67 % of SPAR's repetitions, against 93-97 % at 0.6-0.7)
    "min_distance": (0.6, 0.7),
    "high_hz": (2.0, 2.5, 3.5),
}


# --- (a) repetitions ----------------------------------------------------------------------------------------
def rep_errors(sets: Sequence[tuple[str, np.ndarray, int]], config: RepetitionConfig) -> list[int]:
    return [count_repetitions(x, config).count - truth for _, x, truth in sets]


def rep_score(errors: Sequence[int]) -> dict[str, Any]:
    e = np.abs(np.asarray(errors, dtype=float))
    return {
        "sets": len(e),
        "mae": float(e.mean()) if len(e) else None,
        "within_1": float((e <= 1).mean()) if len(e) else None,
        "within_2": float((e <= 2).mean()) if len(e) else None,
    }


def tune_counter(sets: Sequence[tuple[str, np.ndarray, int]]) -> RepetitionConfig:
    """The grid point with the most sets within +-1, then the lowest MAE (ties: the first in grid order)."""
    best: tuple[float, float] | None = None
    chosen = RepetitionConfig()
    for values in itertools.product(*REP_GRID.values()):
        config = replace(RepetitionConfig(), **dict(zip(REP_GRID, values)))
        e = np.abs(rep_errors(sets, config))
        key = (-float((e <= 1).mean()), float(e.mean()))
        if best is None or key < best:
            best, chosen = key, config
    return chosen


def by_label(labels: Sequence[str], errors: Sequence[int]) -> dict[str, Any]:
    groups: dict[str, list[int]] = defaultdict(list)
    for label, err in zip(labels, errors):
        groups[label].append(err)
    return {label: rep_score(groups[label]) for label in sorted(groups)}


def repetitions_benchmark(spar: Sequence[Recording]) -> dict[str, Any]:
    sets = [(r.classes[r.labels[0]], r.x.astype(np.float64), SPAR_REPS) for r in spar]
    subjects = [r.subject for r in spar]
    folds = []
    labels: list[str] = []
    errors: list[int] = []
    lags_s: list[float] = []
    lags_periods: list[float] = []
    for split in subject_kfold(sorted(set(subjects)), 5, seed=0, n_val=1):
        tune = [s for s, subj in zip(sets, subjects) if subj not in split.test]
        test = [s for s, subj in zip(sets, subjects) if subj in split.test]
        config = tune_counter(tune)
        err = rep_errors(test, config)
        for _, x, _ in test:
            lag_s, lag_periods = live_lags(x, config)
            lags_s += lag_s
            lags_periods += lag_periods
        labels += [s[0] for s in test]
        errors += err
        chosen = {k: getattr(config, k) for k in REP_GRID}
        folds.append({"fold": split.name, "test_subjects": list(split.test), "settings": chosen, **rep_score(err)})
    defaults = rep_errors(sets, RepetitionConfig())
    return {
        "protocol": "5 subject-wise folds (seed 0); counter settings chosen per fold on its other 8 subjects",
        "grid": {k: list(v) for k, v in REP_GRID.items()},
        "overall": rep_score(errors),
        "per_exercise": by_label(labels, errors),
        "folds": folds,
        "errors": {"count_minus_truth": dict(sorted(_histogram(errors).items()))},
        "live_lag": {
            "note": "per repetition from the third: when the live count (0.2 s pushes) reached k, minus the k-th "
            "peak of the whole-set estimate",
            "repetitions": len(lags_s),
            "median_s": float(np.median(lags_s)) if lags_s else None,
            "p90_s": float(np.percentile(lags_s, 90)) if lags_s else None,
            "within_one_period": share([v <= 1.0 for v in lags_periods]),
            "median_periods": float(np.median(lags_periods)) if lags_periods else None,
        },
        "default_settings_all_subjects": {
            "note": "RepetitionConfig() on all 140 sets: its defaults were chosen on the bundle's non-test "
            "subjects, so this is not a held-out number",
            **rep_score(defaults),
        },
    }


LIVE_CHUNK = 10  # samples per push in the live measurement: 0.2 s, a watch's batch


def live_lags(x: np.ndarray, config: RepetitionConfig) -> tuple[list[float], list[float]]:
    """How late the live count is, per repetition from the third on (the period is known after two): time at
    which `RepetitionCounter`'s count (pushed LIVE_CHUNK samples at a time) first reaches k, minus the time of
    the k-th repetition's peak as the whole-set estimate places it; in seconds and in periods. No ground truth
    of repetition times exists in SPAR, so the whole-set peaks stand in for it."""
    final = count_repetitions(x, config)
    if final.period_s is None or len(final.peaks) < 3:
        return [], []
    counter = RepetitionCounter(config)
    reached: dict[int, int] = {}
    for i in range(0, len(x), LIVE_CHUNK):
        count = counter.push(x[i : i + LIVE_CHUNK])
        for k in range(1, count + 1):
            reached.setdefault(k, min(i + LIVE_CHUNK, len(x)))
    seconds = [
        (reached[k] - final.peaks[k - 1]) / config.rate_hz for k in range(3, len(final.peaks) + 1) if k in reached
    ]
    return seconds, [s / final.period_s for s in seconds]


def _histogram(errors: Sequence[int]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for e in errors:
        out[f"{e:+d}"] += 1
    return out


# --- (b) sets and rest --------------------------------------------------------------------------------------
# NamedTuple, not a dataclass: tests load this script without registering it as a module, which dataclasses
# need to resolve postponed annotations
class Stream(NamedTuple):
    name: str
    t: np.ndarray  # [N] s at RATE
    xyz: np.ndarray  # [N, 3] m/s^2
    is_exercise: np.ndarray  # [N] bool
    sets: tuple[TrueSet, ...]


def build_stream(name: str, sets: Sequence[Recording], rests: Sequence[Recording], rng: np.random.Generator) -> Stream:
    """`sets` in a random order, each between 2-4 random `rests` (one to two before the first, after the last)."""
    parts: list[np.ndarray] = []
    flags: list[np.ndarray] = []
    true: list[TrueSet] = []
    n = 0

    def add(x: np.ndarray, exercise: str | None) -> None:
        nonlocal n
        parts.append(x.astype(np.float64))
        flags.append(np.full(len(x), exercise is not None))
        if exercise is not None:
            true.append(TrueSet(exercise, n / RATE, (n + len(x)) / RATE, SPAR_REPS))
        n += len(x)

    def rest(k: int) -> None:
        for i in rng.choice(len(rests), size=k, replace=False):
            add(rests[i].x, None)

    rest(int(rng.integers(1, 3)))
    for i in rng.permutation(len(sets)):
        add(sets[i].x, sets[i].classes[sets[i].labels[0]])
        rest(int(rng.integers(2, 5)))
    xyz = np.concatenate(parts)
    return Stream(name, np.arange(len(xyz)) / RATE, xyz, np.concatenate(flags), tuple(true))


def predict_stream(recognizer: Recognizer, stream: Stream) -> list[Prediction]:
    live = recognizer.stream()
    return live.push(stream.t, stream.xyz) + live.flush()


def window_truth(stream: Stream, predictions: Sequence[Prediction], purity: float = 0.6) -> np.ndarray:
    """Per window: 1 exercise, 0 rest, -1 mixed (neither covers `purity` of it; left out of the shares)."""
    out = np.full(len(predictions), -1)
    for i, p in enumerate(predictions):
        lo, hi = round(p.start_s * RATE), round(p.end_s * RATE)
        share = stream.is_exercise[lo:hi].mean() if hi > lo else 0.5
        out[i] = 1 if share >= purity else 0 if share <= 1 - purity else -1
    return out


def run_tracker(
    recognizer: Recognizer, stream: Stream, predictions: Sequence[Prediction], config: SessionConfig
) -> tuple[SessionLog, list[SessionState]]:
    m = recognizer.manifest
    return track(predictions, stream.t, stream.xyz, m.channels, m.units, m.window, config)


def calibrate(features: np.ndarray, truth: np.ndarray, base: SessionConfig) -> tuple[SessionConfig, dict[str, Any]]:
    """Thresholds maximising the balanced accuracy (mean of rest->not exercise and exercise->exercise) of the
    per-window status on the calibration windows. features [W, 3]: energy, periodicity, confidence."""
    keep = truth >= 0
    f, y = features[keep], truth[keep] == 1
    energies = np.round(np.quantile(f[y, 0], np.linspace(0.0, 0.3, 13)), 3)
    periods = np.round(np.arange(0.0, 0.91, 0.05), 2)
    confidences = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
    best: tuple[float, float, float, float] | None = None
    for e, p, c in itertools.product(energies, periods, confidences):
        said = (f[:, 0] >= e) & (f[:, 1] >= p) & (f[:, 2] >= c)
        score = 0.5 * (said[y].mean() + (~said[~y]).mean())
        if best is None or score > best[0]:
            best = (float(score), float(e), float(p), float(c))
    assert best is not None
    score, e, p, c = best
    config = replace(base, energy_threshold=e, periodicity_threshold=p, confidence_threshold=c)
    return config, {"balanced_accuracy": score, "windows": int(keep.sum()), "exercise_windows": int(y.sum())}


CALIBRATED = (
    "energy_threshold",
    "periodicity_threshold",
    "confidence_threshold",
    "enter_windows",
    "exit_windows",
    "min_repetitions",
    "merge_s",
)
HYSTERESIS_GRID = {
    "enter_windows": (2, 3, 4),
    "exit_windows": (2, 3, 4),
    "min_repetitions": (0, 3, 5),
    "merge_s": (0.0, 4.0, 8.0, 12.0),
}


def calibrate_hysteresis(
    recognizer: Recognizer, streams: Sequence[Stream], predictions: Sequence[Sequence[Prediction]], base: SessionConfig
) -> tuple[SessionConfig, dict[str, Any]]:
    """The filter over windows maximising the set-level F1 on the calibration streams: recall = share of true
    sets found with the right exercise and repetitions within +-1, precision = share of detected sets that
    match a true set."""
    best: tuple[float, ...] | None = None
    chosen = base
    for values in itertools.product(*HYSTERESIS_GRID.values()):
        config = replace(base, **dict(zip(HYSTERESIS_GRID, values)))
        right = true = matched = detected = 0
        for stream, preds in zip(streams, predictions):
            log, _ = run_tracker(recognizer, stream, preds, config)
            rows = set_scores(log, stream)
            right += sum(r["all_right"] for r in rows)
            matched += sum(r["found"] for r in rows)
            true += len(rows)
            detected += len(log.sets)
        recall, precision = right / max(true, 1), min(matched, detected) / max(detected, 1)
        f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
        if best is None or f1 > best[0]:
            best, chosen = (f1, recall, precision), config
    assert best is not None
    return chosen, {"set_f1": best[0], "recall": best[1], "precision": best[2], "grid": HYSTERESIS_GRID}


def window_features(states: Sequence[SessionState]) -> np.ndarray:
    return np.array([[s.window.energy, s.window.periodicity, s.window.confidence] for s in states]).reshape(-1, 3)


def set_scores(log: SessionLog, stream: Stream) -> list[dict[str, Any]]:
    """Per true set: `runtime.session.truth.match_sets`'s verdict (found: a detected set covers half of it)."""
    return [m.to_dict() for m in match_sets(log, stream.sets)]


def share(values: Sequence[bool]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def stream_scores(
    states: Sequence[SessionState], truth: np.ndarray, sets: Sequence[dict[str, Any]], log: SessionLog
) -> dict[str, Any]:
    shown_exercise = np.array([s.status == EXERCISE for s in states], dtype=bool)
    matched = [s for s in sets if s["found"]]
    return {
        "rest_windows": int((truth == 0).sum()),
        "exercise_windows": int((truth == 1).sum()),
        "rest_shown_as_rest": share(list(~shown_exercise[truth == 0])),
        "exercise_shown_as_exercise": share(list(shown_exercise[truth == 1])),
        "true_sets": len(sets),
        "detected_sets": len(log.sets),
        "extra_sets": len(log.sets) - len(matched),
        "sets_found": share([s["found"] for s in sets]),
        "boundaries_within_2s": share([s["boundaries_within_2s"] for s in sets]),
        "exercise_right": share([s["exercise_right"] for s in sets]),
        "reps_within_1": share([s["reps_within_1"] for s in sets]),
        "set_score": share([s["all_right"] for s in sets]),
        "median_abs_start_error_s": _median_abs([s["start_error_s"] for s in matched]),
        "median_abs_end_error_s": _median_abs([s["end_error_s"] for s in matched]),
    }


def _median_abs(values: Sequence[float | None]) -> float | None:
    v = [abs(x) for x in values if x is not None]
    return float(np.median(v)) if v else None


def sessions_benchmark(
    spar: Sequence[Recording], sw: Sequence[Recording], recognizer: Recognizer, counter: RepetitionConfig, shuffles: int
) -> dict[str, Any]:
    split = recognizer.manifest.training.split
    if split is None or not split.test or not split.val:
        raise DataError("the bundle does not record its validation and test subjects", field="training.split")
    rests_cal = [r for r in sw if r.subject in CALIBRATION_SW]
    rests_test = [r for r in sw if r.subject not in CALIBRATION_SW]
    base = SessionConfig(repetitions=counter)

    def streams(subjects: Sequence[str], rests: Sequence[Recording], seed: int) -> list[Stream]:
        rng = np.random.default_rng(seed)
        out = []
        for subject in subjects:
            mine = [r for r in spar if r.subject == subject]
            out += [build_stream(f"spar{subject}-{k}", mine, rests, rng) for k in range(shuffles)]
        return out

    cal_streams = streams(split.val, rests_cal, 1)
    test_streams = streams(split.test, rests_test, 2)
    feats, truth = [], []
    cal_preds = [predict_stream(recognizer, s) for s in cal_streams]
    for s, preds in zip(cal_streams, cal_preds):
        _, states = run_tracker(recognizer, s, preds, base)
        feats.append(window_features(states))
        truth.append(window_truth(s, preds))
    config, fit = calibrate(np.concatenate(feats), np.concatenate(truth), base)
    config, fit["hysteresis"] = calibrate_hysteresis(recognizer, cal_streams, cal_preds, config)
    per_stream = []
    all_sets: list[dict[str, Any]] = []
    all_states: list[SessionState] = []
    all_truth: list[np.ndarray] = []
    logs: list[SessionLog] = []
    for s in test_streams:
        preds = predict_stream(recognizer, s)
        log, states = run_tracker(recognizer, s, preds, config)
        wt = window_truth(s, preds)
        sets = set_scores(log, s)
        per_stream.append({"stream": s.name, "duration_s": float(s.t[-1]), **stream_scores(states, wt, sets, log)})
        all_sets += sets
        all_states += states
        all_truth.append(wt)
        logs.append(log)
    wt = np.concatenate(all_truth)
    overall = stream_scores(all_states, wt, all_sets, _merged(logs))
    baseline = {
        "rest_shown_as_rest": 0.0 if (wt == 0).any() else None,
        "exercise_shown_as_exercise": 1.0 if (wt == 1).any() else None,
        "sets_found": None,
        "set_score": None,
        "note": "the runtime without the tracker names one of the trained exercises for every window and has no "
        "notion of a set or a repetition",
    }
    calibrated = {k: getattr(config, k) for k in CALIBRATED}
    return {
        "protocol": {
            "calibration": f"SPAR subject(s) {list(split.val)} (the bundle's validation) x {shuffles} orders, "
            f"sp-sw-har {CALIBRATION_SW[0]}-{CALIBRATION_SW[-1]}",
            "test": f"SPAR subject(s) {list(split.test)} (never seen by the bundle) x {shuffles} orders, "
            f"sp-sw-har subjects other than {CALIBRATION_SW[0]}-{CALIBRATION_SW[-1]}",
            "rests": "2-4 sp-sw-har watch executions between sets (1-2 before the first)",
            "found": "a detected set covers >= 50 % of the true set",
        },
        "calibrated": calibrated,
        "calibration_fit": fit,
        "defaults_match_calibration": all(abs(getattr(SessionConfig(), k) - v) < 1e-9 for k, v in calibrated.items()),
        "tracker": overall,
        "baseline_every_window_an_exercise": baseline,
        "per_stream": per_stream,
        "per_exercise": {
            ex: {
                "sets": len(rows),
                "found": share([r["found"] for r in rows]),
                "exercise_right": share([r["exercise_right"] for r in rows]),
                "reps_within_1": share([r["reps_within_1"] for r in rows]),
            }
            for ex, rows in sorted(_group(all_sets).items())
        },
        "sets": all_sets,
    }


def _group(rows: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r["exercise"]].append(r)
    return out


def _merged(logs: Sequence[SessionLog]) -> SessionLog:
    return SessionLog(tuple(s for g in logs for s in g.sets), (), None, None, sum(g.windows for g in logs))


# --- data ---------------------------------------------------------------------------------------------------
def load(root: Path) -> tuple[list[Recording], list[Recording]]:
    grid = WindowConfig(rate_hz=RATE)
    spar = load_recordings(get_loader("spar_watch"), root / "spar_watch", WRIST_ACC, grid)
    sw = [resample(r, grid) for r in load_recordings(get_loader("sp_sw_har"), root / "sp_sw_har", WRIST_ACC, grid)]
    for r in spar:
        if abs(r.native_rate_hz() - RATE) > 0.5:
            raise DataError(f"{r.source}: expected {RATE} Hz, got {r.native_rate_hz():.1f}", path=r.source)
    return spar, sw


REPS_FILE = "mujo-reps.toml"


def own_csv(folder: Path) -> dict[str, Any]:
    """(a) on your recordings: one set per CSV file (bring-your-own layout), the repetitions done in each in
    FOLDER/mujo-reps.toml, a table `[reps]` of file name = count (not a .csv: the loader reads every CSV)."""
    side = folder / REPS_FILE
    if not side.is_file():
        raise DataError(f'needs {REPS_FILE} beside the CSV files: [reps] then "file.csv" = repetitions', path=side)
    try:
        table = tomllib.loads(side.read_text())
    except tomllib.TOMLDecodeError as e:
        raise DataError(f"not valid TOML: {e}", path=side) from None
    reps = table.get("reps")
    if not isinstance(reps, dict) or not reps:
        raise DataError('needs a table [reps] of "file.csv" = repetitions', path=side, field="reps")
    for name, count in reps.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise DataError(f"repetitions of {name!r} must be a whole number >= 0, got {count!r}", path=side)
    grid = WindowConfig(rate_hz=RATE)
    recordings = load_recordings(get_loader("csv"), folder, WRIST_ACC, grid)
    sets, missing = [], []
    for r in recordings:
        name = Path(r.source).name
        if name not in reps:
            missing.append(name)
            continue
        x = resample(r, grid).x.astype(np.float64)
        labelled = r.labels[r.labels >= 0]
        label = r.classes[int(np.bincount(labelled).argmax())] if len(labelled) else "set"
        sets.append((label, x, int(reps[name])))
    if not sets:
        raise DataError(f"no recording is named in {REPS_FILE} (files: {missing})", path=side)
    errors = rep_errors(sets, RepetitionConfig())
    return {
        "overall": rep_score(errors),
        "per_label": by_label([s[0] for s in sets], errors),
        "sets": [{"label": s[0], "truth": s[2], "error": e} for s, e in zip(sets, errors)],
        "recordings_without_reps": missing,
    }


# --- output -------------------------------------------------------------------------------------------------
def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.0f} %"


def _num(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    lines = [f"# Workout sessions (issue 17)\n\n`{results['command']}`\n"]
    if "repetitions" in results:
        reps = results["repetitions"]
        lines += [
            "## Repetitions per set (SPAR, 20 per set, held-out subjects, 5 subject-wise folds)\n",
            "| exercise | sets | MAE | within +-1 | within +-2 |",
            "|---|---:|---:|---:|---:|",
        ]
        for ex, s in reps["per_exercise"].items():
            lines.append(f"| {ex} | {s['sets']} | {_num(s['mae'])} | {_pct(s['within_1'])} | {_pct(s['within_2'])} |")
        o = reps["overall"]
        lines.append(f"| **all** | {o['sets']} | {_num(o['mae'])} | {_pct(o['within_1'])} | {_pct(o['within_2'])} |\n")
        lag = reps.get("live_lag")
        if lag and lag["repetitions"]:
            lines.append(
                f"Live count (0.2 s batches), from the third repetition: reached {_num(lag['median_s'], 1)} s "
                f"(median; p90 {_num(lag['p90_s'], 1)} s) after the repetition's peak, within one repetition for "
                f"{_pct(lag['within_one_period'])} of {lag['repetitions']} repetitions.\n"
            )
    if "sessions" in results:
        s = results["sessions"]
        t, b = s["tracker"], s["baseline_every_window_an_exercise"]
        c = s["calibrated"]
        lines += [
            "## Sets and rest (held-out SPAR subjects' sets between real sp-sw-har watch stretches)\n",
            f"Calibrated on validation streams: energy >= {c['energy_threshold']:.3g} m/s^2, periodicity >= "
            f"{c['periodicity_threshold']:.2f}, confidence >= {c['confidence_threshold']:.2f}; a set opens after "
            f"{c['enter_windows']} such windows, closes after {c['exit_windows']} others, needs "
            f"{c['min_repetitions']} repetitions and continues across up to {c['merge_s']:g} s of other windows. "
            f"Test: {t['true_sets']} sets in {len(s['per_stream'])} streams, {t['rest_windows']} rest and "
            f"{t['exercise_windows']} exercise windows.\n",
            "| | tracker | every window an exercise (today) |",
            "|---|---:|---:|",
            f"| rest windows shown as rest | {_pct(t['rest_shown_as_rest'])} | {_pct(b['rest_shown_as_rest'])} |",
            f"| exercise windows shown as exercise | {_pct(t['exercise_shown_as_exercise'])} | "
            f"{_pct(b['exercise_shown_as_exercise'])} |",
            f"| sets found ({t['true_sets']} true, {t['detected_sets']} detected) | {_pct(t['sets_found'])} | - |",
            f"| set boundaries within +-2 s | {_pct(t['boundaries_within_2s'])} | - |",
            f"| exercise right | {_pct(t['exercise_right'])} | - |",
            f"| repetitions within +-1 | {_pct(t['reps_within_1'])} | - |",
            f"| set score (found, exercise right, reps +-1) | {_pct(t['set_score'])} | - |",
            f"| median abs start / end error | {_num(t['median_abs_start_error_s'], 1)} s / "
            f"{_num(t['median_abs_end_error_s'], 1)} s | - |\n",
            "| exercise | sets | found | exercise right | repetitions within +-1 |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {ex} | {v['sets']} | {_pct(v['found'])} | {_pct(v['exercise_right'])} | "
                f"{_pct(v['reps_within_1'])} |"
                for ex, v in s["per_exercise"].items()
            ),
            "",
        ]
    if "own_csv" in results:
        o = results["own_csv"]["overall"]
        lines += [
            "## Your recordings (repetitions from mujo-reps.toml)\n",
            f"{o['sets']} sets: MAE {_num(o['mae'])}, within +-1 {_pct(o['within_1'])}, "
            f"within +-2 {_pct(o['within_2'])}\n",
        ]
    return "\n".join(lines)


README_BLOCK = "session-tracking"
GENERATOR = "`python benchmarks/session_tracking.py --out benchmarks/results --readme README.md`"


def update_readme(readme: str, results: dict[str, Any]) -> str:
    """`readme` with its session block rewritten from `results`: the markdown without its title, headings one
    level down (LayoutError when the README lacks the block's markers)."""
    body = markdown(results).split("\n", 2)[2].replace("\n## ", "\n#### ").strip()
    return results_tables.update_readme(readme, README_BLOCK, body, generator=GENERATOR)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder of the shared datasets")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--shuffles", type=int, default=3, help="set orders per subject in part (b)")
    parser.add_argument("--csv", type=Path, default=None, help="your CSV folder with mujo-reps.toml: (a) only")
    parser.add_argument("--skip-sessions", action="store_true", help="part (a) only")
    parser.add_argument(
        "--readme", type=Path, default=None, help="only rewrite this README's block from --out's committed JSON"
    )
    args = parser.parse_args(argv)
    if args.readme is not None:
        saved = json.loads((args.out / "session_tracking.json").read_text())
        args.readme.write_text(update_readme(args.readme.read_text(), saved))
        return dict(saved)
    command = "python benchmarks/session_tracking.py " + " ".join(
        argv if argv is not None else __import__("sys").argv[1:]
    )
    t0 = time.perf_counter()
    results: dict[str, Any] = {
        "command": command.strip(),
        "mujo_edge": __version__,
        "python": platform.python_version(),
    }
    if args.csv is not None:
        results["own_csv"] = own_csv(args.csv)
        name = "session_tracking_csv"
    else:
        spar, sw = load(args.data)
        results["repetitions"] = repetitions_benchmark(spar)
        if not args.skip_sessions:
            # the counter used in (b): chosen on the bundle's training and validation subjects, never its test ones
            with Recognizer.from_bundle(bundle_path()) as recognizer:
                seen = set(recognizer.manifest.training.split.seen) if recognizer.manifest.training.split else set()
                counter = tune_counter([(r.classes[r.labels[0]], r.x, SPAR_REPS) for r in spar if r.subject in seen])
                results["counter_for_sessions"] = asdict(counter)
                results["counter_defaults_match"] = counter == RepetitionConfig()
                results["sessions"] = sessions_benchmark(spar, sw, recognizer, counter, args.shuffles)
        name = "session_tracking"
    results["seconds"] = round(time.perf_counter() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(dumps_strict(results, indent=1) + "\n")
    (args.out / f"{name}.md").write_text(markdown(results))
    print(markdown(results))
    return json.loads(dumps_strict(results))


if __name__ == "__main__":
    main()
