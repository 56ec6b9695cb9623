"""Issue 16: from CSV files in a foreign layout to a bundle and its predictions, with no file edited by hand.

The recordings are written as another device's app would: its own header names, an extra time column, datetime
timestamps, g units, 25 Hz, the subject only in the file name, and one subject who did two of the three
exercises. The path is the README's "Your own recordings": `data inspect` -> `finetune` -> `export --int8` ->
`predict` and `replay`, each step run as a user runs it (a separate process, from another folder), its numbers
checked, every JSON parsed strictly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.export

RATE = 25.0  # Hz: below the model's 50 Hz grid, so the rate the bundle records is the recordings' own
SUBJECTS = ("anna", "ben", "cara", "dan", "eve")
# exercise -> (frequency Hz, axis, amplitude g): three movements a wrist tells apart
EXERCISES = {"pr": (1.0, 0, 0.6), "rw": (0.5, 1, 0.5), "cu": (1.6, 2, 0.4)}
LACKS = {"dan": "cu"}  # dan did only two exercises: a seeded validation on him would miss a class
LABELS = (
    'pr = "a person doing overhead presses"\nrw = "a person doing bent-over rows"\ncu = "a person doing biceps curls"\n'
)


def _strict(text: str):
    def refuse(constant: str):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _write_subject(folder: Path, subject: str, rng: np.random.Generator) -> None:
    rows, ms = [], 1_700_000_000_000 + 3_600_000 * SUBJECTS.index(subject)
    for label, (f, axis, amp) in EXERCISES.items():
        if LACKS.get(subject) == label:
            continue
        phase = rng.uniform(0, 2 * np.pi)
        for i in range(int(40 * RATE)):  # a 40 s set
            a = rng.normal(scale=0.03, size=3) + np.array([0.0, 0.0, 1.0])
            a[axis] += amp * np.sin(2 * np.pi * f * i / RATE + phase)
            stamp = np.datetime64(ms, "ms").astype(str).replace("T", " ")  # 2023-11-14 22:13:20.000
            rows.append(f"{stamp},{a[0]:.4f},{a[1]:.4f},{a[2]:.4f},{ms},{label}")
            ms += round(1000 / RATE)
        ms += 20_000  # a rest between sets: a gap, not interpolated
    (folder / f"{subject}_session1.csv").write_text("t,ax,ay,az,epoch (ms),activity\n" + "\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def recordings(tmp_path_factory, make_mapping) -> Path:
    data = tmp_path_factory.mktemp("own") / "my-watch"
    data.mkdir()
    rng = np.random.default_rng(7)
    for s in SUBJECTS:
        _write_subject(data, s, rng)
    (data / "mujo-csv.toml").write_text(make_mapping(label="activity"))
    (data / "mujo-labels.toml").write_text(LABELS)
    return data


def _run(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "MUJO_EDGE_CACHE": str(cwd / ".cache")}
    r = subprocess.run(
        [sys.executable, "-m", "mujo_edge", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    if check:
        assert r.returncode == 0, f"mujo-edge {' '.join(args)}:\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def trained(recordings, tmp_path_factory) -> tuple[Path, Path]:
    """`finetune` on the foreign files (fold 5 of 5: the seeded validation subject would be dan)."""
    work = tmp_path_factory.mktemp("work")
    _run(
        *("finetune", "--dataset", "csv", "--root", str(recordings), "--regime", "baseline"),
        *("--folds", "5", "--fold", "5", "--epochs", "25", "--patience", "6", "--out", "ft"),
        cwd=work,
    )
    return work, work / "ft"


def test_inspect_shows_the_mapping_rate_and_the_subject_table(recordings, tmp_path):
    r = _run("data", "inspect", "csv", "--root", str(recordings), "--json", cwd=tmp_path)
    summary = _strict(r.stdout)
    assert summary["subjects"] == list(SUBJECTS)
    assert summary["native_rate_hz"] == pytest.approx([RATE] * 3, rel=1e-3)  # samples over time, not 1/median
    per_subject = summary["subject_class_windows"]
    assert per_subject["dan"]["cu"] == 0 and all(per_subject[s]["cu"] > 30 for s in SUBJECTS if s != "dan")
    table = _run("data", "inspect", "csv", "--root", str(recordings), cwd=tmp_path).stdout
    assert "mujo-csv.toml" in table and "epoch (ms)" in table  # the mapping it used, ignored column included


def test_finetune_validates_on_a_subject_with_every_class_and_records_its_data(trained, recordings):
    from mujo_edge.training.checkpoints import read_classifier

    _, ft = trained
    ckpt = read_classifier(ft / "classifier.pt")
    assert ckpt.split["test"] == ("ben",)
    assert ckpt.split["val"] != ("dan",) and len(ckpt.split["val"]) == 1  # dan lacks "cu"
    assert ckpt.label_texts["rw"] == "a person doing bent-over rows"
    assert ckpt.data is not None and Path(ckpt.data.root) == recordings.resolve()
    assert {f"{s}_session1.csv" for s in SUBJECTS} <= {f.path for f in ckpt.data.files}
    assert ckpt.data.rate_hz == pytest.approx(RATE, rel=1e-3)
    metrics = _strict((ft / "metrics.json").read_text())
    assert metrics["test"]["macro_f1"] > 0.9


@pytest.fixture(scope="module")
def bundle(trained) -> Path:
    """`export --int8` from another folder, without --root: the checkpoint knows where its data is."""
    work, ft = trained
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    r = _run("export", str(ft / "classifier.pt"), "--int8", "--format", "tflite", "--out", "bundle", cwd=elsewhere)
    assert "tflite" in r.stdout
    return elsewhere / "bundle"


def test_export_finds_the_data_and_the_bundle_is_strict_json(bundle, recordings):
    manifest = _strict((bundle / "mujo.json").read_text())
    data = manifest["training"]["data"]
    assert data["root"] == str(recordings.resolve()) and data["files"] >= len(SUBJECTS)
    assert data["native_rate_hz"][1] == pytest.approx(RATE, rel=1e-3)
    assert sorted(manifest["labels"]) == ["cu", "pr", "rw"]
    assert manifest["label_texts"]["cu"] == "a person doing biceps curls"
    int8 = [a for a in manifest["artifacts"] if a["precision"] == "int8"]
    assert int8 and all(a["status"] == "pass" for a in manifest["artifacts"])


def test_predict_defaults_to_the_held_out_subject_where_training_read_it(bundle, tmp_path):
    r = _run("predict", str(bundle), "--json", cwd=tmp_path)
    report = _strict(r.stdout)
    assert {rec["subject"] for rec in report["recordings"]} == {"ben"}
    assert report["metrics"]["macro_f1"] > 0.9
    full = _strict(_run("predict", str(bundle), "--data", "csv", "--json", cwd=tmp_path).stdout)
    assert {rec["subject"] for rec in full["recordings"]} == set(SUBJECTS)  # the dataset's name: its recorded root


def test_replay_agrees_with_predict_and_compares_the_training_rate(bundle, recordings, tmp_path):
    out = tmp_path / "replay.json"
    r = _run(
        "replay", str(recordings / "ben_session1.csv"), "--bundle", str(bundle), "--json-out", str(out), cwd=tmp_path
    )
    assert "below" not in r.stdout + r.stderr  # 25 Hz in, trained on 25 Hz recordings: nothing to warn about
    replayed = _strict(out.read_text())
    offline = _strict(_run("predict", str(bundle), "--json", cwd=tmp_path).stdout)
    live_labels = [p["label"] for p in replayed["predictions"]]
    offline_labels = [w["label"] for rec in offline["recordings"] for w in rec["windows"]]
    assert live_labels == offline_labels


def test_moved_data_is_named_with_what_to_pass(trained, recordings, tmp_path):
    _, ft = trained
    moved = recordings.parent / "moved"
    shutil.move(recordings, moved)
    try:
        r = _run("export", str(ft / "classifier.pt"), "--format", "onnx", "--out", "b2", cwd=tmp_path, check=False)
        assert r.returncode != 0
        message = r.stdout + r.stderr
        assert str(recordings.resolve()) in message and "--root" in message and "Traceback" not in message
        ok = _run(
            "export", str(ft / "classifier.pt"), "--format", "onnx", "--root", str(moved), "--out", "b3", cwd=tmp_path
        )
        assert "b3" in ok.stdout
    finally:
        shutil.move(moved, recordings)
