"""Corpus format, builders from real windows, concatenation and recipes."""

import json

import numpy as np
import pytest

from mujo_edge.channels import triaxial
from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError, DataNotFoundError, LayoutError, UnknownNameError
from mujo_edge.recording import Recording
from mujo_edge.training.corpus import NO_TEXT, Corpus, concat, from_windows
from mujo_edge.training.corpus_builders import real_part
from mujo_edge.training.recipe import CorpusRecipe, load_pretrain_preset
from mujo_edge.windows import window_recording


def windows(subject="1", n=600, placements=("wrist", "pocket")):
    chans = [c for p in placements for c in (*triaxial(p, "acc", "m/s^2"), *triaxial(p, "gyro", "rad/s"))]
    labels = np.repeat(np.array([0, 1, -1], np.int16), n // 3)
    x = np.arange(n * len(chans), dtype=np.float32).reshape(n, len(chans))
    r = Recording.create(np.arange(n) / 50, x, chans, subject=subject, source="r", classes=("a", "b"), labels=labels)
    return window_recording(r, WindowConfig())


TEXTS = {"a": ("doing a", "a again"), "b": ("doing b",)}


def test_from_windows_refuses_a_channel_outside_a_triaxial_stream():
    w = windows(placements=("wrist",))
    w = w.with_channels(["wrist_acc_x", "wrist_acc_y", "wrist_acc_z", "wrist_gyro_x"])
    with pytest.raises(ConfigError, match="wrist_gyro"):
        from_windows(w, "toy", TEXTS)


def test_from_windows_splits_streams_and_labels_texts():
    w = windows()
    c = from_windows(w, "toy", TEXTS, keep=["wrist_acc", "pocket_acc"])
    assert c.modalities == ["pocket_acc", "wrist_acc"] and c.data["wrist_acc"].shape == (len(w), 3, 100)
    np.testing.assert_array_equal(c.data["pocket_acc"], w.x[:, 6:9])
    labelled = w.y >= 0
    assert (c.text_id[~labelled] == NO_TEXT).all() and (c.text_id[labelled] >= 0).all()
    for i in np.flatnonzero(labelled):
        assert c.texts[c.text_id[i]] in TEXTS[w.classes[w.y[i]]]
    assert set(c.subject) == {"toy:1"} and c.label[~labelled].tolist() == [""] * int((~labelled).sum())
    assert len(set(c.group[~labelled])) == int((~labelled).sum())  # unlabelled windows never share a group
    with pytest.raises(ConfigError, match="no description"):
        from_windows(w, "toy", {"a": ("x",)})


def test_save_load_roundtrip(tmp_path):
    c = from_windows(windows(), "toy", TEXTS)
    c = Corpus(**{**c.__dict__, "text_table": np.eye(len(c.texts), 4, dtype=np.float32)})
    c.save(tmp_path / "c")
    d = Corpus.load(tmp_path / "c")
    assert d.modalities == c.modalities and d.texts == c.texts
    for m in c.modalities:
        np.testing.assert_array_equal(d.data[m], c.data[m])
    np.testing.assert_array_equal(d.text_table, c.text_table)
    info = json.loads((tmp_path / "c" / "corpus.json").read_text())
    assert info["counts"]["text"] == int(c.has_text().sum()) and info["sources"] == {"toy": len(c)}


def test_load_errors(tmp_path):
    with pytest.raises(DataNotFoundError):
        Corpus.load(tmp_path)
    from_windows(windows(), "toy", TEXTS).save(tmp_path / "c")
    (tmp_path / "c" / "corpus.json").write_text(json.dumps({"version": 99}))
    with pytest.raises(LayoutError, match="version"):
        Corpus.load(tmp_path / "c")


def test_concat_merges_texts_groups_and_missing_modalities():
    a = from_windows(windows("1", placements=("wrist",)), "A", TEXTS)
    b = from_windows(windows("2"), "B", {"a": ("doing a",), "b": ("something else",)})
    c = concat([a, b])
    assert len(c) == len(a) + len(b)
    assert not c.present["pocket_acc"][: len(a)].any() and c.present["pocket_acc"][len(a) :].all()
    assert c.texts.count("doing a") == 1  # shared text, one table row
    for part, offset in ((a, 0), (b, len(a))):
        for i in range(len(part)):
            if part.text_id[i] != NO_TEXT:
                assert c.texts[c.text_id[offset + i]] == part.texts[part.text_id[i]]
    assert not set(c.group[: len(a)]) & set(c.group[len(a) :])  # groups of different sources never collide


def test_real_part_from_sp_sw_har(shared_data):
    recipe = CorpusRecipe(modalities=("wrist_acc", "pocket_acc"), real=("sp_sw_har",))
    c = real_part("sp_sw_har", shared_data / "sp_sw_har", recipe, WindowConfig())
    assert c.modalities == ["pocket_acc", "wrist_acc"] and len(c) == 1434
    assert {s.split(":")[0] for s in c.subject} == {"sp_sw_har"} and len(set(c.subject)) == 23
    assert c.has_text().all()


def test_recipes_load_and_exclude():
    r = load_pretrain_preset("wrist-exercise")
    assert r.corpus.sources == ("spar_watch", "sp_sw_har") and r.model == "wrist-pooled"
    left_out = r.excluding(["spar_watch"])
    assert left_out.corpus.sources == ("sp_sw_har",) and left_out.corpus.exclude == ("spar_watch",)
    full = load_pretrain_preset("wrist-exercise-full")
    assert full.train.epochs == 200 and full.train.warmup_epochs == 34 and full.train.loss.tau == 1.0
    with pytest.raises(UnknownNameError, match="wrist-exercise"):
        load_pretrain_preset("nope")


def test_bad_recipe_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('model = "wrist"\n[corpus]\nmodalities = ["wrist_acc"]\n[train]\nepochz = 3\n')
    with pytest.raises(LayoutError, match="epochz"):
        load_pretrain_preset(p)
    p.write_text("model = [\n")
    with pytest.raises(LayoutError, match="not valid TOML"):
        load_pretrain_preset(p)
