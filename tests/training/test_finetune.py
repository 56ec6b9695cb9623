"""Fine-tuning: regimes, label fractions, weighted loss, NULL protocol, early stopping and the checkpoint."""

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score

from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError
from mujo_edge.metrics import scores
from mujo_edge.normalise import StreamNormaliser
from mujo_edge.training.checkpoints import (
    CorpusProvenance,
    PretrainCheckpoint,
    TrainState,
    read_classifier,
    write_classifier,
)
from mujo_edge.training.classifier import load_classifier, predict
from mujo_edge.training.finetune import FinetuneConfig, build_classifier, class_weights, classifier_checkpoint, finetune
from mujo_edge.training.models import ArchConfig, ModalityConfig, ModelConfig, MujoModel
from mujo_edge.windows import null_labels

TINY = ArchConfig(sensor_channels=(4, 4, 4), sensor_dim=32, proj_dim=32)


def pretrained_checkpoint(seed=3):
    model = MujoModel(
        ModelConfig(TINY, (ModalityConfig("wrist_acc", "sensor", 3), ModalityConfig("text", "text", 8))), seed=seed
    )
    return PretrainCheckpoint(
        model=model.state_dict(),
        model_config=model.config,
        train_config={"anchor": "wrist_acc"},
        normaliser=StreamNormaliser({}),
        corpus=CorpusProvenance(("synthetic",)),
        state=TrainState(),
        optimizer={},
        torch_rng=torch.get_rng_state(),
    )


def fast(**kw):
    return FinetuneConfig(**{"epochs": 15, "patience": 5, "batch_size": 32, "threads": 1, **kw})


def test_baseline_learns_the_toy_task(make_toy):
    w = make_toy()
    r = finetune(
        w.for_subjects(["1", "2", "3"]),
        w.for_subjects(["4"]),
        w.for_subjects(["5"]),
        fast(regime="baseline"),
        arch=TINY,
    )
    assert r.metrics["test"]["macro_f1"] > 0.9
    assert r.metrics["best_epoch"] >= 1 and len(r.history) == r.metrics["epochs_run"]


def test_frozen_keeps_pretrained_weights_and_finetuned_starts_from_them(make_toy):
    w = make_toy()
    ckpt = pretrained_checkpoint()
    parts = (w.for_subjects(["1", "2", "3"]), w.for_subjects(["4"]), None)
    frozen = finetune(*parts, fast(regime="frozen", epochs=3), pretrained=ckpt)
    state = frozen.classifier.model.state_dict()
    for k, v in state.items():
        torch.testing.assert_close(v, ckpt.model[k], rtol=0, atol=0)
    clf = build_classifier(w.channels, 3, fast(regime="finetuned"), pretrained=ckpt)
    for k, v in clf.model.state_dict().items():
        torch.testing.assert_close(v, ckpt.model[k], rtol=0, atol=0)
    assert "text" not in {k.split(".")[1] for k in clf.model.state_dict()}  # only the sensor branch is carried
    with pytest.raises(ConfigError, match="needs a pre-trained checkpoint"):
        build_classifier(w.channels, 3, fast(regime="frozen"))


def test_other_placement_uses_the_anchor_branch(make_toy):
    w = make_toy()
    renamed = type(w)(
        x=w.x,
        y=w.y,
        subject=w.subject,
        recording=w.recording,
        start=w.start,
        channels=("waist_acc_x", "waist_acc_y", "waist_acc_z"),
        classes=w.classes,
        config=w.config,
    )
    clf = build_classifier(renamed.channels, 3, fast(regime="finetuned"), pretrained=pretrained_checkpoint())
    assert clf.branch_of == {"waist_acc": "wrist_acc"}


def test_label_fraction_and_split_checks(make_toy):
    w = make_toy()
    r = finetune(
        w.for_subjects(["1", "2", "3"]),
        w.for_subjects(["4"]),
        None,
        fast(regime="baseline", fraction=0.1, epochs=2),
        arch=TINY,
    )
    per_class = len(w.for_subjects(["1", "2", "3"])) // 3
    assert r.metrics["train_windows"] == 3 * int(np.ceil(0.1 * per_class))
    with pytest.raises(ConfigError, match="share subjects"):
        finetune(w.for_subjects(["1", "2"]), w.for_subjects(["2"]), None, fast(regime="baseline"), arch=TINY)


