"""The bundle format (`mujo_edge.bundle`): write, read, zip, and every way a bundle can be unusable."""

import json
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from mujo_edge.bundle import (
    MANIFEST,
    SCHEMA_VERSION,
    Artifact,
    ArtifactStatus,
    BundleError,
    EngineName,
    Manifest,
    Precision,
    Provenance,
    SubjectSplit,
    read_bundle,
    sha256_file,
    write_manifest,
    zip_bundle,
)
from mujo_edge.config import WindowConfig
from mujo_edge.errors import DataNotFoundError, LayoutError
from mujo_edge.normalise import Normaliser

CHANNELS = ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")


@pytest.fixture
def bundle(tmp_path, make_manifest) -> Path:
    folder = tmp_path / "bundle"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"onnx-bytes" * 100)
    (folder / "model.tflite").write_bytes(b"tflite-bytes" * 50)
    arts = [
        Artifact("onnx-fp32", "onnx", "fp32", "model.onnx", "onnxruntime"),
        Artifact(
            "tflite-int8",
            "tflite",
            "int8",
            "model.tflite",
            "litert",
            input_dtype="int8",
            output_dtype="int8",
            input_quant=(0.05, 3),
            output_quant=(0.1, -2),
            parity={"top1_agreement": 0.99},
        ),
        Artifact(
            "executorch-int8",
            "executorch",
            "int8",
            None,
            "executorch",
            status=ArtifactStatus.EXPORT_FAILED,
            notes="lowering failed",
        ),
    ]
    write_manifest(folder, replace(make_manifest(arts, {"dataset": "x"}), versions={"onnx": "1"}))
    return folder


def test_write_then_read_round_trips(bundle):
    b = read_bundle(bundle)
    m = b.manifest
    assert m.channels == CHANNELS and m.labels == ("a", "b") and m.window == WindowConfig()
    assert m.input_shape == (3, 100)
    a = m.artifact("tflite-int8")
    assert a.input_quant == (0.05, 3) and a.output_quant == (0.1, -2) and a.parity["top1_agreement"] == 0.99
    assert a.sha256 == sha256_file(bundle / "model.tflite") and a.bytes == 600
    assert [x.name for x in b.usable] == ["onnx-fp32", "tflite-int8"]
    raw = json.loads((bundle / MANIFEST).read_text())
    assert raw["schema_version"] == SCHEMA_VERSION and raw["input"]["layout"] == "NCL"
    assert raw["input"]["shape"] == ["batch", 3, 100]


def test_zip_round_trips(bundle, tmp_path):
    z = zip_bundle(bundle, tmp_path / "b.zip")
    with zipfile.ZipFile(z) as zf:
        assert sorted(zf.namelist()) == sorted([MANIFEST, "model.onnx", "model.tflite"])
    b = read_bundle(z)
    assert b.source == z and (b.folder / "model.onnx").read_bytes() == (bundle / "model.onnx").read_bytes()
    assert b.manifest.artifact("onnx-fp32").sha256 == read_bundle(bundle).manifest.artifact("onnx-fp32").sha256


def test_truncated_file_is_refused_naming_file_and_field(bundle):
    data = (bundle / "model.onnx").read_bytes()
    (bundle / "model.onnx").write_bytes(data[:-10])
    with pytest.raises(BundleError) as e:
        read_bundle(bundle)
    assert "model.onnx" in str(e.value) and e.value.field == "artifacts.onnx-fp32.bytes"
    assert "truncated" in str(e.value)


def test_same_size_different_content_fails_the_hash(bundle):
    data = bytearray((bundle / "model.tflite").read_bytes())
    data[0] ^= 0xFF
    (bundle / "model.tflite").write_bytes(bytes(data))
    with pytest.raises(BundleError) as e:
        read_bundle(bundle)
    assert "model.tflite" in str(e.value) and e.value.field == "artifacts.tflite-int8.sha256"


def test_missing_model_file(bundle):
    (bundle / "model.tflite").unlink()
    with pytest.raises(BundleError, match="missing") as e:
        read_bundle(bundle)
    assert "model.tflite" in str(e.value)


def _edit(bundle, change):
    path = bundle / MANIFEST
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_unknown_schema_version(bundle):
    _edit(bundle, lambda d: d.update(schema_version=99))
    with pytest.raises(BundleError, match="99") as e:
        read_bundle(bundle)
    assert e.value.field == "schema_version" and MANIFEST in str(e.value)


def test_not_a_bundle_manifest(bundle):
    _edit(bundle, lambda d: d.update(schema="something/else"))
    with pytest.raises(BundleError) as e:
        read_bundle(bundle)
    assert e.value.field == "schema"


@pytest.mark.parametrize("key", ["labels", "window", "normaliser"])
def test_missing_key_is_named(bundle, key):
    _edit(bundle, lambda d: d.pop(key))
    with pytest.raises(BundleError) as e:
        read_bundle(bundle)
    assert e.value.field == key


