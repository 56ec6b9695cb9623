"""Bring-your-own CSV layout: good files load in SI units, bad ones name file, line and column."""

import numpy as np
import pytest

from mujo_edge.channels import ChannelSelection
from mujo_edge.config import WindowConfig
from mujo_edge.data.csv_layout import CsvRecordings
from mujo_edge.data.prepare import load_recordings, prepare
from mujo_edge.errors import DataNotFoundError, LayoutError, MujoEdgeError, SampleError

HEADER = "timestamp[ms],wrist_acc_x[g],wrist_acc_y[g],wrist_acc_z[g],wrist_gyro_x[deg/s],label,subject"


def write(path, rows, header=HEADER):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def good_rows(n=600, subject="alice", rate=100.0, t0=1_700_000_000_000):
    rows = []
    for i in range(n):
        label = "squat" if i < n // 2 else ("" if i < 3 * n // 4 else "lunge")
        rows.append(f"{t0 + i * 1000 / rate:.1f},0.5,0,1,90,{label},{subject}")
    return rows


def load(root):
    return load_recordings(CsvRecordings(), root, ChannelSelection(), WindowConfig())


def test_good_folder_loads_in_si_with_labels_and_subjects(tmp_path):
    write(tmp_path / "a.csv", good_rows(subject="alice"))
    write(tmp_path / "sub" / "b.csv", good_rows(subject="bob"))
    recs = load(tmp_path)
    assert [r.subject for r in recs] == ["alice", "bob"]
    r = recs[0]
    assert r.channel_names == ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z", "wrist_gyro_x")
    np.testing.assert_allclose(r.x[0], [0.5 * 9.80665, 0, 9.80665, np.pi / 2], rtol=1e-6)
    assert r.classes == ("lunge", "squat")
    assert r.labels[0] == 1 and r.labels[-1] == 0 and r.labels[400] == -1
    assert r.native_rate_hz() == pytest.approx(100.0)
    assert [c.source_unit for c in r.channels] == ["g", "g", "g", "deg/s"]


def test_prepare_windows_a_single_file_with_default_units(tmp_path):
    rows = [f"{i / 50:.3f},0,0,9.81,x,me" for i in range(500)]
    f = write(tmp_path / "one.csv", rows, header="timestamp,wrist_acc_x,wrist_acc_y,wrist_acc_z,label,subject")
    p = prepare("csv", f, cache=False)
    assert p.windows.x.shape == (9, 3, 100) and p.windows.classes == ("x",)
    assert p.windows.x[0, 2, 0] == pytest.approx(9.81)


def test_classes_are_harmonised_across_files(tmp_path):
    write(tmp_path / "a.csv", [f"{i * 20},0,0,1,0,squat,a" for i in range(300)])
    write(tmp_path / "b.csv", [f"{i * 20},0,0,1,0,plank,b" for i in range(300)])
    recs = load(tmp_path)
    assert recs[0].classes == recs[1].classes == ("plank", "squat")
    assert recs[0].labels[0] == 1 and recs[1].labels[0] == 0


def test_missing_subject_column_uses_file_name(tmp_path):
    write(
        tmp_path / "carol.csv",
        [f"{i},0,0,1" for i in range(10)],
        header="timestamp,wrist_acc_x,wrist_acc_y,wrist_acc_z",
    )
    assert load(tmp_path)[0].subject == "carol"


@pytest.mark.parametrize(
    "rows, header, error, line, field, message",
    [
        (["0,1,2,3,4,x,a", "20,1,2,3,x,a"], HEADER, LayoutError, 3, None, "6 cells, header has 7"),
        (["0,1,2,3,4,x,a", "20,1,oops,3,4,x,a"], HEADER, SampleError, 3, "wrist_acc_y[g]", "not a number"),
        (["0,1,2,3,4,x,a", "20,1,nan,3,4,x,a"], HEADER, SampleError, 3, "wrist_acc_y", "non-finite"),
        (["0,1,2,3,4,x,a", "20,1,inf,3,4,x,a"], HEADER, SampleError, 3, "wrist_acc_y", "non-finite"),
        (["20,1,2,3,4,x,a", "0,1,2,3,4,x,a"], HEADER, SampleError, 3, "timestamp", "backwards"),
        (["0,1,2,3,4,x,a", "20,1,2,3,4,x,a", "20,1,2,3,4,x,a"], HEADER, SampleError, 4, "timestamp", "duplicate"),
        ([], HEADER, SampleError, 2, None, "no data rows"),
        (["0,1,2,3"], "time,wrist_acc_x,wrist_acc_y,wrist_acc_z", LayoutError, 1, "timestamp", "missing column"),
        (["0,1,2,3"], "timestamp[h],wrist_acc_x,wrist_acc_y,wrist_acc_z", LayoutError, 1, "timestamp", "unit"),
        (
            ["0,1,2,3"],
            "timestamp,wrist_acc_x[furlong],wrist_acc_y,wrist_acc_z",
            LayoutError,
            1,
            "wrist_acc_x[furlong]",
            "unknown unit",
        ),
        (
            ["0,1,2,3"],
            "timestamp,wrist_acc_x[deg/s],wrist_acc_y,wrist_acc_z",
            LayoutError,
            1,
            "wrist_acc_x[deg/s]",
            "does not measure",
        ),
        (["0,1,2,3"], "timestamp,wrist_acc_x,wrist_acc_y,heart_rate", LayoutError, 1, "heart_rate", "placement"),
        (
            ["0,1,2,3,a", "20,1,2,3,b"],
            "timestamp,wrist_acc_x,wrist_acc_y,wrist_acc_z,subject",
            SampleError,
            None,
            "subject",
            "one non-empty subject",
        ),
    ],
)
def test_bad_input_names_file_line_and_field(tmp_path, rows, header, error, line, field, message):
    f = write(tmp_path / "bad.csv", rows, header=header)
    with pytest.raises(error) as e:
        load(f)
    assert e.value.path == str(f) and e.value.line == line and e.value.field == field
    assert message in str(e.value) and str(f) in str(e.value)


def test_empty_file_and_missing_paths(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(LayoutError, match="empty file"):
        load(tmp_path / "empty.csv")
    with pytest.raises(DataNotFoundError, match="not found"):
        prepare("csv", tmp_path / "nope", cache=False)
    (tmp_path / "d").mkdir()
    with pytest.raises(LayoutError, match=r"no \*\.csv"):
        load(tmp_path / "d")


def test_binary_file_is_a_clear_error(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(MujoEdgeError, match=r"bin\.csv"):
        load(tmp_path / "bin.csv")


def test_a_bad_file_among_good_ones_is_named(tmp_path):
    write(tmp_path / "a.csv", good_rows())
    bad = write(tmp_path / "z.csv", ["0,1,2,3,4,x,a", "20,1,2,3,4,x"])
    with pytest.raises(LayoutError) as e:
        load(tmp_path)
    assert e.value.path == str(bad)
