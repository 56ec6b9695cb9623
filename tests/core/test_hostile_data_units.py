"""Wrong units are never silent: an accelerometer that does not average about 1 g is named, with its likely unit."""

import logging

import numpy as np
import pytest

from mujo_edge.channels import ChannelSelection
from mujo_edge.data.csv_layout import CsvRecordings
from mujo_edge.errors import DataError
from mujo_edge.units import STANDARD_GRAVITY, check_gravity, likely_acc_unit, strict_units

N = 500


def worn_wrist_g(seed=0):
    """[N, 3] accelerometer in g of a moving, worn wrist: gravity turning with the arm plus motion."""
    rng = np.random.default_rng(seed)
    angle = np.linspace(0, 6 * np.pi, N)
    gravity = np.stack([np.sin(angle) * 0.6, np.cos(angle) * 0.6, np.full(N, 0.8)], axis=1)
    return gravity + rng.normal(scale=0.3, size=(N, 3))


def write(path, acc, unit):
    lines = [f"timestamp[ms],wrist_acc_x[{unit}],wrist_acc_y[{unit}],wrist_acc_z[{unit}],wrist_gyro_x"]
    lines += [f"{20 * i},{a:.6g},{b:.6g},{c:.6g},0.1" for i, (a, b, c) in enumerate(acc)]
    path.write_text("\n".join(lines) + "\n")
    return path


def read(path):
    return CsvRecordings().read(path, "", ChannelSelection())


def unit_warnings(caplog):
    return [r.getMessage() for r in caplog.records if "averages" in r.getMessage()]


@pytest.mark.parametrize(
    "scale, declared, likely",
    [
        (1.0, "m/s^2", "g"),  # values in g, header says m/s^2 (the macro-F1 0.005 case)
        (1000.0, "g", "mg"),  # values in mg, header says g
        (STANDARD_GRAVITY, "g", "m/s^2"),  # values in m/s^2, header says g
        (1.0, "mg", "g"),  # values in g, header says mg
    ],
)
def test_a_file_in_the_wrong_unit_warns_naming_file_and_likely_unit(tmp_path, caplog, scale, declared, likely):
    f = write(tmp_path / "wrong.csv", worn_wrist_g() * scale, declared)
    caplog.set_level(logging.WARNING)
    read(f)
    (message,) = unit_warnings(caplog)
    assert str(f) in message and f"likely in [{likely}]" in message and f"read as [{declared}]" in message


def test_strict_makes_it_an_error_naming_file_and_stream(tmp_path):
    f = write(tmp_path / "wrong.csv", worn_wrist_g(), "m/s^2")
    with strict_units(), pytest.raises(DataError) as e:
        read(f)
    assert e.value.path == str(f) and e.value.field == "wrist_acc_x/y/z" and "[g]" in str(e.value)
    read(f)  # strictness ends with the block: a warning again


@pytest.mark.parametrize("unit, scale", [("g", 1.0), ("m/s^2", STANDARD_GRAVITY), ("mg", 1000.0)])
def test_right_units_pass_silently_even_for_vigorous_movement(tmp_path, caplog, unit, scale):
    caplog.set_level(logging.WARNING)
    with strict_units():
        read(write(tmp_path / "ok.csv", worn_wrist_g() * scale, unit))
        # jumping: the mean magnitude reaches 2.3 g
        read(write(tmp_path / "jump.csv", worn_wrist_g() * 2.3 * scale, unit))
    assert unit_warnings(caplog) == []


def test_gravity_removed_or_raw_counts_fit_no_unit():
    assert likely_acc_unit(0.01) is None  # linear acceleration in g: no unit puts it near 1 g
    assert likely_acc_unit(4096.0 * 8) is None  # raw counts of a +-8 g sensor
    assert likely_acc_unit(1.02) == "g" and likely_acc_unit(9.7) == "m/s^2" and likely_acc_unit(990.0) == "mg"
    with strict_units(), pytest.raises(DataError, match="no known unit"):
        check_gravity(np.full((10, 3), 0.01), "g", source="lin.csv", stream="wrist_acc")


def test_non_finite_rows_are_ignored_and_an_empty_stream_is_not_judged():
    x = np.full((10, 3), STANDARD_GRAVITY / np.sqrt(3))
    x[3] = np.nan
    with strict_units():
        check_gravity(x, "m/s^2", source="a.csv", stream="wrist_acc")
        check_gravity(np.full((4, 3), np.nan), "m/s^2", source="a.csv", stream="wrist_acc")