def test_class_weights_and_scores():
    np.testing.assert_allclose(class_weights(np.array([0, 0, 0, 0, 1, 1, 2]), 4), [1.0, 2.0, 4.0, 0.0])
    rng = np.random.default_rng(0)
    y, p = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    s = scores(y, p, 4)
    assert s["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))
    assert s["accuracy"] == pytest.approx(float((y == p).mean())) and np.sum(s["confusion"]) == 200


def test_null_protocol(make_toy):
    w = make_toy(subjects=("1",))
    w = type(w)(
        x=w.x,
        y=np.where(np.arange(len(w)) % 10 == 0, -1, w.y),
        subject=w.subject,
        recording=w.recording,
        start=w.start,
        channels=w.channels,
        classes=w.classes,
        config=w.config,
    )
    without = null_labels(w, ("c",), with_null=False)
    assert without.classes == ("a", "b") and (without.y >= 0).all() and len(without) < len(w)
    with_null = null_labels(w, ("c",), with_null=True)
    assert with_null.classes == ("a", "b", "NULL") and len(with_null) == len(w)
    assert (with_null.y[w.y == -1] == 2).all() and (with_null.y[w.y == 2] == 2).all()


def test_checkpoint_roundtrip(tmp_path, make_toy):
    w = make_toy()
    cfg = fast(regime="baseline", epochs=2)
    r = finetune(w.for_subjects(["1", "2"]), w.for_subjects(["3"]), None, cfg, arch=TINY)
    ckpt = classifier_checkpoint(
        r,
        channels=w.channels,
        window=WindowConfig().to_dict(),
        dataset="toy",
        label_texts={"a": "doing a"},
        config=cfg,
        split={"train": ["1", "2"], "val": ["3"], "test": []},
        pretrained_from=None,
    )
    write_classifier(ckpt, tmp_path / "c.pt")
    loaded = read_classifier(tmp_path / "c.pt")
    assert loaded.to_dict().keys() == ckpt.to_dict().keys() and loaded.model_config == ckpt.model_config
    clf = load_classifier(loaded)
    x = r.normaliser.apply(w.x[:16])
    np.testing.assert_allclose(predict(clf, x), predict(r.classifier, x), rtol=1e-5, atol=1e-5)
    assert loaded.label_texts == {"a": "doing a", "b": "b", "c": "c"} and loaded.channels == w.channels
    assert loaded.normaliser == r.normaliser and loaded.split["train"] == ("1", "2")


def test_augmentation_rotates_streams_rigidly_and_scales():
    from mujo_edge.training.finetune import augment, random_rotations

    rng = np.random.default_rng(0)
    r = random_rotations(50, 30.0, rng)
    np.testing.assert_allclose(r @ r.transpose(0, 2, 1), np.broadcast_to(np.eye(3), r.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-9)
    angles = np.degrees(np.arccos(np.clip((np.trace(r, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    assert angles.max() <= 30.0 + 1e-6 and angles.max() > 15
    x = rng.normal(size=(8, 6, 100)).astype(np.float32)
    streams = {"wrist_acc": [0, 1, 2], "wrist_gyro": [3, 4, 5]}
    out = augment(x, streams, FinetuneConfig(augment_deg=30.0, augment_scale=0.0), rng)
    for rows in streams.values():  # a rotation keeps every sample's norm
        np.testing.assert_allclose(np.linalg.norm(out[:, rows], axis=1), np.linalg.norm(x[:, rows], axis=1), rtol=1e-5)
    assert not np.allclose(out, x)
    scaled = augment(x, streams, FinetuneConfig(augment_deg=0.0, augment_scale=0.1), rng)
    ratio = scaled / x
    assert np.allclose(ratio, ratio[:, :1, :1], rtol=1e-4) and np.abs(ratio - 1).max() <= 0.1 + 1e-6
