"""Licences travel with the model: a classifier remembers its pre-training sources, export writes which of them are
research-only into the bundle, and the release script refuses to ship such a model."""

from dataclasses import replace

import pytest

from mujo_edge.data.registry import DATASETS, research_only
from mujo_edge.errors import ConfigError
from mujo_edge.export.release_default import check_shippable
from mujo_edge.training.checkpoints import read_classifier, write_classifier
from tests.training.test_checkpoints import test_version_1_classifier_checkpoint_loads as _writes_old


def test_hmp_is_the_one_research_only_dataset():
    assert research_only(["hmp", "sp_sw_har", "synthetic", "spar_watch"]) == ("hmp",)
    assert [d.spec.name for d in DATASETS if not d.spec.redistributable] == ["hmp"]


@pytest.fixture
def old_classifier(tmp_path):
    _writes_old(tmp_path)  # writes a version-1 classifier.pt (no pretraining_sources key) and checks it loads
    return tmp_path / "classifier.pt"


def test_sources_round_trip_and_an_old_checkpoint_has_none(old_classifier, tmp_path):
    ckpt = read_classifier(old_classifier)
    assert ckpt.pretraining_sources == ()
    write_classifier(replace(ckpt, pretraining_sources=("hmp", "synthetic")), tmp_path / "new.pt")
    assert read_classifier(tmp_path / "new.pt").pretraining_sources == ("hmp", "synthetic")


def test_the_release_script_refuses_a_model_pre_trained_with_research_only_data(old_classifier, tmp_path):
    check_shippable(old_classifier)  # trained on "toy", pre-trained on nothing: fine
    ckpt = read_classifier(old_classifier)
    write_classifier(replace(ckpt, pretraining_sources=("sp_sw_har", "hmp")), tmp_path / "hmp.pt")
    with pytest.raises(ConfigError, match="hmp, whose licence forbids redistribution"):
        check_shippable(tmp_path / "hmp.pt")
    write_classifier(replace(ckpt, dataset="hmp"), tmp_path / "on-hmp.pt")
    with pytest.raises(ConfigError, match="hmp"):
        check_shippable(tmp_path / "on-hmp.pt")


def test_export_writes_the_sources_and_the_research_only_ones_into_the_bundle(old_classifier):
    from mujo_edge.export.pipeline import _manifest

    ckpt = replace(read_classifier(old_classifier), pretraining_sources=("hmp", "synthetic"))
    details = _manifest(ckpt, (), {}).training.details
    assert details["pretraining_sources"] == ["hmp", "synthetic"] and details["research_only_data"] == ["hmp"]
    plain = _manifest(read_classifier(old_classifier), (), {}).training.details
    assert "research_only_data" not in plain and "pretraining_sources" not in plain


def test_a_refused_release_is_one_line_and_leaves_the_bundle_alone(old_classifier, tmp_path, capsys):
    from mujo_edge.export.release_default import main

    ckpt = read_classifier(old_classifier)
    write_classifier(replace(ckpt, pretraining_sources=("hmp",)), tmp_path / "hmp.pt")
    out = tmp_path / "bundle"
    code = main(["--classifier", str(tmp_path / "hmp.pt"), "--cv", str(tmp_path / "none.csv"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("not released:") and "hmp" in err and err.count("\n") == 1
    assert not out.exists()
