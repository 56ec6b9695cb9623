"""Zero-shot classification on a toy: a tiny MuJo model pre-trained for a few epochs on three wrist motions
(sines at 1, 2, 3 Hz) described by meaningful sentences, embedded with a bag-of-words fake text encoder
(no MiniLM needed), then scored on fresh windows of held-out subjects."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence

import numpy as np
import pytest

from mujo_edge.config import WindowConfig
from mujo_edge.data.texts import LabelText
from mujo_edge.errors import ConfigError
from mujo_edge.training.checkpoints import read_pretrain
from mujo_edge.training.corpus import Corpus
from mujo_edge.training.loss import LossConfig
from mujo_edge.training.models import ArchConfig
from mujo_edge.training.pretrain import PretrainConfig, pretrain
from mujo_edge.training.zeroshot import NULL, ZeroShotResult, plot_confusion, zero_shot
from mujo_edge.windows import Windows

TINY = ArchConfig(
    sensor_channels=(4, 4, 4), sensor_dim=32, text_dim=16, proj_dim=32, proj_dropout=0.1, text_dropout=0.1
)
CLASSES = ("slow", "medium", "fast")
TEXTS = {
    "slow": LabelText("slow lazy arm swing about once every second", ("a leisurely slow wave of the hand",)),
    "medium": LabelText("moderate steady arm swing twice each second", ("a brisk medium paced wave",)),
    "fast": LabelText("fast vigorous arm shaking three times per second", ("rapid energetic hand shaking",)),
}
AXES = ("x", "y", "z")


class BagOfWordsEncoder:
    """Fake text encoder: the normalised sum of one fixed random vector per word (seeded by the word)."""

    dim = 16

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i] += np.random.default_rng(zlib.crc32(w.encode())).normal(size=self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def motion(rng: np.random.Generator, cls: int) -> tuple[np.ndarray, np.ndarray]:
    """acc and gyro [3, 100] of one window of class `cls` (frequency cls + 1 Hz)."""
    t = np.arange(100) / 50
    phase, amp, f = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 2.0, size=3), cls + 1
    a = np.stack([amp[k] * np.sin(2 * np.pi * f * t + phase + k) for k in range(3)])
    gyro = np.gradient(a, axis=1) * 50 / f
    return a + 0.1 * rng.normal(size=a.shape), gyro + 0.1 * rng.normal(size=a.shape)


def toy_corpus(n_per: int = 40, subjects: int = 6) -> Corpus:
    rng = np.random.default_rng(0)
    acc, gyro, cls, subj, text_id = [], [], [], [], []
    for s in range(subjects):
        for c in range(3):
            for _ in range(n_per):
                a, g = motion(rng, c)
                acc.append(a)
                gyro.append(g)
                cls.append(c)
                subj.append(f"toy:{s}")
                text_id.append(2 * c + int(rng.integers(0, 2)))
    n = len(cls)
    texts = tuple(p for c in CLASSES for p in TEXTS[c].all)
    return Corpus(
        data={"wrist_acc": np.array(acc, np.float32), "wrist_gyro": np.array(gyro, np.float32)},
        present={"wrist_acc": np.ones(n, bool), "wrist_gyro": np.ones(n, bool)},
        kinds={"wrist_acc": "sensor", "wrist_gyro": "sensor"},
        source=np.full(n, "toy"),
        subject=np.array(subj),
        label=np.array([CLASSES[c] for c in cls]),
        text_id=np.array(text_id),
        group=np.array(cls, np.int64),
        texts=texts,
        text_table=BagOfWordsEncoder().embed(texts),
    )


def toy_windows(placement: str = "wrist", n_per: int = 30, unlabelled: int = 20) -> Windows:
    """Fresh windows (another seed, subjects never seen in pre-training); `unlabelled` noise windows, y = -1."""
    rng = np.random.default_rng(1)
    xs, ys = [], []
    for c in range(3):
        for _ in range(n_per):
            a, g = motion(rng, c)
            xs.append(np.concatenate([a, g]))
            ys.append(c)
    for _ in range(unlabelled):
        xs.append(0.1 * rng.normal(size=(6, 100)))
        ys.append(-1)
    n = len(ys)
    channels = tuple(f"{placement}_{s}_{a}" for s in ("acc", "gyro") for a in AXES)
    return Windows(
        x=np.array(xs, np.float32),
        y=np.array(ys, np.int64),
        subject=np.full(n, "new"),
        recording=np.full(n, "new-1"),
        start=np.arange(n, dtype=np.float64),
        channels=channels,
        classes=CLASSES,
        config=WindowConfig(),
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("zs-pretrain")
    cfg = PretrainConfig(
        epochs=10,
        batch_size=64,
        lr=3e-3,
        warmup_epochs=1,
        cycle_epochs=10,
        min_lr=1e-5,
        patience=10,
        val_fraction=0.34,
        threads=1,
        loss=LossConfig(tau=0.1),
    )
    pretrain(toy_corpus(), TINY, cfg, out)
    return read_pretrain(out / "last.pt").to_dict()


def run(checkpoint: dict, windows: Windows | None = None, **kw) -> ZeroShotResult:
    kw.setdefault("text_encoder", BagOfWordsEncoder())
    kw.setdefault("texts", TEXTS)
    return zero_shot(checkpoint, windows if windows is not None else toy_windows(), "csv", **kw)


def test_learnable_toy_scores_well_above_chance_and_metrics_are_consistent(checkpoint: dict) -> None:
    r = run(checkpoint, stream="wrist_acc")
    assert r.classes == CLASSES and r.encoder == "wrist_acc" and not r.anchor_fallback
    assert r.windows == 90 and r.dropped == 20  # the y = -1 windows are dropped without NULL
    assert r.chance["top1"] == pytest.approx(1 / 3) and r.chance["top3"] == 1.0
    assert r.top1 > 0.7 and r.macro_f1 > 0.6
    for v in (r.top1, r.top3, r.top5, r.macro_f1, r.macro_f1_top3, r.macro_f1_top5, *r.recall.values()):
        assert 0.0 <= v <= 1.0
    assert r.top1 <= r.top3 <= r.top5 and r.top3 == 1.0  # three candidates: top-3 always hits
    assert r.macro_f1 <= r.macro_f1_top3 <= r.macro_f1_top5
    cm = np.array(r.confusion)
    assert cm.shape == (3, 3) and cm.sum() == 90 and np.trace(cm) / 90 == pytest.approx(r.top1)
    assert r.support == {"slow": 30, "medium": 30, "fast": 30}
    assert r.texts == tuple(TEXTS[c].primary for c in CLASSES)
    json.dumps(r.to_dict())  # plain data


def test_null_adds_a_column_and_maps_unlabelled_windows_to_it(checkpoint: dict) -> None:
    r = run(checkpoint, null=True)
    assert r.classes == (*CLASSES, NULL) and r.texts[-1] == ""
    assert r.windows == 110 and r.dropped == 0 and r.support[NULL] == 20
    cm = np.array(r.confusion)
    assert cm.shape == (4, 4) and cm[3].sum() == 20
    assert r.chance["top1"] == pytest.approx(0.25) and r.top1 <= r.top3 <= r.top5
    assert np.array_equal(r.y_true[-20:], np.full(20, 3))
    assert json.loads(json.dumps(r.to_dict()))["recall"][NULL] is not None


def test_each_window_is_scored_on_its_own(checkpoint: dict) -> None:
    """Nothing is fitted on the target: a window's prediction does not depend on the others."""
    w = toy_windows()
    full = run(checkpoint, w)
    part = run(checkpoint, w.subset(np.arange(0, 90, 7)))
    np.testing.assert_array_equal(part.y_pred, full.y_pred[np.arange(0, 90, 7)])


