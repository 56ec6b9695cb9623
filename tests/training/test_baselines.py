"""Self-supervised baselines: augmentations do what they say, heads have the paper's shapes, every method learns on
a small corpus, and checkpoints load like MuJo's."""

import json
import math
from itertools import pairwise

import numpy as np
import pytest
import torch

from mujo_edge.errors import ConfigError
from mujo_edge.normalise import StreamNormaliser
from mujo_edge.training.baselines import (
    METHODS,
    TASKS,
    BaselineConfig,
    ConvDecoder,
    MultitaskHead,
    SimCLRHead,
    add_noise,
    baseline_model_config,
    build_head,
    flip,
    negate,
    nt_xent,
    permute_segments,
    pretrain_baseline,
    random_rotations,
    rotate,
    scale,
    shuffle_channels,
)
from mujo_edge.training.checkpoints import read_pretrain
from mujo_edge.training.corpus import Corpus
from mujo_edge.training.loop import EpochEnd, split_subjects
from mujo_edge.training.models import ArchConfig, MujoModel

# (4, 4, 4) channels and 32-d features often die on SimCLR here (every ReLU of the head off: the loss stays at
# log(2B - 1)); this is the smallest that learned for every seed tried
SMALL = ArchConfig(sensor_channels=(8, 8, 8), sensor_dim=64, proj_dim=64, proj_dropout=0.0)


def toy_corpus(n_per=16, subjects=5, seed=0):
    """Three classes of wrist motion (sines at 1, 2, 3 Hz, random amplitude per axis; no gravity, whose offset
    would dwarf the motion at this model size), and a gyro stream the baselines must ignore."""
    rng = np.random.default_rng(seed)
    t = np.arange(100) / 50
    acc, subj = [], []
    for s in range(subjects):
        for c in range(3):
            for _ in range(n_per):
                phase, amp = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 2.0, size=3)
                a = np.stack([amp[k] * np.sin(2 * np.pi * (c + 1) * t + phase + k) for k in range(3)])
                acc.append(a + 0.1 * rng.normal(size=a.shape))
                subj.append(f"toy:{s}")
    n = len(acc)
    acc = np.array(acc, np.float32)
    return Corpus(
        data={"wrist_acc": acc, "wrist_gyro": rng.normal(size=acc.shape).astype(np.float32)},
        present={"wrist_acc": np.ones(n, bool), "wrist_gyro": np.ones(n, bool)},
        kinds={"wrist_acc": "sensor", "wrist_gyro": "sensor"},
        source=np.full(n, "toy"),
        subject=np.array(subj),
        label=np.full(n, ""),
        text_id=np.full(n, -1),
        group=np.arange(n),
    )


def config(method, **kw):
    base = dict(
        method=method,
        epochs=8,
        batch_size=32,
        lr=3e-3,
        warmup_epochs=0.5,
        cycle_epochs=10,
        min_lr=1e-5,
        val_fraction=0.4,
        threads=1,
    )
    base.update(kw)
    return BaselineConfig(**base)


def test_config_round_trips_and_validates():
    cfg = config("simclr", temperature=0.2)
    assert BaselineConfig.from_dict({**cfg.to_dict(), "anchor": "wrist_acc"}) == cfg
    for bad in (dict(method="byol"), dict(epochs=0), dict(temperature=0.0), dict(min_lr=1.0)):
        with pytest.raises(ConfigError):
            config(**{"method": "simclr", **bad})
    with pytest.raises(ConfigError):
        BaselineConfig.from_dict({"method": "simclr", "tau": 1.0})


def test_rotations_are_proper_and_keep_norms():
    r = random_rotations(500, torch.Generator().manual_seed(0))
    torch.testing.assert_close(r @ r.transpose(1, 2), torch.eye(3).expand(500, 3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(r), torch.ones(500), atol=1e-5, rtol=0)
    angle = torch.arccos(((r.diagonal(dim1=1, dim2=2).sum(1) - 1) / 2).clamp(-1, 1))
    assert angle.max() > 3.0 and angle.min() < 0.5  # |angle| spans (0, pi)
    x = torch.randn(500, 6, 100)  # two sensors: each triplet turned by the window's rotation
    y = rotate(x, r)
    for s in (slice(0, 3), slice(3, 6)):
        torch.testing.assert_close(y[:, s].norm(dim=1), x[:, s].norm(dim=1), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(y[:, s], r @ x[:, s], atol=1e-5, rtol=0)


def test_simclr_views_rotate_the_physical_signal_then_normalise():
    mean, std = torch.tensor([1.0, -2.0, 9.0])[None, :, None], torch.tensor([2.0, 3.0, 4.0])[None, :, None]
    x = torch.randn(16, 3, 100) * 3 + torch.tensor([0.0, 0.0, 9.81])[None, :, None]
    head = build_head(config("simclr"), baseline_model_config(SMALL, "wrist_acc"))
    v1, v2 = head.views(x, lambda w: (w - mean) / std, torch.Generator().manual_seed(0))
    for v in (v1, v2):
        physical = v * std + mean
        torch.testing.assert_close(physical.norm(dim=1), x.norm(dim=1), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(v1, v2)


def test_multitask_transforms_do_what_they_say():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 100)
    assert torch.equal(negate(x), -x)
    assert torch.equal(flip(x)[..., 0], x[..., -1]) and torch.equal(flip(flip(x)), x)
    noise = add_noise(x, 0.05, g) - x
    assert abs(float(noise.std()) - 0.05) < 0.003 and abs(float(noise.mean())) < 0.003
    factors = scale(x, 0.05, g) / x  # one factor per window and row
    assert float((factors - factors[..., :1]).abs().max()) < 1e-4
    assert abs(float(factors.mean()) - 1) < 0.02 and 0.03 < float(factors.std()) < 0.07

    p = permute_segments(x, 4, g)
    assert not torch.equal(p, x)
    for i in range(len(x)):  # time steps are reordered as whole columns: same multiset of (x, y, z) samples
        assert sorted(map(tuple, p[i].t().tolist())) == sorted(map(tuple, x[i].t().tolist()))
        moved = torch.nonzero((p[i] != x[i]).any(0)).flatten()
        assert len(moved) > 0
        # four contiguous runs of the original: at most 3 places where consecutive output steps are not
        # consecutive input steps
        src = [int(torch.nonzero((x[i].t() == col).all(1)).flatten()[0]) for col in p[i].t()]
        assert sum(b != a + 1 for a, b in pairwise(src)) <= 3

    c = shuffle_channels(x, g)
    for i in range(len(x)):
        order = [int(torch.nonzero((x[i] == row).all(1)).flatten()[0]) for row in c[i]]
        assert sorted(order) == [0, 1, 2] and order != [0, 1, 2]


def test_nt_xent_matches_a_hand_computed_value():
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # the same directions: positives have cosine 1, the rest 0
    tau = 0.5
    # each of the 4 outputs: positive exp(1/tau), two negatives exp(0)
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 2))
    assert float(nt_xent(z1, z2, tau)) == pytest.approx(expected, rel=1e-6)


