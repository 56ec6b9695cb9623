"""`mujo-edge finetune` end to end on SPAR (one epoch): the checkpoint holds everything export needs."""

import json
import subprocess
import sys

import pytest
import torch

from mujo_edge.training.checkpoints import read_classifier
from mujo_edge.training.classifier import load_classifier

pytestmark = pytest.mark.slow


def test_finetune_writes_a_complete_checkpoint(tmp_path, shared_data):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mujo_edge",
            "finetune",
            "--dataset",
            "spar_watch",
            "--root",
            str(shared_data / "spar_watch"),
            "--regime",
            "baseline",
            "--epochs",
            "1",
            "--fold",
            "2",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "macro-F1" in r.stdout
    ckpt = read_classifier(tmp_path / "classifier.pt")
    assert ckpt.channels == ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")
    assert ckpt.classes == ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")
    assert "pendulum" in ckpt.label_texts["PEN"] and ckpt.window["length"] == 100
    assert ckpt.normaliser.channels == ckpt.channels
    assert not set(ckpt.split["train"]) & set(ckpt.split["test"])
    clf = load_classifier(ckpt)
    assert clf(torch.zeros(2, 3, 100)).shape == (2, 7)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0 <= metrics["test"]["macro_f1"] <= 1


def test_frozen_without_checkpoint_is_a_clear_error(tmp_path, shared_data):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mujo_edge",
            "finetune",
            "--dataset",
            "spar_watch",
            "--root",
            str(shared_data / "spar_watch"),
            "--regime",
            "frozen",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 1 and "needs a pre-trained checkpoint" in r.stderr


def test_a_users_label_descriptions_reach_the_checkpoint(tmp_path):
    """mujo-labels.toml next to the data: the classifier (and so the bundle) carries those texts."""
    import numpy as np

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for s in range(5):
        rows = []
        for i in range(1500):
            label = "sq" if i < 750 else "lj"
            f = 1.0 if label == "sq" else 2.5
            a = np.sin(2 * np.pi * f * i / 50) + rng.normal(scale=0.1, size=3)
            rows.append(f"{20 * i},{a[0]:.4f},{a[1]:.4f},{9.8 + a[2]:.4f},{label}")
        header = "timestamp[ms],wrist_acc_x[m/s^2],wrist_acc_y[m/s^2],wrist_acc_z[m/s^2],label"
        (data / f"s{s}.csv").write_text("\n".join([header, *rows]) + "\n")
    (data / "mujo-labels.toml").write_text('sq = "a person doing squats"\n')
    r = subprocess.run(
        [
            *(sys.executable, "-m", "mujo_edge", "finetune", "--dataset", "csv", "--root", str(data)),
            *("--regime", "baseline", "--epochs", "1", "--fold", "1", "--out", str(tmp_path / "ft")),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    ckpt = read_classifier(tmp_path / "ft" / "classifier.pt")
    assert ckpt.label_texts["sq"] == "a person doing squats"
    assert ckpt.label_texts["lj"] == "a person doing lj"  # undescribed: the fallback


def _one_subject(data, recordings=4):
    """One wearer's sets: `<data>/set<i>.csv`, two exercises each, all with subject `me`."""
    import numpy as np

    data.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for r in range(recordings):
        rows = []
        for i in range(1200):
            label = "sq" if i < 600 else "lj"
            a = np.sin(2 * np.pi * (1.0 if label == "sq" else 2.5) * i / 50) + rng.normal(scale=0.1, size=3)
            rows.append(f"{20 * i},{a[0]:.4f},{a[1]:.4f},{9.8 + a[2]:.4f},{label},me")
        header = "timestamp[ms],wrist_acc_x[m/s^2],wrist_acc_y[m/s^2],wrist_acc_z[m/s^2],label,subject"
        (data / f"set{r}.csv").write_text("\n".join([header, *rows]) + "\n")


def _finetune(data, out, *extra):
    return subprocess.run(
        [
            *(sys.executable, "-m", "mujo_edge", "finetune", "--dataset", "csv", "--root", str(data)),
            *("--regime", "baseline", "--epochs", "1", "--out", str(out), *extra),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_one_subject_says_what_to_do_and_splitting_by_recording_works_with_a_warning(tmp_path):
    data = tmp_path / "data"
    _one_subject(data)
    r = _finetune(data, tmp_path / "ft")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "1 subjects" in r.stderr and "--split-by recording" in r.stderr
    r = _finetune(data, tmp_path / "ft", "--split-by", "recording", "--folds", "3")
    assert r.returncode == 0, r.stderr
    assert "optimistic" in r.stderr
    ckpt = read_classifier(tmp_path / "ft" / "classifier.pt")
    assert ckpt.finetune["split_by"] == "recording" and len(ckpt.split["test"]) >= 1
    r = _finetune(data, tmp_path / "ft2", "--split-by", "recording", "--folds", "9")
    assert r.returncode == 1 and "--folds between 2 and 4" in r.stderr
