"""Checkpoints: files written before the typed checkpoints still load; wrong kind, unknown version and missing
keys are CheckpointErrors naming the file and the version."""

import math

import numpy as np
import pytest
import torch

from mujo_edge.errors import CheckpointError
from mujo_edge.normalise import Normaliser
from mujo_edge.training.checkpoints import (
    PretrainCheckpoint,
    TrainState,
    read_classifier,
    read_pretrain,
    write_pretrain,
)
from mujo_edge.training.classifier import Classifier, load_classifier
from mujo_edge.training.models import ArchConfig, ModalityConfig, ModelConfig, MujoModel

TINY = ArchConfig(sensor_channels=(4, 4, 4), sensor_dim=32, proj_dim=32)


def old_pretrain_dict(head=False):
    """Exactly the dict `pretrain.record_epoch` wrote (version 1) before this module existed."""
    model = MujoModel(ModelConfig(TINY, (ModalityConfig("wrist_acc", "sensor", 3),)), seed=0)
    stats = {"wrist_acc": {"mean": [0.1, -0.2, 9.8], "std": [1.0, 2.0, 0.5]}}
    opt = torch.optim.AdamW(model.parameters())
    ckpt = {
        "version": 1,
        "model": model.state_dict(),
        "loss": {},
        "optimizer": opt.state_dict(),
        "model_config": model.config.to_dict(),
        "train_config": {"epochs": 3, "anchor": "wrist_acc"},
        "normaliser": stats,
        "corpus": {"sources": ["synthetic"], "exclude": ["spar_watch"]},
        "torch_rng": torch.get_rng_state(),
        "state": {"epoch": 2, "best_val": 1.5, "best_epoch": 1, "bad_epochs": 1},
        "metrics": {"epoch": 2, "val_loss": 1.7},
    }
    if head:
        ckpt["head"] = {"w": torch.ones(2)}
    return ckpt


def test_version_1_pretrain_checkpoint_loads_with_its_normaliser_converted(tmp_path):
    torch.save(old_pretrain_dict(head=True), tmp_path / "old.pt")
    ckpt = read_pretrain(tmp_path / "old.pt")
    assert ckpt.version == 1 and ckpt.anchor == "wrist_acc" and ckpt.head is not None
    norm = ckpt.normaliser.get("wrist_acc")
    assert norm == Normaliser(("wrist_acc_x", "wrist_acc_y", "wrist_acc_z"), (0.1, -0.2, 9.8), (1.0, 2.0, 0.5))
    assert ckpt.corpus is not None and ckpt.corpus.exclude == ("spar_watch",)
    assert ckpt.state == TrainState(2, 1.5, 1, 1)
    x = np.ones((4, 3, 100), np.float32)
    np.testing.assert_allclose(ckpt.normaliser.apply("wrist_acc", x)[0, :, 0], [0.9, 0.6, -17.6], rtol=1e-6)
    # written again, it is the current version and reads back the same
    write_pretrain(ckpt, tmp_path / "new.pt")
    again = read_pretrain(tmp_path / "new.pt")
    assert again.version == 2 and again.normaliser == ckpt.normaliser and again.state == ckpt.state
    assert torch.load(tmp_path / "new.pt", weights_only=True)["kind"] == "pretrain"


def test_pretrain_errors_name_the_file_and_the_version(tmp_path):
    bad = old_pretrain_dict()
    bad["version"] = 7
    torch.save(bad, tmp_path / "v7.pt")
    with pytest.raises(CheckpointError, match=r"v7\.pt, version 7") as e:
        read_pretrain(tmp_path / "v7.pt")
    assert e.value.version == 7 and e.value.path.endswith("v7.pt")
    missing = old_pretrain_dict()
    del missing["model_config"]
    torch.save(missing, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="field 'model_config'"):
        read_pretrain(tmp_path / "missing.pt")
    torch.save({"version": 1, "kind": "classifier"}, tmp_path / "clf.pt")
    with pytest.raises(CheckpointError, match="not a pre-training one"):
        read_pretrain(tmp_path / "clf.pt")
    with pytest.raises(CheckpointError, match="not a classifier"):
        read_classifier(tmp_path / "missing.pt")


def test_version_1_classifier_checkpoint_loads(tmp_path):
    """Exactly the dict `finetune.classifier_checkpoint` returned before this module existed."""
    model = MujoModel(ModelConfig(TINY, (ModalityConfig("wrist_acc", "sensor", 3),)), seed=0)
    clf = Classifier(model, {"wrist_acc": [0, 1, 2]}, {"wrist_acc": "wrist_acc"}, 2, 16, 0.1)
    channels = ["wrist_acc_x", "wrist_acc_y", "wrist_acc_z"]
    old = {
        "version": 1,
        "kind": "classifier",
        "state": clf.state_dict(),
        "model_config": model.config.to_dict(),
        "streams": clf.streams,
        "branch_of": clf.branch_of,
        "head": {"hidden": 16, "dropout": 0.1},
        "channels": channels,
        "window": {"rate_hz": 50.0, "length": 100, "step": 50},
        "normaliser": {"kind": "zscore", "channels": channels, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
        "classes": ["a", "b"],
        "label_texts": {"a": "doing a", "b": "b"},
        "dataset": "toy",
        "finetune": {"regime": "baseline"},
        "split": {"train": ["1"], "val": ["2"], "test": ["3"]},
        "metrics": {"best_epoch": 1},
        "pretrained_from": None,
    }
    torch.save(old, tmp_path / "classifier.pt")
    ckpt = read_classifier(tmp_path / "classifier.pt")
    assert ckpt.channels == tuple(channels) and ckpt.split["test"] == ("3",) and ckpt.head.hidden == 16
    x = torch.randn(2, 3, 100)
    torch.testing.assert_close(load_classifier(ckpt)(x), clf.eval()(x), rtol=0, atol=0)
    assert ckpt.to_dict().keys() == old.keys()


def test_train_state_stops_after_patience_and_never_improves_on_nan():
    s = TrainState().after_epoch(2.0)
    assert s.improved and s.best_epoch == 1
    s = s.after_epoch(math.nan).after_epoch(3.0)
    assert not s.improved and s.bad_epochs == 2 and s.exhausted(2) and s.best_val == 2.0
    assert isinstance(PretrainCheckpoint, type)