def test_heads_have_the_papers_shapes():
    decoder = ConvDecoder(1280, 3, 100)
    assert decoder(torch.randn(4, 1280)).shape == (4, 3, 100)
    assert decoder.linear.out_features == 32 * 1 * 25
    assert ConvDecoder(32, 6, 100)(torch.randn(2, 32)).shape == (2, 6, 100)
    convs = [m for m in decoder.blocks if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size) for m in convs] == [
        (32, 16, (1, 11)),
        (16, 8, (1, 11)),
        (8, 3, (1, 11)),
    ]

    mc = baseline_model_config(SMALL, "wrist_acc")
    model = MujoModel(mc, seed=0)
    simclr = build_head(config("simclr"), mc)
    assert isinstance(simclr, SimCLRHead)
    assert [m.out_features for m in simclr.mlp if isinstance(m, torch.nn.Linear)] == [256, 128, 128]
    multi = build_head(config("multitask"), mc)
    assert isinstance(multi, MultitaskHead) and list(multi.heads) == list(TASKS)
    assert multi.heads["flip"][0].in_features == SMALL.sensor_dim  # reads the encoder output
    x = torch.randn(8, 3, 100)
    for method in METHODS:
        loss, _ = build_head(config(method), mc).loss(model, x, lambda w: w)
        assert loss.ndim == 0 and torch.isfinite(loss)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_learns_and_writes_a_mujo_checkpoint(method, tmp_path):
    corpus = toy_corpus()
    events = []
    summary = pretrain_baseline(corpus, SMALL, config(method), tmp_path, progress=events.append)
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 8 and summary.epochs_run == 8
    assert lines[-1]["train_loss"] < 0.9 * lines[0]["train_loss"]
    assert min(x["val_loss"] for x in lines[1:]) < 0.9 * lines[0]["val_loss"]
    assert [e.epoch for e in events if isinstance(e, EpochEnd)] == list(range(1, 9))

    raw = torch.load(tmp_path / "best.pt", weights_only=True)
    assert {
        "version",
        "kind",
        "model",
        "loss",
        "optimizer",
        "torch_rng",
        "state",
        "model_config",
        "train_config",
        "normaliser",
        "metrics",
        "head",
        "corpus",
    } <= set(raw)
    ckpt = read_pretrain(tmp_path / "best.pt")
    assert ckpt.state.best_epoch == summary.best_epoch
    assert ckpt.train_config["method"] == method and ckpt.anchor == "wrist_acc"
    assert set(ckpt.normaliser.streams) == {"wrist_acc"}
    val = split_subjects(corpus, 0.4, 0)  # the same split and statistics as MuJo's pre-training
    assert ckpt.normaliser == StreamNormaliser.fit({"wrist_acc": corpus.data["wrist_acc"][~val]})
    model_config = ckpt.model_config
    assert [m.name for m in model_config.modalities] == ["wrist_acc"]
    model = MujoModel(model_config)
    model.load_state_dict(dict(ckpt.model))  # strict: encoder + projection of the anchor, nothing else
    head = build_head(BaselineConfig.from_dict(ckpt.train_config), model_config)
    head.load_state_dict(dict(ckpt.head or {}))
    fresh = MujoModel(model_config, seed=0).state_dict()
    proj_changed = any(not torch.equal(v, fresh[k]) for k, v in ckpt.model.items() if k.startswith("projections"))
    assert proj_changed == (method != "multitask")  # multi-task heads read the encoder output only
    assert any(not torch.equal(v, fresh[k]) for k, v in ckpt.model.items() if k.startswith("encoders"))
    if method == "multitask":
        assert set(lines[-1]) >= {f"val/acc/{t}" for t in TASKS}


def test_anchor_must_be_a_sensor_stream_of_the_corpus(tmp_path):
    with pytest.raises(ConfigError):
        pretrain_baseline(toy_corpus(n_per=4), SMALL, config("autoencoder", anchor="pose"), tmp_path)
