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
