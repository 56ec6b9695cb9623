"""The MuJo loss against hand-computed values, masks, groups, and two gloo processes vs one."""

import math
import os
import tempfile

import pytest
import torch
import torch.multiprocessing as mp

from mujo_edge.errors import ConfigError
from mujo_edge.training.distributed import gather_plain, gather_with_grad
from mujo_edge.training.loss import LossConfig, PairwiseInfoNCE, pair_loss


def test_two_windows_by_hand():
    # identical orthogonal embeddings, tau = 1: each row's CE is -log(e / (e + 1)) = log(1 + e^-1)
    z = torch.eye(2)
    loss, pairs = PairwiseInfoNCE(LossConfig(tau=1.0))({"acc": z, "text": z})
    per_direction = math.log(1 + math.exp(-1))
    assert loss.item() == pytest.approx(2 * per_direction, abs=1e-6)
    assert set(pairs) == {"acc|text"}


def test_asymmetric_example_by_hand():
    # za = [[1,0],[0,1]], zb = [[0.6,0.8],[1,0]], tau = 0.5 -> logits = 2 * za @ zb^T = [[1.2, 2], [1.6, 0]]
    za, zb = torch.eye(2), torch.tensor([[0.6, 0.8], [1.0, 0.0]])
    a_to_b = (-(1.2 - math.log(math.exp(1.2) + math.exp(2.0))) - (0.0 - math.log(math.exp(1.6) + 1.0))) / 2
    # transposed logits [[1.2, 1.6], [2, 0]]: rows are b's windows
    b_to_a = (-(1.2 - math.log(math.exp(1.2) + math.exp(1.6))) - (0.0 - math.log(math.exp(2.0) + 1.0))) / 2
    assert pair_loss(za, zb, 2.0).item() == pytest.approx(a_to_b + b_to_a, abs=1e-6)
    loss, _ = PairwiseInfoNCE(LossConfig(tau=0.5))({"a": 3 * za, "b": zb})  # not normalised: normalised inside
    assert loss.item() == pytest.approx(a_to_b + b_to_a, abs=1e-6)


def test_total_is_the_mean_over_pairs():
    torch.manual_seed(0)
    e = {n: torch.randn(8, 4) for n in ("acc", "gyro", "text")}
    loss, pairs = PairwiseInfoNCE()(e)
    assert set(pairs) == {"acc|gyro", "acc|text", "gyro|text"}
    assert loss.item() == pytest.approx(sum(p.item() for p in pairs.values()) / 3, rel=1e-6)


def test_masks_use_only_windows_with_both_modalities():
    torch.manual_seed(1)
    e = {n: torch.randn(6, 4) for n in ("acc", "text")}
    keep = torch.tensor([True, False, True, True, False, True])
    loss, _ = PairwiseInfoNCE()(e, masks={"text": keep})
    ref, _ = PairwiseInfoNCE()({n: v[keep] for n, v in e.items()})
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    # fewer than two shared windows: the pair is skipped, the loss is zero but keeps the graph
    e["acc"].requires_grad_(True)
    loss, pairs = PairwiseInfoNCE()(e, masks={"text": torch.tensor([True] + [False] * 5)})
    assert not pairs and loss.item() == 0.0 and loss.requires_grad


def soft_ce_by_hand(logits, targets):
    """Reference: mean over rows of -sum_j t_ij log softmax_ij, computed with plain Python floats."""
    total = 0.0
    for row, t in zip(logits.tolist(), targets.tolist()):
        log_norm = math.log(sum(math.exp(v) for v in row))
        total -= sum(tj * (v - log_norm) for v, tj in zip(row, t))
    return total / len(logits)


