"""Hostile CSV cells and layouts: every error names the right file, line and column, in plain numbers."""

import numpy as np
import pytest

from mujo_edge.channels import ChannelSelection
from mujo_edge.data.csv_layout import CsvRecordings
from mujo_edge.data.csvio import read_csv
from mujo_edge.errors import LayoutError, SampleError

HEADER = "timestamp[ms],wrist_acc_x[g],wrist_acc_y[g],wrist_acc_z[g],label"


def rows(n=300):
    return [f"{1_700_000_000_000 + 20 * i},0.01,-0.02,0.99,walk" for i in range(n)]


def write(path, lines, header=HEADER):
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def read(path):
    return CsvRecordings().read(path, "", ChannelSelection())


def with_blank_lines(lines, before_row, blanks=4):
    return [*lines[:before_row], *([""] * blanks), *lines[before_row:]]


def test_line_numbers_count_the_blank_lines_for_a_bad_cell(tmp_path):
    lines = rows()
    lines[200] = lines[200].replace("0.01", "oops")
    f = write(tmp_path / "blank.csv", with_blank_lines(lines, 100))
    with pytest.raises(SampleError) as e:
        read(f)
    # row 200 is on line 202 (header on 1), plus 4 blank lines above it
    assert e.value.line == 206 and e.value.field == "wrist_acc_x[g]"
    assert f.read_text().splitlines()[205].startswith("1700000004000,oops")


def test_line_numbers_count_the_blank_lines_for_a_bad_sample(tmp_path):
    lines = rows()
    lines[200] = lines[199]  # a repeated timestamp on row 200
    f = write(tmp_path / "blank.csv", with_blank_lines(lines, 100, blanks=3))
    with pytest.raises(SampleError) as e:
        read(f)
    assert e.value.line == 205 and e.value.field == "timestamp"
    assert read_csv(f).lines[[0, 99, 100, 299]].tolist() == [2, 101, 105, 304]


def test_a_malformed_header_bracket_names_the_file_and_the_cell(tmp_path):
    header = "timestamp[ms],wrist_acc_x[g,wrist_acc_y[g],wrist_acc_z[g],label"
    f = write(tmp_path / "bracket.csv", rows(10), header=header)
    with pytest.raises(LayoutError) as e:
        read(f)
    assert e.value.path == str(f) and e.value.line == 1 and e.value.field == "wrist_acc_x[g"
    assert str(f) in str(e.value)


def test_messages_print_numbers_plainly(tmp_path):
    lines = rows()
    lines[5], lines[6] = lines[6], lines[5]
    f = write(tmp_path / "back.csv", lines)
    with pytest.raises(SampleError) as e:
        read(f)
    assert "np.float" not in str(e.value)
    assert "(1700000000.12 s -> 1700000000.1 s)" in str(e.value)


# "\u0661" is an Arabic-Indic one, "\uff10" a full-width zero: float() reads both
@pytest.mark.parametrize("cell", ["1_000", "0.9_9", "\u0661", "\uff10.5"])
def test_python_only_numbers_are_refused_naming_file_and_line(tmp_path, cell):
    lines = rows()
    lines[42] = lines[42].replace("0.99", cell)
    f = write(tmp_path / "underscore.csv", lines)
    with pytest.raises(SampleError) as e:
        read(f)
    assert e.value.path == str(f) and e.value.line == 44 and e.value.field == "wrist_acc_z[g]"
    assert repr(cell) in str(e.value)


def test_underscores_in_labels_and_plain_numbers_still_load(tmp_path):
    lines = [r.replace("walk", "jumping_jack") for r in rows()]
    lines[3] = lines[3].replace("0.99", "+9.9e-1")
    recording = read(write(tmp_path / "ok.csv", lines))[0]
    assert recording.classes == ("jumping_jack",)
    np.testing.assert_allclose(recording.x[3, 2], 0.99 * 9.80665, rtol=1e-6)
