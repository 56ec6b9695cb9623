"""The shift-invariant encoder with its spectral branch converts on every engine, fp32 and int8.

Why a test of its own: onnx2tf read the training graph's magnitude reshape and spectral MatMul in the wrong
layout and refused the model, and a squared power spectrum lost 16 macro-F1 points in int8 on SPAR."""

from __future__ import annotations

import pytest

from mujo_edge.bundle import ArtifactStatus

TRAIN, VAL, TEST = ("1", "2", "3"), ("4",), ("5",)


@pytest.fixture(scope="module")
def pooled_report(make_toy, make_toy_classifier, tmp_path_factory):
    from mujo_edge.export.calibration import checkpoint_normaliser, held_out
    from mujo_edge.export.pipeline import export_classifier
    from mujo_edge.training.finetune import FinetuneConfig
    from mujo_edge.training.models import ArchConfig

    toy = make_toy(TRAIN + VAL + TEST)
    config = FinetuneConfig(regime="baseline", epochs=8, patience=8, head_hidden=32, augment_deg=0.0, augment_scale=0.0)
    arch = ArchConfig(
        sensor_encoder="pooled",
        sensor_spectral_bins=25,
        sensor_spectrum="log_magnitude",
        sensor_channels=(8, 8, 16, 16),
        sensor_kernel=7,
        sensor_activation="gelu",
        sensor_dim=64,
        proj_dim=32,
        proj_layers=2,
    )
    ckpt = make_toy_classifier(toy, arch, config, (TRAIN, VAL, TEST))
    calib = checkpoint_normaliser(ckpt).apply(toy.for_subjects(TRAIN).x)
    return export_classifier(
        ckpt,
        tmp_path_factory.mktemp("pooled") / "bundle",
        test=held_out(ckpt, toy),
        calib=calib,
        formats=("tflite", "executorch"),
    )


def test_pooled_encoder_exports_to_tflite_and_executorch_in_fp32_and_int8(pooled_report):
    rows = {r.name: r for r in pooled_report.rows}
    assert set(rows) == {"tflite-fp32", "tflite-int8", "executorch-fp32", "executorch-int8"}
    for r in rows.values():
        assert r.status == ArtifactStatus.PASS, (r.name, r.status, r.notes)
        if r.precision == "fp32":
            assert r.max_abs_logit_diff < 1e-3 and r.top1_agreement == 1.0, r
        else:
            assert r.top1_agreement >= 0.9, r
