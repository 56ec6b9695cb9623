"""The one loop: objectives come from the registry by name, progress is typed, and a baseline resumes exactly."""

import pytest
import torch

from mujo_edge.errors import ConfigError, UnknownNameError
from mujo_edge.training.baselines import BaselineConfig
from mujo_edge.training.checkpoints import read_pretrain
from mujo_edge.training.loop import EpochEnd, RunStart, StepEnd, train
from mujo_edge.training.objectives import OBJECTIVES
from tests.training.test_baselines import SMALL, toy_corpus
from tests.training.test_pretrain import config as mujo_config


def simclr(**kw):
    return BaselineConfig(
        **{
            "method": "simclr",
            "epochs": 3,
            "batch_size": 32,
            "lr": 3e-3,
            "warmup_epochs": 0.5,
            "cycle_epochs": 10,
            "min_lr": 1e-5,
            "val_fraction": 0.4,
            "threads": 1,
            **kw,
        }
    )


def test_registry_holds_every_objective_and_checks_its_config(tmp_path):
    assert OBJECTIVES.names() == ["mujo", "autoencoder", "simclr", "multitask"]
    with pytest.raises(UnknownNameError, match="known: mujo"):
        OBJECTIVES.get("byol")
    with pytest.raises(ConfigError, match="PretrainConfig"):
        train(toy_corpus(n_per=4), SMALL, simclr(), tmp_path, OBJECTIVES.get("mujo"))
    with pytest.raises(ConfigError, match="BaselineConfig"):
        train(toy_corpus(n_per=4), SMALL, mujo_config(), tmp_path, OBJECTIVES.get("simclr"))


def test_baseline_resumes_to_the_same_weights_and_reports_typed_events(tmp_path):
    corpus = toy_corpus(n_per=8)
    events = []
    full = train(corpus, SMALL, simclr(), tmp_path / "full", OBJECTIVES.get("simclr"), progress=events.append)
    assert isinstance(events[0], RunStart) and events[0].objective == "simclr"
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == [1, 2, 3]
    assert all(e.steps >= 1 for e in events if isinstance(e, StepEnd))
    train(corpus, SMALL, simclr(), tmp_path / "cut", OBJECTIVES.get("simclr"), stop_after_epoch=1)
    cut = train(corpus, SMALL, simclr(), tmp_path / "cut", OBJECTIVES.get("simclr"), resume=True)
    assert cut.last["val_loss"] == full.last["val_loss"] and cut.epochs_run == 3
    a, b = read_pretrain(tmp_path / "full" / "last.pt"), read_pretrain(tmp_path / "cut" / "last.pt")
    for k, v in a.model.items():
        torch.testing.assert_close(b.model[k], v, rtol=0, atol=0)
    for k, v in (a.head or {}).items():
        torch.testing.assert_close((b.head or {})[k], v, rtol=0, atol=0)


def test_resuming_with_another_model_is_one_clear_error_naming_the_checkpoint(tmp_path):
    from dataclasses import replace

    from mujo_edge.errors import CheckpointError

    corpus = toy_corpus(n_per=4)
    train(corpus, SMALL, simclr(), tmp_path, OBJECTIVES.get("simclr"), stop_after_epoch=1)
    wider = replace(SMALL, sensor_dim=96)
    with pytest.raises(CheckpointError, match="another model") as err:
        train(corpus, wider, simclr(), tmp_path, OBJECTIVES.get("simclr"), resume=True)
    assert err.value.path == str(tmp_path / "last.pt") and "\n" not in str(err.value)
