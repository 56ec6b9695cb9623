"""MuJo's InfoNCE with an auxiliary self-supervised objective on the anchor: one loss, one checkpoint, resumable."""

import numpy as np
import pytest
import torch

from mujo_edge.errors import ConfigError
from mujo_edge.training.checkpoints import read_pretrain
from mujo_edge.training.loop import train
from mujo_edge.training.objectives import OBJECTIVES, CombinedObjective, MujoObjective
from mujo_edge.training.pretrain import PretrainConfig
from tests.training.test_pretrain import TINY, config, toy_corpus


def test_the_auxiliary_must_be_a_known_method_with_a_positive_weight():
    with pytest.raises(ConfigError) as e:
        PretrainConfig(auxiliary="byol")
    assert e.value.field == "auxiliary"
    with pytest.raises(ConfigError) as e:
        PretrainConfig(auxiliary="multitask", auxiliary_weight=0.0)
    assert e.value.field == "auxiliary_weight"


def test_the_batch_loss_is_infonce_plus_the_weighted_auxiliary():
    corpus = toy_corpus(n_per=6)
    val = np.zeros(len(corpus), bool)
    val[: len(corpus) // 4] = True
    objective = OBJECTIVES.get("mujo")(corpus, TINY, config(auxiliary="autoencoder", auxiliary_weight=0.3), val)
    assert isinstance(objective, CombinedObjective)
    from mujo_edge.training.models import MujoModel

    model = MujoModel(objective.model_config, seed=0).eval()
    objective.attach(model)
    objective.aux.head.eval()
    idx = torch.arange(len(corpus) // 4, len(corpus) // 4 + 32)
    torch.manual_seed(0)
    combined = objective.batch_loss(model, idx)
    torch.manual_seed(0)
    alone = objective.main.batch_loss(model, idx) + 0.3 * objective.aux.batch_loss(model, idx)
    torch.testing.assert_close(combined, alone)
    plain = OBJECTIVES.get("mujo")(corpus, TINY, config(), val)
    assert isinstance(plain, MujoObjective)


def test_a_combined_run_reports_both_parts_and_resumes_to_the_same_weights(tmp_path):
    corpus = toy_corpus(n_per=8)
    cfg = config(epochs=3, auxiliary="multitask", auxiliary_weight=0.5)
    full = train(corpus, TINY, cfg, tmp_path / "full", OBJECTIVES.get("mujo"))
    assert {"val/infonce", "val/multitask", "multitask/val/acc/flip"} <= set(full.last)
    assert full.last["val_loss"] == pytest.approx(full.last["val/infonce"] + 0.5 * full.last["val/multitask"])
    train(corpus, TINY, cfg, tmp_path / "cut", OBJECTIVES.get("mujo"), stop_after_epoch=1)
    cut = train(corpus, TINY, cfg, tmp_path / "cut", OBJECTIVES.get("mujo"), resume=True)
    assert cut.last["val_loss"] == full.last["val_loss"]
    a, b = read_pretrain(tmp_path / "full" / "last.pt"), read_pretrain(tmp_path / "cut" / "last.pt")
    assert a.head is not None and a.train_config["auxiliary"] == "multitask"
    for k, v in a.model.items():
        torch.testing.assert_close(b.model[k], v, rtol=0, atol=0)
