"""Real-data loaders reject files in the wrong layout with an error naming the file and field."""

import numpy as np
import pytest

from mujo_edge.channels import ChannelSelection
from mujo_edge.config import WindowConfig
from mujo_edge.data.base import DATA_ENV, DataRoot, RootFallback, locate_root, resolve_root
from mujo_edge.data.prepare import load_recordings, prepare
from mujo_edge.data.registry import DATASETS, get_loader
from mujo_edge.errors import DataNotFoundError, LayoutError, SampleError, UnknownNameError


def load(name, root):
    return load_recordings(get_loader(name), root, ChannelSelection(), WindowConfig())


def spar_arrays(n_rec=2, n=200):
    return dict(
        samples=np.zeros((n_rec * n, 6), np.float32),
        offsets=np.arange(n_rec + 1) * n,
        exercise=np.zeros(n_rec, np.int8),
        subject=np.arange(1, n_rec + 1, dtype=np.int8),
        side=np.zeros(n_rec, np.int8),
        channels=np.array(["ax", "ay", "az", "wx", "wy", "wz"]),
        exercises=np.array(["PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW"]),
    )


def test_spar_minimal_file_loads(tmp_path):
    np.savez(tmp_path / "spar_watch.npz", **spar_arrays())
    assert len(load("spar_watch", tmp_path)) == 2


@pytest.mark.parametrize(
    "change, field",
    [
        (dict(offsets=np.array([0, 300, 200])), "offsets"),
        (dict(subject=np.array([1], np.int8)), "subject"),
        (dict(samples=np.zeros((400, 5), np.float32)), "samples"),
        (dict(exercise=np.array([0, 9], np.int8)), "exercise"),
        (dict(exercises=np.array(["A", "B"])), "exercises"),
    ],
)
def test_spar_layout_errors(tmp_path, change, field):
    arrays = spar_arrays()
    arrays.update(change)
    np.savez(tmp_path / "spar_watch.npz", **arrays)
    with pytest.raises(LayoutError) as e:
        load("spar_watch", tmp_path)
    assert e.value.field == field and "spar_watch.npz" in str(e.value)


def test_spar_nan_sample_is_named(tmp_path):
    arrays = spar_arrays()
    arrays["samples"][250, 4] = np.nan
    np.savez(tmp_path / "spar_watch.npz", **arrays)
    with pytest.raises(SampleError) as e:
        load("spar_watch", tmp_path)
    assert e.value.field == "wrist_gyro_y"


def test_npz_missing_array_and_pickled_content(tmp_path):
    np.savez(tmp_path / "hapt.npz", signals=np.zeros((10, 6), np.float32))
    with pytest.raises(LayoutError, match="missing arrays") as e:
        load("hapt", tmp_path)
    assert e.value.field == "label"
    arrays = spar_arrays()
    arrays["subject"] = np.array([{"evil": 1}, 2], dtype=object)
    np.savez(tmp_path / "spar_watch.npz", **arrays)
    with pytest.raises(LayoutError, match="unsupported array content"):
        load("spar_watch", tmp_path)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "spar_watch.npz").write_bytes(b"not a zip")
    with pytest.raises(LayoutError, match="readable"):
        load("spar_watch", tmp_path / "x")


def test_hapt_recording_with_two_users_is_rejected(tmp_path):
    n = 300
    np.savez(
        tmp_path / "hapt.npz",
        signals=np.zeros((n, 6), np.float32),
        label=np.full(n, -1, np.int8),
        user=np.r_[np.ones(150), 2 * np.ones(150)].astype(np.int8),
        recording=np.zeros(n, np.int16),
        sequence=np.arange(n, dtype=np.int32),
    )
    with pytest.raises(LayoutError, match="users") as e:
        load("hapt", tmp_path)
    assert e.value.field == "user"