def test_bad_json_and_missing_manifest(bundle, tmp_path):
    (bundle / MANIFEST).write_text("{not json")
    with pytest.raises(BundleError, match="JSON"):
        read_bundle(bundle)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BundleError, match=MANIFEST):
        read_bundle(empty)
    with pytest.raises(DataNotFoundError):
        read_bundle(tmp_path / "nowhere")


def test_not_a_zip(tmp_path):
    bad = tmp_path / "bundle.zip"
    bad.write_bytes(b"PK not really")
    with pytest.raises(BundleError, match="zip"):
        read_bundle(bad)


def test_channel_mismatch_with_normaliser_and_bad_status():
    with pytest.raises(LayoutError):
        Manifest(
            channels=CHANNELS,
            units=("m/s^2",) * 3,
            window=WindowConfig(),
            normaliser=Normaliser(("a", "b", "c"), (0, 0, 0), (1, 1, 1)),
            labels=("a",),
            label_texts={},
        )
    with pytest.raises(LayoutError):
        Artifact("x", "onnx", "fp32", "m.onnx", "onnxruntime", status="weird")
    with pytest.raises(LayoutError):
        Artifact("x", "onnx", "fp32", None, "onnxruntime")


# --- typed fields ---------------------------------------------------------------------------------------------

# The embedded bundle's manifest as committed before status, precision, engine and provenance were typed
# (mujo-edge 0.1.0, tag-less commit f931c41): byte for byte what every bundle written so far looks like.
OLD_MANIFEST = Path(__file__).resolve().parent / "data" / "mujo-0.1.0.json"


def test_a_manifest_written_before_typing_loads_and_writes_back_byte_identical(tmp_path):
    text = OLD_MANIFEST.read_text()
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / MANIFEST).write_text(text)
    m = read_bundle(folder, verify=False).manifest
    a = m.artifact("tflite-int8")
    assert a.status is ArtifactStatus.PASS and a.precision is Precision.INT8 and a.engine is EngineName.LITERT
    assert m.training.dataset == "spar_watch" and m.training.held_out == ("5", "7")
    assert m.training.split == SubjectSplit(train=("3", "8", "4", "6", "1", "9", "2"), val=("10",), test=("5", "7"))
    assert m.training.details["pretrained_from"] == "runs/wrist/best.pt" and "model_config" in m.training.details
    assert json.dumps(m.to_dict(), indent=2) + "\n" == text


def test_enums_serialise_as_the_strings_mujo_json_has_always_held(bundle):
    raw = json.loads((bundle / MANIFEST).read_text())
    assert [(a["status"], a["precision"], a["engine"]) for a in raw["artifacts"]] == [
        ("pass", "fp32", "onnxruntime"),
        ("pass", "int8", "litert"),
        ("export-failed", "int8", "executorch"),
    ]
    a = read_bundle(bundle).manifest.artifact("onnx-fp32")
    assert type(a.to_dict()["status"]) is str and f"{a.engine} {a.status}" == "onnxruntime pass"


@pytest.mark.parametrize(
    ("field", "value"),
    [("precision", "int4"), ("engine", "tflite-runtime"), ("status", "ok"), ("activations", "sometimes")],
)
def test_an_unknown_enum_value_is_refused_naming_the_field(bundle, field, value):
    path = bundle / MANIFEST
    raw = json.loads(path.read_text())
    raw["artifacts"][0][field] = value
    path.write_text(json.dumps(raw))
    with pytest.raises(BundleError, match=f"artifacts.onnx-fp32.{field}") as e:
        read_bundle(bundle)
    assert value in str(e.value)


def test_provenance_is_typed_and_round_trips(make_manifest):
    p = Provenance.from_dict(
        {"dataset": "spar_watch", "split": {"train": ["1", 2], "val": [], "test": ["5"]}, "pretrained_from": None}
    )
    assert p.split == SubjectSplit(("1", "2"), (), ("5",)) and p.held_out == ("5",) and p.split.seen == ("1", "2")
    assert p.to_dict() == {
        "dataset": "spar_watch",
        "split": {"train": ["1", "2"], "val": [], "test": ["5"]},
        "pretrained_from": None,
    }
    assert Provenance.from_dict({"windows": 3}).held_out == () and Provenance().to_dict() == {}
    m = make_manifest(training={"dataset": "x"})
    assert isinstance(m.training, Provenance) and m.training.dataset == "x"  # a plain mapping is typed on the way in


@pytest.mark.parametrize("training", [{"dataset": 3}, {"split": ["1", "2"]}, {"split": {"holdout": ["1"]}}])
def test_a_malformed_provenance_is_a_bundle_error(bundle, training):
    path = bundle / MANIFEST
    raw = json.loads(path.read_text())
    raw["training"] = training
    path.write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="training"):
        read_bundle(bundle)


def test_channel_selection_is_what_to_load_for_the_model(make_manifest):
    m = make_manifest()
    assert m.channel_selection().placements == ("wrist",) and m.channel_selection().sensors == ("acc",)
