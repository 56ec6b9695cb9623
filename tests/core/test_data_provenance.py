"""Issue 16: a model remembers the data it was trained on (root, files, content hashes, the recordings' rate), and
the runtime compares a device's rate with that rate, not with the 50 Hz grid every model runs on."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mujo_edge.bundle import MANIFEST, BundleError, Provenance, read_bundle, write_manifest
from mujo_edge.channels import ChannelSelection
from mujo_edge.data.prepare import prepare
from mujo_edge.data.provenance import DataFile, DataProvenance
from mujo_edge.runtime.live import stream_warnings

CHANNELS = ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")
HEADER = "timestamp[ms],wrist_acc_x[m/s^2],wrist_acc_y[m/s^2],wrist_acc_z[m/s^2],label"


def _csv(path, n=400, step_ms=80, label="a"):
    rows = [f"{i * step_ms},0.1,0.2,9.8,{label}" for i in range(n)]
    path.write_text("\n".join([HEADER, *rows]) + "\n")


def test_prepare_records_every_file_its_hash_and_the_recordings_rate(tmp_path):
    data = tmp_path / "mine"
    data.mkdir()
    _csv(data / "s1.csv")
    _csv(data / "s2.csv", label="b")
    for cache in (True, True, False):  # a cache hit records the same provenance as a fresh read
        p = prepare("csv", data, selection=ChannelSelection(), cache=cache, cache_dir=tmp_path / "cache").provenance
        assert p is not None and p.root == str(data.resolve()) and p.dataset == "csv"
        assert [f.path for f in p.files] == ["s1.csv", "s2.csv"]
        assert p.rate_hz == pytest.approx(12.5)
        assert p.subjects == ("s1", "s2")
    again = DataProvenance.from_dict(json.loads(json.dumps(p.to_dict())))
    assert again == p and again.digest == p.digest


def test_a_changed_missing_or_new_file_is_told_apart():
    then = DataProvenance("csv", "/d", (DataFile("a.csv", 10, "h1"), DataFile("b.csv", 10, "h2")))
    same = then.check(then.files)
    assert same.same and same.describe() == "identical"
    now = (DataFile("a.csv", 10, "hX"), DataFile("c.csv", 5, "h3"))
    check = then.check(now)
    assert (check.changed, check.missing, check.added) == (("a.csv",), ("b.csv",), ("c.csv",))
    assert "1 changed (a.csv)" in check.describe() and not check.same


def test_the_device_rate_is_compared_with_the_training_recordings_rate(make_manifest):
    recorded = make_manifest(training={"dataset": "csv", "data": {"root": "/d", "native_rate_hz": [12.4, 12.5, 12.6]}})
    assert recorded.training.source_rate_hz == 12.5
    assert stream_warnings(12.5, recorded, 0.0, 0) == []  # what it was trained on, although below 50 Hz
    slow = stream_warnings(6.0, recorded, 0.0, 0)
    assert len(slow) == 1 and "12.5 Hz the model's training recordings were made at" in slow[0]
    unrecorded = make_manifest(
        training={"dataset": "csv"}
    )  # a bundle from before: the grid's rate, said to be a fallback
    assert unrecorded.training.source_rate_hz is None
    assert "does not record" in stream_warnings(12.5, unrecorded, 0.0, 0)[0]


@pytest.mark.parametrize(
    "data, field",
    [
        ("here", "training.data"),
        ({"root": 5}, "training.data.root"),
        ({"native_rate_hz": [1, 2]}, "training.data.native_rate_hz"),
        ({"native_rate_hz": [1, "x", 3]}, "training.data.native_rate_hz"),
        ({"native_rate_hz": [0, 1, 2]}, "training.data.native_rate_hz"),
        ({"native_rate_hz": [1, True, 3]}, "training.data.native_rate_hz"),
    ],
)
def test_a_bundle_with_a_malformed_data_record_is_refused_naming_the_field(tmp_path, make_manifest, data, field):
    write_manifest(tmp_path, make_manifest(training={"dataset": "csv"}))
    doc = json.loads((tmp_path / MANIFEST).read_text())
    doc["training"]["data"] = data
    (tmp_path / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(BundleError) as e:
        read_bundle(tmp_path)
    assert e.value.field == field


def test_the_data_record_round_trips_through_the_bundle(tmp_path, make_manifest):
    training = Provenance.from_dict({"dataset": "csv", "data": {"root": "/d", "native_rate_hz": [25.0, 25.0, 25.0]}})
    write_manifest(tmp_path, replace(make_manifest(), training=training))
    back = read_bundle(tmp_path).manifest.training
    assert back.data_root == "/d" and back.source_rate_hz == 25.0
