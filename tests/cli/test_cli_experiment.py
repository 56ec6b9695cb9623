"""`mujo-edge experiment label-efficiency` end to end on SPAR with a tiny grid."""

import csv
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_tiny_grid_on_spar(tmp_path, shared_data):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mujo_edge",
            "experiment",
            "label-efficiency",
            "--target",
            "spar_watch",
            "--root",
            str(shared_data / "spar_watch"),
            "--grid",
            "reduced",
            "--fractions",
            "5",
            "--regimes",
            "baseline",
            "--folds",
            "2",
            "--epochs",
            "1",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    # --fractions and --regimes override the reduced grid; its 5 runs go round-robin over the 2 folds
    assert {(x["method"], x["fraction"]) for x in rows} == {("none", "0.05"), ("random_forest", "0.05")}
    assert sorted((x["run"], x["fold"]) for x in rows if x["method"] == "none") == [
        ("1", "1"),
        ("2", "2"),
        ("3", "1"),
        ("4", "2"),
        ("5", "1"),
    ]
    assert "| none | baseline |" in r.stdout and (tmp_path / "boxplot.png").is_file()
    assert "skipped" not in r.stdout


def test_forest_alone_says_which_regimes_it_skipped(tmp_path, shared_data):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mujo_edge",
            "experiment",
            "label-efficiency",
            "--target",
            "spar_watch",
            "--root",
            str(shared_data / "spar_watch"),
            "--fractions",
            "100",
            "--regimes",
            "finetuned",
            "--runs",
            "2",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "regime(s) finetuned skipped" in r.stdout
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert [x["method"] for x in rows] == ["random_forest", "random_forest"]
    assert "most confused classes at 100%" in r.stdout and "| random_forest | - |" in r.stdout


def test_checkpoint_that_saw_the_target_is_refused(tmp_path, shared_data):
    import torch

    from mujo_edge.training.models import ArchConfig, ModalityConfig, ModelConfig, MujoModel

    model = MujoModel(
        ModelConfig(
            ArchConfig(sensor_channels=(4, 4, 4), sensor_dim=8, proj_dim=8), (ModalityConfig("wrist_acc", "sensor", 3),)
        )
    )
    torch.save(
        {
            "version": 1,
            **_v1_rest(),
            "model": model.state_dict(),
            "model_config": model.config.to_dict(),
            "corpus": {"sources": ["spar_watch"], "exclude": []},
        },
        tmp_path / "saw.pt",
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mujo_edge",
            "experiment",
            "label-efficiency",
            "--target",
            "spar_watch",
            "--root",
            str(shared_data / "spar_watch"),
            "--pretrained",
            f"mujo={tmp_path / 'saw.pt'}",
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1 and "saw 'spar_watch'" in r.stderr


def test_zero_shot_refuses_a_checkpoint_without_provenance(tmp_path, shared_data):
    import torch

    from mujo_edge.training.models import ArchConfig, ModalityConfig, ModelConfig, MujoModel

    model = MujoModel(
        ModelConfig(
            ArchConfig(sensor_channels=(4, 4, 4), sensor_dim=8, proj_dim=8, text_dim=8),
            (ModalityConfig("wrist_acc", "sensor", 3), ModalityConfig("text", "text", 384)),
        )
    )
    torch.save(
        {
            "version": 1,
            **_v1_rest(),
            "model": model.state_dict(),
            "model_config": model.config.to_dict(),
            "train_config": {"anchor": "wrist_acc"},
            "normaliser": {},
        },
        tmp_path / "old.pt",
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mujo_edge",
            "experiment",
            "zero-shot",
            "--target",
            "spar_watch",
            "--root",
            str(shared_data / "spar_watch"),
            "--pretrained",
            str(tmp_path / "old.pt"),
            "--out",
            str(tmp_path / "zs"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1 and "does not record" in r.stderr


def _v1_rest():
    """The keys every version-1 pre-training checkpoint has besides the ones a test is about."""
    import torch

    return {
        "loss": {},
        "optimizer": {"state": {}, "param_groups": []},  # an (empty) optimizer state dict, as torch writes it
        "torch_rng": torch.get_rng_state(),
        "train_config": {"anchor": "wrist_acc"},
        "normaliser": {},
        "metrics": {},
        "state": {"epoch": 1, "best_val": 1.0, "best_epoch": 1, "bad_epochs": 0},
    }
