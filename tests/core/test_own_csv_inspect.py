"""`data inspect` for your own CSV files: windows per subject and class, and the rate measured as samples over time."""

import numpy as np
import pytest

from mujo_edge.data.prepare import prepare
from mujo_edge.recording import measured_rate_hz

HEADER = "timestamp[ms],wrist_acc_x[g],wrist_acc_y[g],wrist_acc_z[g],label,subject"


def write(path, labels, subject, rate=50.0):
    """One row per entry of `labels` at `rate`, timestamps in whole milliseconds."""
    rows = [f"{round(i * 1000 / rate)},0,0,1,{label},{subject}" for i, label in enumerate(labels)]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_summary_counts_windows_per_subject_and_class(tmp_path):
    # 50 Hz, window 100, step 50: 1000 samples of one label -> 19 windows
    write(tmp_path / "a.csv", ["squat"] * 1000, "alice")
    write(tmp_path / "b.csv", ["squat"] * 1000 + ["lunge"] * 1000, "bob")
    write(tmp_path / "c.csv", ["lunge"] * 500, "carol")
    s = prepare("csv", tmp_path, cache=False).summary
    table = s.subject_class_windows
    assert list(table) == ["alice", "bob", "carol"]
    assert table["alice"] == {"lunge": 0, "squat": 19}
    assert table["carol"] == {"lunge": 9, "squat": 0}
    assert table["bob"] == {"lunge": 19, "squat": 19}  # the window half squat, half lunge is dropped (purity)
    # the rows add up to the class counts of the whole dataset
    for cls, count in s.class_windows.items():
        assert sum(row[cls] for row in table.values()) == count


def test_cached_summary_has_the_table_too(tmp_path):
    write(tmp_path / "a.csv", ["squat"] * 1000, "alice")
    first = prepare("csv", tmp_path, cache_dir=tmp_path / "cache")
    again = prepare("csv", tmp_path, cache_dir=tmp_path / "cache")
    assert again.from_cache and again.summary.subject_class_windows == first.summary.subject_class_windows


@pytest.mark.parametrize("rate", [64.0, 100.0, 12.5, 30.0])
def test_rate_is_samples_over_time_with_rounded_timestamps(rate):
    t = np.round(np.arange(2000) * 1000 / rate) / 1000  # millisecond timestamps
    assert measured_rate_hz(t) == pytest.approx(rate, rel=1e-3)


def test_rate_ignores_gaps_and_dropped_samples():
    t = np.arange(1000) / 64.0
    t = np.concatenate([t, t[-1] + 3600 + t])  # an hour's pause between two stretches
    t = np.delete(t, [100, 500, 1500])  # and a few lost samples
    assert measured_rate_hz(t) == pytest.approx(64.0, rel=1e-6)
    assert np.isnan(measured_rate_hz(np.array([1.0])))


def test_rate_is_not_biased_by_heavy_jitter():
    # +-9.9 ms of jitter at 50 Hz: steps of 0.2-39.8 ms, none of them a lost sample
    t = np.arange(5000) / 50.0 + np.random.default_rng(0).uniform(-0.0099, 0.0099, 5000)
    assert measured_rate_hz(t) == pytest.approx(50.0, rel=1e-3)


def test_inspect_reports_64_hz_for_millisecond_timestamps(tmp_path):
    write(tmp_path / "a.csv", ["squat"] * 3000, "alice", rate=64.0)
    s = prepare("csv", tmp_path, cache=False).summary
    assert s.native_rate_hz[1] == pytest.approx(64.0, rel=1e-3)
