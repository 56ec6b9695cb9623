"""Your own CSV columns mapped onto the documented layout by a `mujo-csv.toml` next to the data (no file rewritten)."""

import numpy as np
import pytest

from mujo_edge.channels import ChannelSelection
from mujo_edge.config import WindowConfig
from mujo_edge.data.csv_layout import CsvRecordings
from mujo_edge.data.csv_mapping import MAPPING_FILE, find_mapping
from mujo_edge.data.prepare import load_recordings, prepare
from mujo_edge.errors import LayoutError, SampleError

G = 9.80665


def write(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def load(root):
    return load_recordings(CsvRecordings(), root, ChannelSelection(), WindowConfig())


def foreign_rows(n=500, rate=50.0, t0_s=280.0, label="squat"):
    """`t,ax,ay,az,epoch (ms),act` rows: a datetime time column, g units, an extra numeric time column."""
    rows = []
    for i in range(n):
        ms = round((t0_s + i / rate) * 1000)
        stamp = np.datetime64(ms, "ms").astype(str).replace("T", " ")  # 1970-01-01 00:04:40.000
        rows.append(f"{stamp},0.5,0,1,{ms},{label}")
    return rows


def test_foreign_layout_loads_through_the_mapping(tmp_path, make_mapping):
    header = "t,ax,ay,az,epoch (ms),act"
    write(tmp_path / "alice_day1.csv", header, foreign_rows(label="squat"))
    write(tmp_path / "bob_day1.csv", header, foreign_rows(label="lunge"))
    (tmp_path / MAPPING_FILE).write_text(make_mapping())
    recs = load(tmp_path)
    assert [r.subject for r in recs] == ["alice", "bob"]
    r = recs[0]
    assert r.channel_names == ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")
    np.testing.assert_allclose(r.x[0], [0.5 * G, 0, G], rtol=1e-6)
    assert r.t[0] == pytest.approx(280.0) and r.native_rate_hz() == pytest.approx(50.0)
    assert r.classes == ("lunge", "squat") or r.classes == ("squat",)
    p = prepare("csv", tmp_path, cache=False)
    assert p.summary.subject_class_windows == {"alice": {"lunge": 0, "squat": 9}, "bob": {"lunge": 9, "squat": 0}}


def test_time_column_with_a_unit_and_subject_and_label_columns(tmp_path):
    rows = [f"{1700000000000 + i * 20},{i},0,0,9.81,walk,u7" for i in range(300)]
    write(tmp_path / "x.csv", "epoch (ms),counter,acc_x,acc_y,acc_z,activity,user", rows)
    (tmp_path / MAPPING_FILE).write_text(
        '[time]\ncolumn = "epoch (ms)"\nunit = "ms"\n'
        '[channels]\nacc_x = "chest_acc_x"\nacc_y = "chest_acc_y"\nacc_z = "chest_acc_z"\n'
        '[columns]\nlabel = "activity"\nsubject = "user"\nignore = ["counter"]\n'
    )
    (r,) = load(tmp_path)
    assert r.subject == "u7" and r.classes == ("walk",) and r.native_rate_hz() == pytest.approx(50.0)
    assert r.channel_names == ("chest_acc_x", "chest_acc_y", "chest_acc_z") and r.x[0, 2] == pytest.approx(9.81)


def test_the_documented_layout_needs_no_mapping(tmp_path):
    write(tmp_path / "a.csv", "timestamp[ms],wrist_acc_x[g],wrist_acc_y[g],wrist_acc_z[g]", ["0,0,0,1", "20,0,0,1"])
    assert find_mapping(tmp_path) is None
    (r,) = load(tmp_path)
    assert r.subject == "a"


def test_datetime_in_the_documented_layout(tmp_path):
    rows = [f"2024-05-01T10:00:{i // 50:02d}.{(i % 50) * 20:03d},0,0,1" for i in range(300)]
    write(tmp_path / "a.csv", "timestamp[datetime],wrist_acc_x[g],wrist_acc_y[g],wrist_acc_z[g]", rows)
    (r,) = load(tmp_path)
    assert r.native_rate_hz() == pytest.approx(50.0) and r.duration_s == pytest.approx(5.98)


def test_a_bad_datetime_names_file_line_and_column(tmp_path, make_mapping):
    rows = foreign_rows(n=10)
    rows[3] = rows[3].replace("1970-01-01 ", "1970-13-01 ")
    f = write(tmp_path / "alice_1.csv", "t,ax,ay,az,epoch (ms),act", rows)
    (tmp_path / MAPPING_FILE).write_text(make_mapping())
    with pytest.raises(SampleError) as e:
        load(tmp_path)
    assert e.value.path == str(f) and e.value.line == 5 and e.value.field == "t"


def test_a_mapped_column_missing_from_the_file_is_named(tmp_path, make_mapping):
    f = write(tmp_path / "alice_1.csv", "time,ax,ay,az,epoch (ms),act", foreign_rows(n=10))
    (tmp_path / MAPPING_FILE).write_text(make_mapping())
    with pytest.raises(LayoutError) as e:
        load(tmp_path)
    assert e.value.path == str(f) and e.value.line == 1 and e.value.field == "t"
    assert MAPPING_FILE in e.value.message


def test_an_unmapped_unknown_column_is_still_refused_with_a_hint(tmp_path, make_mapping):
    f = write(tmp_path / "alice_1.csv", "t,ax,ay,az,epoch (ms),act,battery", [r + ",99" for r in foreign_rows(n=10)])
    (tmp_path / MAPPING_FILE).write_text(make_mapping())
    with pytest.raises(LayoutError) as e:
        load(tmp_path)
    assert e.value.path == str(f) and e.value.field == "battery" and "ignore" in e.value.message


def test_a_bad_number_names_the_users_column(tmp_path, make_mapping):
    rows = foreign_rows(n=10)
    rows[2] = rows[2].replace(",0.5,", ",abc,")
    write(tmp_path / "alice_1.csv", "t,ax,ay,az,epoch (ms),act", rows)
    (tmp_path / MAPPING_FILE).write_text(make_mapping())
    with pytest.raises(SampleError) as e:
        load(tmp_path)
    assert e.value.line == 4 and e.value.field.startswith("ax")


@pytest.mark.parametrize(
    "text, key",
    [
        ('[time]\ncolumn = "t"\nunit = "fortnights"\n', "time.unit"),
        ('[tim]\ncolumn = "t"\n', "tim"),
        ('[channels]\nax = "wrist_acc_x"\nay = "wrist_acc_x"\n', "channels.ay"),
        ("[columns]\nsubject_from_name = '('\n", "columns.subject_from_name"),
        ("[time\n", None),
    ],
)
def test_a_bad_mapping_file_names_the_file_and_key(tmp_path, text, key):
    (tmp_path / MAPPING_FILE).write_text(text)
    with pytest.raises(LayoutError) as e:
        find_mapping(tmp_path)
    assert e.value.path == str(tmp_path / MAPPING_FILE)
    if key:
        assert e.value.field == key


def test_subject_regex_that_does_not_match_names_the_file(tmp_path, make_mapping):
    f = write(tmp_path / "2024_day1.csv", "t,ax,ay,az,epoch (ms),act", foreign_rows(n=10))
    (tmp_path / MAPPING_FILE).write_text(make_mapping())
    with pytest.raises(LayoutError) as e:
        load(tmp_path)
    assert e.value.path == str(f) and "subject_from_name" in e.value.message


def test_changing_the_mapping_rebuilds_the_cache(tmp_path, make_mapping):
    write(tmp_path / "alice_1.csv", "t,ax,ay,az,epoch (ms),act", foreign_rows())
    (tmp_path / MAPPING_FILE).write_text(make_mapping())
    first = prepare("csv", tmp_path, cache_dir=tmp_path / "cache")
    (tmp_path / MAPPING_FILE).write_text(make_mapping().replace('"wrist_acc_', '"ankle_acc_'))
    again = prepare("csv", tmp_path, cache_dir=tmp_path / "cache")
    assert not again.from_cache and again.summary.channels[0] == "ankle_acc_x" != first.summary.channels[0]


def test_a_mapped_column_colliding_with_one_of_the_file_is_refused(tmp_path, make_mapping):
    rows = [r + f",{i}" for i, r in enumerate(foreign_rows(n=10))]
    f = write(tmp_path / "alice_1.csv", "t,ax,ay,az,epoch (ms),act,label", rows)
    (tmp_path / MAPPING_FILE).write_text(make_mapping())
    with pytest.raises(LayoutError) as e:
        load(tmp_path)
    assert e.value.path == str(f) and e.value.field == "label" and "'act'" in e.value.message
