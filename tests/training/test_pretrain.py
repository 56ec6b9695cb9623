"""Pre-training loop on a small corpus with a known structure: it learns, resumes exactly, and two gloo
processes train like one."""

import json
import tempfile

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from mujo_edge.training.checkpoints import read_pretrain
from mujo_edge.training.corpus import Corpus
from mujo_edge.training.distributed import DistInfo
from mujo_edge.training.loop import epoch_order, lr_at
from mujo_edge.training.loss import LossConfig
from mujo_edge.training.models import ArchConfig
from mujo_edge.training.pretrain import PretrainConfig, pretrain

TINY = ArchConfig(
    sensor_channels=(4, 4, 4), sensor_dim=32, text_dim=16, proj_dim=32, proj_dropout=0.1, text_dropout=0.1
)
NO_DROPOUT = ArchConfig(
    sensor_channels=(4, 4, 4), sensor_dim=32, text_dim=16, proj_dim=32, proj_dropout=0.0, text_dropout=0.0
)


def toy_corpus(n_per=40, subjects=6, seed=0):
    """Three classes of wrist motion (sines at 1, 2, 3 Hz, random amplitude per axis); gyro is the scaled
    derivative of the same motion; two phrasings per class."""
    rng = np.random.default_rng(seed)
    t = np.arange(100) / 50
    acc, gyro, cls, subj = [], [], [], []
    for s in range(subjects):
        for c in range(3):
            for _ in range(n_per):
                phase, amp = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 2.0, size=3)  # amp: the window's identity
                f = c + 1
                a = np.stack([amp[k] * np.sin(2 * np.pi * f * t + phase + k) for k in range(3)])
                acc.append(a + 0.1 * rng.normal(size=a.shape))
                gyro.append(np.gradient(a, axis=1) * 50 / f + 0.1 * rng.normal(size=a.shape))
                cls.append(c)
                subj.append(f"toy:{s}")
    n = len(cls)
    cls = np.array(cls)
    texts = tuple(f"class {c} phrasing {p}" for c in range(3) for p in range(2))
    table = rng.normal(size=(6, 16)).astype(np.float32)
    return Corpus(
        data={"wrist_acc": np.array(acc, np.float32), "wrist_gyro": np.array(gyro, np.float32)},
        present={"wrist_acc": np.ones(n, bool), "wrist_gyro": np.ones(n, bool)},
        kinds={"wrist_acc": "sensor", "wrist_gyro": "sensor"},
        source=np.full(n, "toy"),
        subject=np.array(subj),
        label=np.array([f"c{c}" for c in cls]),
        text_id=cls * 2 + rng.integers(0, 2, n),
        group=cls.astype(np.int64),
        texts=texts,
        text_table=table,
    )


def config(**kw):
    base = dict(
        epochs=6,
        batch_size=64,
        lr=3e-3,
        warmup_epochs=1,
        cycle_epochs=5,
        min_lr=1e-5,
        patience=10,
        val_fraction=0.34,
        threads=1,
        loss=LossConfig(tau=0.1),
    )
    base.update(kw)
    return PretrainConfig(**base)


def test_schedule_warms_up_then_restarts():
    cfg = PretrainConfig(lr=1.0, min_lr=0.01, warmup_epochs=2, cycle_epochs=3)
    lrs = [lr_at(s, 10, cfg) for s in range(80)]
    assert lrs[0] == pytest.approx(0.05) and lrs[19] == pytest.approx(1.0)
    assert lrs[20] == pytest.approx(1.0) and lrs[49] < 0.02 and lrs[50] == pytest.approx(1.0)  # restart
    assert min(lrs) >= 0.01


def test_learns_cross_modal_structure(tmp_path):
    summary = pretrain(toy_corpus(), TINY, config(epochs=10, cycle_epochs=10), tmp_path)
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(lines) == 10 and lines[-1]["val_loss"] < lines[0]["val_loss"]
    last = summary.last
    assert last["wrist_acc->text/top1"] > 2 * last["wrist_acc->text/chance"]
    assert last["wrist_acc->wrist_gyro/top1"] > 3 * last["wrist_acc->wrist_gyro/chance"]
    ckpt = read_pretrain(tmp_path / "best.pt")
    assert ckpt.state.best_epoch == summary.best_epoch
    assert set(ckpt.normaliser.streams) == {"wrist_acc", "wrist_gyro"}
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert {m["name"] for m in cfg["model"]["modalities"]} == {"wrist_acc", "wrist_gyro", "text"}


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    corpus = toy_corpus(n_per=20)
    pretrain(corpus, TINY, config(epochs=4), tmp_path / "full")
    pretrain(corpus, TINY, config(epochs=4), tmp_path / "cut", stop_after_epoch=2)
    assert read_pretrain(tmp_path / "cut" / "last.pt").state.epoch == 2
    pretrain(corpus, TINY, config(epochs=4), tmp_path / "cut", resume=True)
    full = read_pretrain(tmp_path / "full" / "last.pt")
    cut = read_pretrain(tmp_path / "cut" / "last.pt")
    for k, v in full.model.items():
        torch.testing.assert_close(cut.model[k], v, rtol=0, atol=0)
    assert (tmp_path / "full" / "metrics.jsonl").read_text().count("\n") == 4
    full_lines = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    cut_lines = [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [x["val_loss"] for x in full_lines] == [x["val_loss"] for x in cut_lines]


def _rank(rank, world, init_file, out):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        pretrain(
            toy_corpus(n_per=10),
            NO_DROPOUT,
            config(epochs=1, batch_size=32),
            out,
            dist_info=DistInfo(rank=rank, world_size=world),
        )
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()


def test_two_gloo_processes_train_like_one(tmp_path):
    pretrain(toy_corpus(n_per=10), NO_DROPOUT, config(epochs=1, batch_size=32), tmp_path / "one")
    mp.spawn(_rank, args=(2, tempfile.mktemp(dir=tmp_path), str(tmp_path / "two")), nprocs=2, join=True)
    one = read_pretrain(tmp_path / "one" / "last.pt").model
    two = read_pretrain(tmp_path / "two" / "last.pt").model
    for k, v in one.items():
        torch.testing.assert_close(two[k], v, rtol=1e-4, atol=1e-5)


def test_epoch_order_balances_sources_and_replays_exactly():
    source = np.array(["big"] * 900 + ["small"] * 100)
    idx = np.arange(1000)
    plain = epoch_order(idx, source, 0.0, seed=1, epoch=3)
    assert sorted(plain.tolist()) == list(range(1000))
    half = epoch_order(idx, source, 0.5, seed=1, epoch=3)
    assert len(half) == 1000 and (source[half] == "small").sum() == 250  # sqrt(100) / (sqrt(900) + sqrt(100))
    equal = epoch_order(idx, source, 1.0, seed=1, epoch=3)
    assert (source[equal] == "small").sum() == 500
    np.testing.assert_array_equal(half, epoch_order(idx, source, 0.5, seed=1, epoch=3))
    assert not np.array_equal(half, epoch_order(idx, source, 0.5, seed=1, epoch=4))
