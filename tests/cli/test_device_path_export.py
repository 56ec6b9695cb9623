"""Issue 16: a bundle exported from a checkpoint whose test subjects lack a class is strict JSON (no bare NaN
in mujo.json: the undefined F1 is null with its reason), and the runtime still loads it."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.export

TRAIN, VAL, TEST = ("1", "2"), ("3",), ("4",)


def _strict(text: str):
    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_an_exported_manifest_is_strict_json_when_the_test_subjects_lack_a_class(
    make_toy, make_toy_classifier, tmp_path
):
    pytest.importorskip("onnx")
    from mujo_edge.bundle import MANIFEST, read_bundle
    from mujo_edge.export.calibration import held_out
    from mujo_edge.export.pipeline import export_classifier
    from mujo_edge.metrics import UNDEFINED_REASONS
    from mujo_edge.training.finetune import FinetuneConfig
    from mujo_edge.training.models import ArchConfig

    toy = make_toy(TRAIN + VAL + TEST)
    no_c = np.flatnonzero(~(np.isin(toy.subject, TEST) & (toy.y == 2)))
    toy = toy.subset(no_c)  # the test subject did classes a and b only
    config = FinetuneConfig(regime="baseline", epochs=1, patience=1, head_hidden=8, augment_deg=0.0, augment_scale=0.0)
    arch = ArchConfig(sensor_channels=(4, 4, 4), sensor_dim=16, proj_dim=8, proj_layers=1)
    ckpt = make_toy_classifier(toy, arch, config, (TRAIN, VAL, TEST))
    out = tmp_path / "bundle"
    export_classifier(ckpt, out, test=held_out(ckpt, toy), formats=("onnx",), int8=False)
    data = _strict((out / MANIFEST).read_text())
    test = data["metrics"]["checkpoint"]["test"]
    assert test["f1_per_class"][2] is None and test["f1_per_class_undefined"] == UNDEFINED_REASONS["f1_per_class"]
    assert read_bundle(out).manifest.labels == ("a", "b", "c")