def test_groups_make_same_label_windows_positives_for_text_only():
    # windows 0 and 1 are one class described by two different phrasings; window 2 another class
    acc = torch.tensor([[1.0, 0.0], [0.96, 0.28], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    groups = torch.tensor([7, 7, 9])
    targets = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    logits = acc @ text.t()
    expected = soft_ce_by_hand(logits, targets) + soft_ce_by_hand(logits.t(), targets.t())
    grouped, _ = PairwiseInfoNCE()({"acc": acc, "text": text}, groups=groups)
    assert grouped.item() == pytest.approx(expected, abs=1e-6)
    plain, _ = PairwiseInfoNCE(LossConfig(grouped=()))({"acc": acc, "text": text}, groups=groups)
    assert plain.item() == pytest.approx(
        soft_ce_by_hand(logits, torch.eye(3)) + soft_ce_by_hand(logits.t(), torch.eye(3)), abs=1e-6
    )
    assert grouped.item() != pytest.approx(plain.item())
    # groups never apply to pairs without a grouped modality
    sensors, _ = PairwiseInfoNCE()({"acc": acc, "gyro": text}, groups=groups)
    assert sensors.item() == pytest.approx(plain.item(), abs=1e-6)
    # with a group per window the grouped loss is exactly CLIP's
    solo, _ = PairwiseInfoNCE()({"acc": acc, "text": text}, groups=torch.arange(3))
    assert solo.item() == pytest.approx(plain.item(), rel=1e-6)


def test_learnable_temperature_gets_a_gradient_and_is_clamped():
    loss_fn = PairwiseInfoNCE(LossConfig(tau=0.07, learnable=True))
    torch.manual_seed(2)
    loss, _ = loss_fn({"a": torch.randn(4, 3), "b": torch.randn(4, 3)})
    loss.backward()
    assert loss_fn.log_scale.grad is not None
    with torch.no_grad():
        loss_fn.log_scale.fill_(10.0)
    assert loss_fn.scale.item() == pytest.approx(100.0)
    with pytest.raises(ConfigError):
        LossConfig(tau=0)


def _worker(rank, world, init_file, data, out_dir):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        local = {n: v.chunk(world)[rank].clone().requires_grad_(True) for n, v in data["emb"].items()}
        masks = {"text": data["mask"].chunk(world)[rank]}
        emb = {n: gather_with_grad(v) for n, v in local.items()}
        loss, _ = PairwiseInfoNCE()(
            emb,
            masks={n: gather_plain(m) for n, m in masks.items()},
            groups=gather_plain(data["groups"].chunk(world)[rank]),
        )
        loss.backward()
        # DDP would average gradients over ranks; emulate that on the local slices
        torch.save(
            {"loss": loss.detach(), "grads": {n: v.grad / world for n, v in local.items()}},
            os.path.join(out_dir, f"rank{rank}.pt"),
        )
        torch.distributed.barrier()  # neither rank may tear the group down while the other still uses it
    finally:
        torch.distributed.destroy_process_group()


def test_two_gloo_processes_equal_one_process_on_the_global_batch(tmp_path):
    torch.manual_seed(3)
    data = {
        "emb": {n: torch.randn(8, 5) for n in ("acc", "gyro", "text")},
        "mask": torch.tensor([True, True, False, True, True, True, False, True]),
        "groups": torch.tensor([0, 1, 2, 0, 3, 1, 4, 5]),
    }
    single = {n: v.clone().requires_grad_(True) for n, v in data["emb"].items()}
    ref, _ = PairwiseInfoNCE()(single, masks={"text": data["mask"]}, groups=data["groups"])
    ref.backward()
    init_file = tempfile.mktemp(dir=tmp_path)
    mp.spawn(_worker, args=(2, init_file, data, str(tmp_path)), nprocs=2, join=True)
    for rank in range(2):
        out = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert out["loss"].item() == pytest.approx(ref.item(), rel=1e-6)
        for n, g in out["grads"].items():  # after DDP's averaging: exactly the single-process gradient
            torch.testing.assert_close(g, single[n].grad.chunk(2)[rank], rtol=1e-5, atol=1e-6)