def test_windows_are_z_scored_with_the_checkpoint_statistics_in_either_layout(checkpoint: dict) -> None:
    """Checkpoints written before StreamNormaliser kept {stream: {"mean", "std"}}: same statistics, same answer."""
    from mujo_edge.normalise import StreamNormaliser

    stats = StreamNormaliser.from_dict(checkpoint["normaliser"])
    old = {name: {"mean": list(n.mean), "std": list(n.std)} for name, n in stats.streams.items()}
    new = run(checkpoint)
    np.testing.assert_array_equal(run({**checkpoint, "normaliser": old}).y_pred, new.y_pred)
    shifted = {name: {"mean": [m + 5.0 for m in s["mean"]], "std": s["std"]} for name, s in old.items()}
    assert not np.array_equal(run({**checkpoint, "normaliser": shifted}).y_pred, new.y_pred)
    with pytest.raises(ConfigError, match="no normalisation statistics for 'wrist_acc'"):
        run({**checkpoint, "normaliser": {"wrist_gyro": old["wrist_gyro"]}})


def test_stream_of_the_same_name_or_the_anchor_embeds_it(checkpoint: dict) -> None:
    gyro = run(checkpoint, stream="wrist_gyro")
    assert gyro.stream == gyro.encoder == "wrist_gyro" and not gyro.anchor_fallback
    assert run(checkpoint).stream == "wrist_acc"  # default: the anchor
    waist = run(checkpoint, toy_windows("waist"), stream="waist_acc")
    assert waist.stream == "waist_acc" and waist.encoder == "wrist_acc" and waist.anchor_fallback
    assert "anchor" in waist.note and waist.to_dict()["anchor_fallback"] is True
    same = run(checkpoint, stream="wrist_acc")  # identical signals: identical predictions through the anchor
    np.testing.assert_array_equal(waist.y_pred, same.y_pred)
    assert run(checkpoint, toy_windows("waist")).encoder == "wrist_acc"  # no stream given, none matches by name


def test_all_phrasings_and_bad_arguments(checkpoint: dict) -> None:
    r = run(checkpoint, prompts="all")
    assert r.prompts == "all" and r.top1 > 0.5
    with pytest.raises(ConfigError, match="prompts"):
        run(checkpoint, prompts="some")
    with pytest.raises(ConfigError, match="ankle_acc"):
        run(checkpoint, stream="ankle_acc")
    with pytest.raises(ConfigError, match="text"):
        run(checkpoint, texts={"slow": TEXTS["slow"]})
    with pytest.raises(ConfigError, match="no windows left"):
        w = toy_windows()
        run(checkpoint, w.subset(w.y == -1))


def test_plot_confusion_writes_a_png(checkpoint: dict, tmp_path) -> None:
    png = plot_confusion(run(checkpoint, null=True), tmp_path / "figs" / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
