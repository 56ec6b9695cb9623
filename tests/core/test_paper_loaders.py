"""The MuJo paper's datasets (MotionSense, MHEALTH, MM-Fit, MyoGym) load from files in their published
layouts: shapes, SI units, sign, labels and NULL, subjects, time, channel selection, and every kind of bad
input raising the typed error that names the file (and line or field where known)."""

from __future__ import annotations

import importlib.util
import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from mujo_edge.channels import ChannelSelection
from mujo_edge.config import WindowConfig
from mujo_edge.data.base import resolve_root
from mujo_edge.data.mhealth import Mhealth, is_original
from mujo_edge.data.mmfit import MMFIT_SPLIT, WORKOUT_SUBJECT, MmFit, read_labels, read_pose, subject_of, subject_split
from mujo_edge.data.motionsense import MotionSense
from mujo_edge.data.myogym import MyoGym, read_mat
from mujo_edge.data.prepare import load_recordings, prepare
from mujo_edge.data.registry import DATASETS
from mujo_edge.errors import ConfigError, DataNotFoundError, LayoutError, SampleError
from mujo_edge.recording import GROUP
from mujo_edge.units import STANDARD_GRAVITY as G
from mujo_edge.windows import concat, window_recording

# the test folder is not a package (pytest runs with --import-mode=importlib), so load the helper by path
_spec = importlib.util.spec_from_file_location("paper_fixtures", Path(__file__).with_name("paper_fixtures.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)  # type: ignore[union-attr]

CONFIG = WindowConfig()


def load(loader, root, selection=ChannelSelection()):
    return load_recordings(loader, root, selection, CONFIG)


def windows(loader, root, selection=ChannelSelection()):
    return concat([window_recording(r, CONFIG) for r in load(loader, root, selection)])


def raises(kind, fn, *, path, line=None, field=None):
    """`fn()` raises `kind` whose message names `path` (and `line`/`field` when given)."""
    with pytest.raises(kind) as e:
        fn()
    err = e.value
    assert Path(err.path) == Path(path), str(err)
    assert str(path) in str(err)
    if line is not None:
        assert err.line == line and f"line {line}" in str(err)
    if field is not None:
        assert err.field == field, str(err)
    return err


@pytest.mark.parametrize("loader", [MotionSense(), Mhealth(), MmFit(), MyoGym()])
def test_prepare_through_the_registry(tmp_path, loader):
    write = {
        "motionsense": fx.write_motionsense,
        "mhealth": fx.write_mhealth,
        "mmfit": fx.write_mmfit,
        "myogym": lambda root: fx.write_myogym(root / "MyoGym.mat"),
    }[loader.spec.name]
    write(tmp_path)
    selection = ChannelSelection(placements=("leftwrist",)) if loader.spec.name == "mmfit" else ChannelSelection()
    direct = windows(loader, tmp_path, selection)
    assert len(direct) > 0 and direct.classes == loader.spec.classes
    if loader.spec.name not in DATASETS:
        pytest.skip("not in mujo_edge.data.registry yet")
    p = prepare(loader.spec.name, tmp_path, selection=selection, cache=False)
    assert p.windows.x.shape == direct.x.shape and (p.windows.y == direct.y).all()


def test_missing_root_is_data_not_found(tmp_path):
    for loader in (MotionSense(), Mhealth(), MmFit(), MyoGym()):
        raises(DataNotFoundError, partial(resolve_root, loader.spec, tmp_path / "nowhere"), path=tmp_path / "nowhere")


# --- MotionSense -------------------------------------------------------------------------------------------
def test_motionsense_units_sign_labels_time(tmp_path):
    fx.write_motionsense(tmp_path)
    recs = load(MotionSense(), tmp_path)
    assert len(recs) == 6 and {r.subject for r in recs} == {"1", "2"}
    r = next(r for r in recs if r.recording_id == "jog_9_sub2")
    assert r.channel_names == (
        "pocket_acc_x",
        "pocket_acc_y",
        "pocket_acc_z",
        "pocket_gyro_x",
        "pocket_gyro_y",
        "pocket_gyro_z",
    )
    assert [c.source_unit for c in r.channels] == ["g"] * 3 + ["rad/s"] * 3
    v = fx.motionsense_values(150, seed=2 + 9)
    np.testing.assert_allclose(r.x[:, :3], -(v[:, 3:6] + v[:, 9:12]) * G, rtol=1e-6)
    np.testing.assert_allclose(r.x[:, 3:], v[:, 6:9], rtol=1e-6)
    # upright phone: iOS gravity.y = -1 g becomes specific force +9.81 m/s^2 on y
    assert np.median(r.x[:, 1]) == pytest.approx(0.99 * G, rel=0.05)
    np.testing.assert_allclose(r.t, np.arange(150) / 50.0)
    assert r.classes == ("dws", "ups", "wlk", "jog", "std", "sit") and (r.labels == 3).all()
    assert MotionSense().spec.class_titles["dws"] == "walking downstairs" and not MotionSense().spec.has_null


@pytest.mark.parametrize("layout", ["parent", "data_folder", "kaggle"])
def test_motionsense_root_variants(tmp_path, layout):
    data = fx.write_motionsense(tmp_path / "ms", subjects=(3,), trials=(("wlk", 7),))
    root = {"parent": tmp_path / "ms", "data_folder": data}.get(layout)
    if layout == "kaggle":
        root = tmp_path / "kaggle"
        fx.write_motionsense(root / "A_DeviceMotion_data", subjects=(3,), trials=(("wlk", 7),))
    (recording,) = load(MotionSense(), root)
    assert recording.subject == "3" and recording.classes[recording.labels[0]] == "wlk"


def test_motionsense_selection(tmp_path):
    fx.write_motionsense(tmp_path, subjects=(1,), trials=(("ups", 3),))
    (r,) = load(MotionSense(), tmp_path, ChannelSelection(sensors=("gyro",)))
    assert r.channel_names == ("pocket_gyro_x", "pocket_gyro_y", "pocket_gyro_z")
    with pytest.raises(ConfigError):
        load(MotionSense(), tmp_path, ChannelSelection(placements=("wrist",)))


def test_motionsense_bad_folders(tmp_path):
    raises(LayoutError, lambda: MotionSense().parts(tmp_path), path=tmp_path)
    data = fx.write_motionsense(tmp_path, subjects=(1,), trials=(("dws", 1),))
    fx.write_motionsense_file(data / "dws_3" / "sub_1.csv", fx.motionsense_values(10))  # trial 3 is upstairs
    raises(LayoutError, lambda: MotionSense().parts(tmp_path), path=data / "dws_3")


def set_cell(lines, line, column, value, sep=","):
    """`lines` with the cell at 1-based `line` and 0-based `column` replaced by `value`."""
    cells = lines[line - 1].split(sep)
    cells[column] = value
    return [*lines[: line - 1], sep.join(cells), *lines[line:]]


def _ms_file(tmp_path, edit):
    data = fx.write_motionsense(tmp_path, subjects=(1,), trials=(("sit", 5),), n=20)
    path = data / "sit_5" / "sub_1.csv"
    lines = edit(path.read_text().splitlines())
    path.write_text("\n".join(lines) + "\n" if lines else "")
    return path


@pytest.mark.parametrize(
    "edit, kind, line, field",
    [
        (lambda ls: [*ls[:5], ls[5] + ",0.1", *ls[6:]], LayoutError, 6, None),
        (lambda ls: set_cell(ls, 8, 5, "abc"), SampleError, 8, "gravity.y"),
        (lambda ls: set_cell(ls, 10, 11, "nan"), SampleError, 10, "pocket_acc_y"),
        (lambda ls: [], LayoutError, 1, None),
        (lambda ls: ls[:1], SampleError, 2, None),
        (lambda ls: [ls[0].replace("gravity.z", "gravity_z"), *ls[1:]], LayoutError, 1, "gravity.z"),
    ],
)
def test_motionsense_bad_files(tmp_path, edit, kind, line, field):
    path = _ms_file(tmp_path, edit)
    raises(kind, lambda: load(MotionSense(), tmp_path), path=path, line=line, field=field)


# --- MHEALTH -----------------------------------------------------------------------------------------------
def test_mhealth_units_labels_null_subjects(tmp_path):
    fx.write_mhealth(tmp_path, subjects=(2, 10))
    recs = load(Mhealth(), tmp_path)
    assert [r.subject for r in recs] == ["2", "10"]
    r = recs[0]
    assert r.channel_names == tuple(
        f"{p}_{s}_{a}"
        for p, s in [("chest", "acc"), ("ankle", "acc"), ("ankle", "gyro"), ("wrist", "acc"), ("wrist", "gyro")]
        for a in "xyz"
    )
    v = fx.mhealth_values(300, seed=2)
    np.testing.assert_allclose(r.x[:, 0:3], v[:, 0:3], rtol=1e-6)  # m/s^2 unchanged
    np.testing.assert_allclose(r.x[0, 6:9], [math.pi / 2, -math.pi / 4, 0.0], atol=1e-6)  # deg/s -> rad/s
    np.testing.assert_allclose(r.x[:, 12:15], np.radians(v[:, 17:20]), rtol=1e-5)
    np.testing.assert_allclose(r.x[:, 9:12], v[:, 14:17], rtol=1e-6)
    np.testing.assert_allclose(r.t, np.arange(300) / 50.0)
    assert (r.labels[:100] == -1).all() and (r.labels[100:200] == 3).all() and (r.labels[200:] == 10).all()
    assert r.classes[3] == "L4" and Mhealth().spec.class_titles["L4"] == "walking" and Mhealth().spec.has_null


def test_mhealth_selection_and_root_variants(tmp_path):
    fx.write_mhealth(tmp_path / "MHEALTHDATASET", subjects=(1,))
    (r,) = load(Mhealth(), tmp_path, ChannelSelection(sensors=("gyro",)))
    assert {c.placement for c in r.channels} == {"ankle", "wrist"}  # the chest unit has no gyroscope
    (r,) = load(Mhealth(), tmp_path, ChannelSelection(placements=("chest",)))
    assert r.channel_names == ("chest_acc_x", "chest_acc_y", "chest_acc_z")
    with pytest.raises(ConfigError):
        load(Mhealth(), tmp_path, ChannelSelection(placements=("chest",), sensors=("gyro",)))
    (r,) = load(Mhealth(), tmp_path / "MHEALTHDATASET" / "mHealth_subject1.log")
    assert r.subject == "1"
    (tmp_path / "elsewhere").mkdir()
    raises(LayoutError, lambda: Mhealth().parts(tmp_path / "elsewhere"), path=tmp_path / "elsewhere")


@pytest.mark.parametrize(
    "edit, kind, line, field",
    [
        (lambda ls: [*ls[:4], "\t".join(ls[4].split("\t")[:23]), *ls[5:]], LayoutError, 5, None),
        (lambda ls: set_cell(ls, 7, 9, "x1", "\t"), SampleError, 7, "ankle_gyro_y"),
        (lambda ls: set_cell(ls, 8, 0, "nan", "\t"), SampleError, 8, "chest_acc_x"),
        (lambda ls: set_cell(ls, 9, 23, "13", "\t"), SampleError, 9, "label"),
        (lambda ls: set_cell([*ls[:2], "", *ls[2:]], 10, 23, "2.5", "\t"), SampleError, 10, "label"),
        (lambda ls: [], SampleError, 1, None),
    ],
)
def test_mhealth_bad_files(tmp_path, edit, kind, line, field):
    fx.write_mhealth(tmp_path, subjects=(1,), n=30)
    path = tmp_path / "mHealth_subject1.log"
    lines = edit(path.read_text().splitlines())
    path.write_text("\n".join(lines) + "\n" if lines else "")
    raises(kind, lambda: load(Mhealth(), tmp_path), path=path, line=line, field=field)


def test_mhealth_original_checksums(tmp_path):
    fx.write_mhealth(tmp_path, subjects=(3,), n=5)
    assert is_original(tmp_path / "mHealth_subject3.log") is False  # synthetic, not the UCI file
    (tmp_path / "other.log").write_text("1")
    assert is_original(tmp_path / "other.log") is None


# --- MM-Fit ------------------------------------------------------------------------------------------------
def test_mmfit_streams_labels_time_units(tmp_path):
    data = fx.write_mmfit(tmp_path, workouts=("w00",))
    streams = MmFit().read(tmp_path, "mm-fit/w00", ChannelSelection())
    assert len(streams) == 8 and {s.meta[GROUP] for s in streams} == {"w00"}
    assert {s.subject for s in streams} == {"2"}  # w00 was recorded by participant 2
    acc = next(s for s in streams if s.meta["device"] == "sw_l" and s.channels[0].sensor == "acc")
    assert acc.channel_names == ("leftwrist_acc_x", "leftwrist_acc_y", "leftwrist_acc_z")
    assert acc.source == str(data / "w00" / "w00_sw_l_acc.npy")
    raw = fx.mmfit_stream("sw_l", "acc")
    np.testing.assert_allclose(acc.t, raw[:, 1] / 1000.0)
    np.testing.assert_allclose(acc.x, raw[:, 2:], rtol=1e-6)
    frames = raw[:, 0]
    expect = np.full(len(frames), -1)
    expect[(frames >= 60) & (frames <= 119)] = acc.classes.index("squats")
    expect[(frames >= 150) & (frames <= 209)] = acc.classes.index("pushups")
    np.testing.assert_array_equal(acc.labels, expect)
    gyro = next(s for s in streams if s.meta["device"] == "eb_l" and s.channels[0].sensor == "gyro")
    assert gyro.channel_names[0] == "leftear_gyro_x" and gyro.native_rate_hz() == pytest.approx(90, rel=0.01)
    assert {s.channels[0].placement for s in streams} == {"leftwrist", "rightwrist", "pocket", "leftear"}


def test_mmfit_streams_of_a_workout_are_aligned(tmp_path):
    fx.write_mmfit(tmp_path, workouts=("w01",))
    (r,) = load(MmFit(), tmp_path)
    assert len(r.channels) == 24 and r.subject == "0" and r.recording_id == "w01"
    assert r.native_rate_hz() == pytest.approx(90, rel=0.01)
    (r,) = load(MmFit(), tmp_path, ChannelSelection(placements=("rightwrist", "pocket"), sensors=("gyro",)))
    assert r.channel_names == (
        "rightwrist_gyro_x",
        "rightwrist_gyro_y",
        "rightwrist_gyro_z",
        "pocket_gyro_x",
        "pocket_gyro_y",
        "pocket_gyro_z",
    )
    w = concat([window_recording(r, CONFIG)])
    assert set(np.unique(w.y).tolist()) == {-1, 0, 4}  # NULL, squats, pushups


def test_mmfit_missing_device_and_file_variants(tmp_path, caplog):
    data = tmp_path / "mm-fit"
    fx.write_mmfit_workout(data, "w01")
    fx.write_mmfit_workout(data, "w02", devices=("sw_l", "sp_r"))
    (data / "w02" / "w02_sp_r_acc.npy").rename(data / "w02" / "w02_sp_r_acc_0.npy")  # published variant name
    pair = ChannelSelection(placements=("leftwrist", "rightwrist"))
    recs = load(MmFit(), tmp_path, pair)
    assert [r.recording_id for r in recs] == ["w01"] and "w02" in caplog.text and "sw_r" in caplog.text
    recs = load(MmFit(), tmp_path, ChannelSelection(placements=("pocket",)))
    assert [r.recording_id for r in recs] == ["w01", "w02"]
    assert [s.meta["device"] for s in MmFit().read(tmp_path, "mm-fit/w02", ChannelSelection())] == ["sw_l"] * 2 + [
        "sp_r"
    ] * 2
    with pytest.raises(ConfigError, match="select channels"):
        load(MmFit(), tmp_path)  # w01 and w02 hold different devices


def test_mmfit_duplicate_timestamps_are_merged(tmp_path):
    folder = fx.write_mmfit_workout(tmp_path, "w05", devices=("sw_l",))
    arr = fx.mmfit_stream("sw_l", "acc")
    arr[11, 1] = arr[10, 1]
    np.save(folder / "w05_sw_l_acc.npy", arr)
    acc = MmFit().read(tmp_path, "w05", ChannelSelection(sensors=("acc",)))[0]
    assert acc.n_samples == len(arr) - 1 and acc.meta["merged_duplicates"] == "1"


def test_mmfit_split_and_subjects():
    assert MMFIT_SPLIT.train == tuple(f"w{i:02d}" for i in (1, 2, 3, 4, 6, 7, 8, 16, 17, 18))
    assert MMFIT_SPLIT.val == ("w14", "w15", "w19") and MMFIT_SPLIT.test == ("w09", "w10", "w11")
    assert MMFIT_SPLIT.unseen_test == ("w00", "w05", "w12", "w13", "w20")
    workouts = [
        w for part in (MMFIT_SPLIT.train, MMFIT_SPLIT.val, MMFIT_SPLIT.test, MMFIT_SPLIT.unseen_test) for w in part
    ]
    assert sorted(workouts) == sorted(WORKOUT_SUBJECT) and len(set(workouts)) == 21
    # the published workout split shares participants 0 and 1 between train and test ...
    subjects = {p: {subject_of(w) for w in getattr(MMFIT_SPLIT, p)} for p in ("train", "val", "test")}
    assert subjects["train"] & subjects["test"] == {"0", "1"}
    # ... so the default subject split is disjoint, keeps the unseen participants for testing, uses all 10
    s = subject_split()
    assert s.test == ("2", "3", "4", "9") and s.val == ("8",) and s.train == ("0", "1", "5", "6", "7")
    assert sorted(s.train + s.val + s.test, key=int) == [str(i) for i in range(10)]
    assert subject_of("w99") == "w99"


def test_mmfit_pose(tmp_path):
    folder = fx.write_mmfit_workout(tmp_path, "w03")
    frames, joints = read_pose(folder / "w03_pose_3d.npy")
    assert frames.dtype == np.int64 and joints.shape == (240, 17, 3) and joints.dtype == np.float32
    np.testing.assert_array_equal(frames, np.arange(240))
    np.testing.assert_array_equal(joints[7, 5], [7, 5, -5])
    np.save(folder / "bad.npy", np.zeros((3, 10, 17)))
    raises(LayoutError, lambda: read_pose(folder / "bad.npy"), path=folder / "bad.npy")
    pose = fx.mmfit_pose(5)
    pose[:, 3, 0] = 1
    np.save(folder / "back.npy", pose)
    raises(SampleError, lambda: read_pose(folder / "back.npy"), path=folder / "back.npy", field="frame")


@pytest.mark.parametrize(
    "text, kind, line, field",
    [
        ("60,119,10,squats\n150,209\n", LayoutError, 2, None),
        ("60,119,10,squats\n150,abc,12,pushups\n", SampleError, 2, "end_frame"),
        ("60,119,10,squats\n\n150,209,12,burpees\n", SampleError, 3, "exercise"),
        ("119,60,10,squats\n", SampleError, 1, "end_frame"),
        ("", SampleError, 1, None),
    ],
)
def test_mmfit_bad_labels(tmp_path, text, kind, line, field):
    folder = fx.write_mmfit_workout(tmp_path, "w04", devices=("sw_l",))
    path = folder / "w04_labels.csv"
    path.write_text(text)
    raises(kind, lambda: load(MmFit(), tmp_path), path=path, line=line, field=field)


def test_mmfit_labels_accept_non_activity(tmp_path):
    (tmp_path / "l.csv").write_text("0,10,0,non_activity\n20,30,5,lunges\n")
    assert read_labels(tmp_path / "l.csv") == [(20, 30, 1)]


def _mmfit_bad_array(folder, arr):
    path = folder / "w06_sw_l_acc.npy"
    np.save(path, arr, allow_pickle=True)
    return path


@pytest.mark.parametrize(
    "change, kind, field",
    [
        (lambda a: a[:, :4], LayoutError, None),
        (lambda a: np.array([object()] * 3, dtype=object), LayoutError, None),
        (
            lambda a: np.column_stack([a[:, 0], np.where(np.arange(len(a)) == 7, np.nan, a[:, 1]), a[:, 2:]]),
            SampleError,
            "timestamp",
        ),
        (
            lambda a: np.column_stack([a[:, :2], np.where(np.arange(len(a)) == 9, np.inf, a[:, 2]), a[:, 3:]]),
            SampleError,
            "leftwrist_acc_x",
        ),
        (lambda a: np.column_stack([a[:, 0], a[::-1, 1], a[:, 2:]]), SampleError, "timestamp"),
        (lambda a: np.column_stack([a[:, :2], a[:, 2:] / G]), LayoutError, "acc"),  # in g, not m/s^2
        (lambda a: a[:0], SampleError, None),
    ],
)
def test_mmfit_bad_arrays(tmp_path, change, kind, field):
    folder = fx.write_mmfit_workout(tmp_path, "w06", devices=("sw_l",))
    path = _mmfit_bad_array(folder, change(fx.mmfit_stream("sw_l", "acc")))
    raises(kind, lambda: load(MmFit(), tmp_path), path=path, field=field)


def test_mmfit_missing_pieces(tmp_path):
    raises(LayoutError, lambda: MmFit().parts(tmp_path), path=tmp_path)
    folder = fx.write_mmfit_workout(tmp_path, "w07", devices=("sw_l",))
    (folder / "w07_labels.csv").unlink()
    raises(DataNotFoundError, lambda: load(MmFit(), tmp_path), path=folder / "w07_labels.csv")


# --- MyoGym ------------------------------------------------------------------------------------------------
def test_myogym_units_labels_time_subjects(tmp_path):
    path = fx.write_myogym(tmp_path / "MyoGym.mat", lead_rows=3)
    recs = load(MyoGym(), tmp_path)
    assert [r.subject for r in recs] == ["1", "2"] and [r.recording_id for r in recs] == ["myogym_t1", "myogym_t2"]
    r = recs[0]
    assert r.source == str(path) and r.n_samples == 300  # 6 s of 50 Hz IMU; repeated and pre-IMU rows dropped
    assert r.channel_names == (
        "forearm_acc_x",
        "forearm_acc_y",
        "forearm_acc_z",
        "forearm_gyro_x",
        "forearm_gyro_y",
        "forearm_gyro_z",
    )
    assert [c.source_unit for c in r.channels] == ["g"] * 3 + ["deg/s"] * 3
    np.testing.assert_allclose(r.t, (1.1e9 + np.arange(300) * 20_000.0) / 1e6)
    np.testing.assert_allclose(r.x[:, 1:3], np.tile([G, 0.25 * G], (300, 1)), rtol=1e-6)
    np.testing.assert_allclose(r.x[:, 0], 0.001 * np.arange(300) * G, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r.x[0, 3:], [math.pi, -math.pi / 2, math.pi / 4], rtol=1e-6)
    assert (r.labels[:100] == -1).all() and (r.labels[100:250] == 6).all() and (r.labels[250:] == -1).all()
    assert r.classes[6] == "bench_press" and MyoGym().spec.class_titles["bench_press"] == "Bench Press"
    assert len(r.classes) == 30 and r.native_rate_hz() == pytest.approx(50.0)
    (only,) = load(MyoGym(), path, ChannelSelection(sensors=("acc",)))[:1]
    assert only.channel_names == ("forearm_acc_x", "forearm_acc_y", "forearm_acc_z")


def test_myogym_new_session_clock_starts_a_new_recording(tmp_path):
    a_rows, a_lab = fx.myogym_rows(4, t0_us=5.0e9)
    b_rows, b_lab = fx.myogym_rows(4, t0_us=2.0e9, segments=((12, 2.0),))
    fx.save_myogym(tmp_path / "MyoGym.mat", np.vstack([a_rows, b_rows]), np.vstack([a_lab, b_lab]))
    recs = load(MyoGym(), tmp_path)
    assert [r.recording_id for r in recs] == ["myogym_t4_0", "myogym_t4_1"] and recs[1].t[0] == 2000.0
    assert recs[1].classes[recs[1].labels[0]] == "leverage_chest_press"


def test_myogym_bad_files(tmp_path):
    raises(LayoutError, lambda: MyoGym().parts(tmp_path), path=tmp_path)
    raises(DataNotFoundError, lambda: read_mat(tmp_path / "MyoGym.mat"), path=tmp_path / "MyoGym.mat")
    path = tmp_path / "MyoGym.mat"
    path.write_bytes(b"not a mat file at all" * 20)
    raises(LayoutError, lambda: load(MyoGym(), tmp_path), path=path)
    # a MATLAB v7.3 file is HDF5 behind a 128-byte MATLAB header with version 0x0200
    path.write_bytes(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + b"\0" * 8 + b"\x00\x02IM" + b"\0" * 512)
    err = raises(LayoutError, lambda: load(MyoGym(), tmp_path), path=path)
    assert "v7.3" in str(err)


@pytest.mark.parametrize(
    "edit, kind, field",
    [
        (lambda raw, lab: (raw[:, :16], lab), LayoutError, "raw_data"),
        (lambda raw, lab: (raw, lab[:-1]), LayoutError, "raw_data_labels"),
        (
            lambda raw, lab: (raw, np.where(np.arange(len(lab))[:, None] == 40, [[50, 1]], lab)),
            SampleError,
            "raw_data_labels",
        ),
        (
            lambda raw, lab: (np.where((np.arange(len(raw))[:, None] == 0) & (np.arange(17) == 11), np.nan, raw), lab),
            SampleError,
            "forearm_acc_y",
        ),
        (
            lambda raw, lab: (np.where((np.arange(len(raw))[:, None] == 5) & (np.arange(17) == 9), np.nan, raw), lab),
            SampleError,
            "raw_data",
        ),
        (lambda raw, lab: (raw[:0], lab[:0]), SampleError, "raw_data"),
    ],
)
def test_myogym_bad_contents(tmp_path, edit, kind, field):
    raw, lab = fx.myogym_rows(1)
    fx.save_myogym(tmp_path / "MyoGym.mat", *edit(raw, lab))
    raises(kind, lambda: load(MyoGym(), tmp_path), path=tmp_path / "MyoGym.mat", field=field)


def test_myogym_missing_variable(tmp_path):
    scipy.io.savemat(tmp_path / "MyoGym.mat", {"raw_data": np.zeros((3, 17))}, format="5")
    raises(LayoutError, lambda: load(MyoGym(), tmp_path), path=tmp_path / "MyoGym.mat", field="raw_data_labels")