def test_sp_sw_har_wrong_folder_and_bad_label(tmp_path):
    (tmp_path / "DATA").mkdir()
    with pytest.raises(LayoutError, match="sXX"):
        load("sp_sw_har", tmp_path)
    d = tmp_path / "DATA" / "s01"
    d.mkdir()
    header = "x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label"
    for dev in ("sw", "sp"):
        (d / f"s01_01_{dev}.csv").write_text(f"{header}\n0,0,9.8,0,0,0,1000,SEATED\n0,0,9.8,0,0,0,1010,DANCING\n")
    with pytest.raises(SampleError, match="unknown label 'DANCING'") as e:
        load("sp_sw_har", tmp_path)
    assert e.value.line == 3


def test_unknown_dataset_and_missing_root(tmp_path):
    with pytest.raises(UnknownNameError, match="unknown dataset 'nope'; known: spar_watch"):
        prepare("nope", tmp_path)
    with pytest.raises(DataNotFoundError, match="not found"):
        prepare("hapt", tmp_path / "missing")
    with pytest.raises(LayoutError, match=r"expected hapt\.npz"):
        prepare("hapt", tmp_path)


def test_every_registered_loader_has_a_complete_spec():
    assert {"spar_watch", "sp_sw_har", "hapt", "csv"} <= set(DATASETS.names())
    for loader in DATASETS:
        s = loader.spec
        assert s.name and s.title and s.citation and s.licence and s.folder
        assert set(s.null_classes) <= set(s.classes)
        assert set(s.class_titles) <= set(s.classes)


def test_data_root_rule(tmp_path, monkeypatch):
    spec = get_loader("hapt").spec
    own, shelf, env = tmp_path / "own", tmp_path / "shelf", tmp_path / "env"
    for folder in (own, shelf / spec.folder, env / spec.folder):
        folder.mkdir(parents=True)
    monkeypatch.setenv(DATA_ENV, str(env))
    assert resolve_root(spec, own) == own  # the dataset's own folder wins
    assert resolve_root(spec, data_dir=shelf) == shelf / spec.folder  # then a folder of datasets
    assert resolve_root(spec) == env / spec.folder  # then $MUJO_EDGE_DATA
    with pytest.raises(DataNotFoundError, match="dataset 'hapt' not found") as e:
        resolve_root(spec, data_dir=tmp_path / "nowhere")
    assert e.value.path == str(tmp_path / "nowhere" / spec.folder)
    monkeypatch.delenv(DATA_ENV)
    monkeypatch.chdir(tmp_path)  # no ../shared/data from here
    with pytest.raises(DataNotFoundError, match="no root given for dataset 'hapt'"):
        resolve_root(spec)


def test_data_root_fallback_only_when_no_folder_holds_the_dataset(tmp_path, monkeypatch):
    spec = get_loader("hapt").spec
    (tmp_path / spec.folder).mkdir()
    calls = []

    def locate():
        calls.append(1)
        return tmp_path / "fallback"

    fallback = RootFallback("a packaged copy", locate)
    found = locate_root(spec, data_dir=tmp_path, fallback=fallback)
    assert found == DataRoot(tmp_path / spec.folder, str(tmp_path / spec.folder)) and not calls
    found = locate_root(spec, data_dir=tmp_path / "empty", fallback=fallback)
    assert found == DataRoot(tmp_path / "fallback", "a packaged copy") and calls == [1]
    with pytest.raises(DataNotFoundError):  # a root given by the user never falls back
        locate_root(spec, tmp_path / "missing", fallback=fallback)


def test_csv_and_log_readers_raise_typed_errors(tmp_path):
    from mujo_edge.data.csvio import read_csv
    from mujo_edge.data.mhealth import read_log

    (tmp_path / "a.csv").write_text("a,b\n1,99999999999999999999\n")
    table = read_csv(tmp_path / "a.csv")
    with pytest.raises(LayoutError) as e:
        table.column("c")
    assert e.value.field == "c" and e.value.line == 1
    with pytest.raises(SampleError, match="do not fit int64"):
        table.numbers(["a", "b"], dtype=np.int64)
    (tmp_path / "x.log").write_bytes(b"\xff\xfe\x00 1 2")
    with pytest.raises(LayoutError, match="not a text file"):
        read_log(tmp_path / "x.log")
