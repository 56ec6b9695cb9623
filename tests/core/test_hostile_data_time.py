"""Hostile timestamps: the 50 Hz grid never outgrows what the samples can fill, absurd times are clear errors.

Every input is generated here. Before the grid was made sparse, the 10^6 s jump below allocated a grid of
5 * 10^7 points (about 1 GB) and `1e300` died in numpy with a traceback.
"""

import logging
import time
import tracemalloc

import numpy as np
import pytest

from mujo_edge.channels import ChannelSelection, triaxial
from mujo_edge.config import WindowConfig
from mujo_edge.data.csv_layout import CsvRecordings
from mujo_edge.data.prepare import prepare
from mujo_edge.errors import ConfigError, SampleError
from mujo_edge.recording import GAPS, Recording
from mujo_edge.resample import align, fillable_grid, grid_for, resample
from mujo_edge.windows import DROP_GAP, DROP_MIXED, window_labels, window_recording

HEADER = "timestamp[ms],wrist_acc_x[m/s^2],wrist_acc_y[m/s^2],wrist_acc_z[m/s^2],label"
T0_MS = 1_657_533_977_810


def csv_rows(t_ms, seed=0):
    rng = np.random.default_rng(seed)
    return [f"{t:.0f},{rng.normal():.4f},{rng.normal():.4f},{9.8 + rng.normal():.4f},walk" for t in t_ms]


def write_csv(path, rows):
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def read(path):
    return CsvRecordings().read(path, "", ChannelSelection())


def rec(t, seed=0, placement="wrist", labels=None, classes=()):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(t), 3)).astype(np.float32)
    return Recording.create(
        t,
        x,
        triaxial(placement, "acc", "m/s^2"),
        subject="s",
        source=f"{placement}.csv",
        labels=labels,
        classes=classes,
    )


# --- a jump longer than the gap limit is a gap, in memory and time bounded by the samples ---------------------


def test_a_million_second_jump_is_a_gap_read_in_bounded_memory(tmp_path, caplog):
    n = 1200  # 24 s at 50 Hz, about 40 KB of CSV
    t_ms = T0_MS + np.arange(n) * 20.0
    t_ms[n // 2 :] += 1e9  # one typo-sized jump: 10^6 s (11.6 days) in the middle of the file
    f = write_csv(tmp_path / "jump.csv", csv_rows(t_ms))
    caplog.set_level(logging.WARNING)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        p = prepare("csv", f, cache=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"peak {peak / 1e6:.0f} MB for {n} samples"
    assert time.perf_counter() - started < 30  # generous: the dense grid took minutes under tracemalloc
    w = p.windows
    assert w.gaps == 1
    # both halves are windowed (12 s each: 11 windows), nothing across the jump
    assert len(w) == 22 and np.isfinite(w.x).all()
    t0 = T0_MS / 1000
    assert all(s + 2.0 <= t0 + 12.0 or s >= t0 + 12.0 + 1e6 - 0.02 for s in w.start)
    # the lattice windows lying in the jump are counted, not cut
    assert w.dropped[DROP_GAP] == pytest.approx(1e6, rel=1e-3)
    warned = [r.getMessage() for r in caplog.records if "jumps" in r.getMessage()]
    assert len(warned) == 1 and f"{f}, line {n // 2 + 2}" in warned[0] and "1e+06 s" in warned[0]


def test_resampled_grid_grows_with_samples_not_span():
    t = np.concatenate([np.arange(500) / 50.0, 1e6 + np.arange(500) / 50.0, 2e7 + np.arange(500) / 100.0])
    out = resample(rec(t), WindowConfig())
    assert out.n_samples < 2 * len(t)
    assert out.meta[GAPS] == "2"
    assert np.isfinite(out.x[out.valid]).all() and np.isnan(out.x[~out.valid]).all()
    # the grid is the lattice t0 + k / 50 from the first sample, and ends on its last point
    k = (out.t - t[0]) * 50
    np.testing.assert_allclose(k, np.round(k), atol=1e-3)
    assert out.t[0] == t[0] and t[-1] - 0.02 < out.t[-1] <= t[-1]
    # and every point between samples no further apart than max_gap_s is there and valid
    assert out.valid.sum() == 500 + 500 + 250 and out.n_samples == 1250 + 4  # 4 invalid: either side of 2 gaps


def dense_windows(recording, config):
    """The windows of the dense grid (every lattice point made), as windowing was before the grid was sparse."""
    grid = resample(recording, config, grid_for(float(recording.t[0]), float(recording.t[-1]), config.rate_hz))
    n, length = grid.n_samples, config.length
    starts = np.arange(0, max(n - length + 1, 0), config.step)
    ok_gap = grid.valid[starts[:, None] + np.arange(length)[None, :]].all(axis=1)
    majority, pure = window_labels(grid.labels, starts, length, config.min_purity)
    keep = ok_gap & pure
    x = grid.x[starts[keep][:, None] + np.arange(length)[None, :]].transpose(0, 2, 1)
    dropped = {DROP_GAP: int((~ok_gap).sum()), DROP_MIXED: int((ok_gap & ~pure).sum())}
    return x, majority[keep], grid.t[starts[keep]], {k: v for k, v in dropped.items() if v}


@pytest.mark.parametrize("seed", range(12))
def test_sparse_grid_cuts_exactly_the_dense_grids_windows(seed):
    rng = np.random.default_rng(seed)
    rate = float(rng.choice([25.0, 50.0, 52.0, 100.0]))
    n = 3000
    dt = np.full(n - 1, 1 / rate) * rng.uniform(0.8, 1.2, n - 1)
    at = rng.choice(n - 1, size=int(rng.integers(1, 8)), replace=False)
    dt[at] = rng.choice([0.2, 0.3, 0.9, 2.0, 3.7, 61.0], size=len(at))  # bridged and real gaps
    t = 1657533977.81 + np.concatenate([[0.0], np.cumsum(dt)])
    labels = (np.arange(n) // int(rng.integers(40, 400)) % 3).astype(np.int16)
    config = WindowConfig(
        interpolation=str(rng.choice(["linear", "pchip"])), step=int(rng.choice([25, 50])), min_purity=0.6
    )
    r = rec(t, seed, labels=labels, classes=("a", "b", "c"))
    got = window_recording(r, config)
    x, y, start, dropped = dense_windows(r, config)
    np.testing.assert_array_equal(got.start, start)
    np.testing.assert_array_equal(got.x, x)  # bit-identical values
    np.testing.assert_array_equal(got.y, y)
    assert dict(got.dropped) == dropped


def test_aligned_streams_with_gaps_cut_the_dense_grids_windows():
    config = WindowConfig()
    a_t = 100.0 + np.arange(3000) / 50.0
    a_t[1500:] += 5.0  # a gap in the first stream
    b_t = 100.3 + np.arange(6000) / 100.0
    b_t[700:] += 0.6  # a shorter one in the second
    a, b = rec(a_t, 1, "wrist"), rec(b_t, 2, "pocket")
    aligned = align([a, b], config)
    start, end = max(a_t[0], b_t[0]), min(a_t[-1], b_t[-1])
    dense = Recording.create(
        grid_for(start, end, 50.0),
        np.concatenate([resample(r, config, grid_for(start, end, 50.0)).x for r in (a, b)], axis=1),
        [*a.channels, *b.channels],
        subject="s",
        source="dense",
        valid=np.logical_and.reduce([resample(r, config, grid_for(start, end, 50.0)).valid for r in (a, b)]),
    )
    got = window_recording(aligned, config)
    x, _, starts, dropped = dense_windows(dense, config)
    np.testing.assert_array_equal(got.start, starts)
    np.testing.assert_array_equal(got.x, x)
    assert dict(got.dropped) == dropped and got.gaps == 2


# --- absurd values are clear errors naming the file, line or field ------------------------------------------


def test_an_extra_digit_on_the_last_timestamp_is_an_error_naming_the_line(tmp_path):
    t_ms = T0_MS + np.arange(1000) * 20.0
    rows = csv_rows(t_ms)
    rows[-1] = str(int(t_ms[-1])) + "0" + rows[-1][len(str(int(t_ms[-1]))) :]  # 13 digits become 14
    f = write_csv(tmp_path / "typo.csv", rows)
    with pytest.raises(SampleError) as e:
        read(f)
    assert e.value.path == str(f) and e.value.line == 1001 and e.value.field == "timestamp"
    assert "more than a year" in str(e.value) and "np.float64" not in str(e.value)


@pytest.mark.parametrize("value", ["1e300", "1e20", "inf", "nan"])
def test_absurd_last_timestamp_is_an_error_not_a_traceback(tmp_path, value):
    rows = [f"{i / 50:.2f},0,0,9.8" for i in range(300)] + [f"{value},0,0,9.8"]
    f = tmp_path / "absurd.csv"
    f.write_text("timestamp,wrist_acc_x,wrist_acc_y,wrist_acc_z\n" + "\n".join(rows) + "\n")
    with pytest.raises(SampleError) as e:
        prepare("csv", f, cache=False)
    assert e.value.path == str(f) and e.value.line == 302 and e.value.field == "timestamp"


@pytest.mark.parametrize(
    "unit, step, fits",
    [
        ("s", 20.0, "ms"),  # milliseconds declared as seconds: 0.05 Hz
        ("ms", 20e3, "us"),  # microseconds declared as milliseconds: 0.05 Hz
        ("ms", 0.002, "s"),  # seconds declared as milliseconds: 500 kHz
    ],
)
def test_a_rate_no_wearable_has_names_the_timestamp_unit(tmp_path, unit, step, fits):
    rows = [f"{1000 + i * step!r},0,0,9.8" for i in range(200)]
    f = tmp_path / "rate.csv"
    f.write_text(f"timestamp[{unit}],wrist_acc_x,wrist_acc_y,wrist_acc_z\n" + "\n".join(rows) + "\n")
    with pytest.raises(SampleError) as e:
        read(f)
    assert e.value.path == str(f) and e.value.field == "timestamp"
    assert f"[{fits}]" in str(e.value) and "wearable" in str(e.value)


def test_a_grid_the_data_cannot_fill_is_refused_before_it_is_allocated():
    t = np.concatenate([np.arange(600) / 50.0, 1e6 + np.arange(600) / 50.0])
    with pytest.raises(ConfigError) as e:  # a gap limit of four months bridges the 11-day jump
        resample(rec(t), WindowConfig(max_gap_s=1e7))
    assert e.value.field == "max_gap_s" and "wrist.csv" in str(e.value)
    with pytest.raises(ConfigError) as e:  # a bundle asking for a 1 GHz grid
        window_recording(rec(t[:600]), WindowConfig(rate_hz=1e9))
    assert e.value.field == "rate_hz"


def test_timestamps_too_large_for_any_grid_are_refused():
    t = 1e13 + np.arange(100) * 0.5  # 2 Hz near 10^13 s: float64 steps of 2 ms, a 10 % of a 50 Hz period
    with pytest.raises(SampleError, match="too large"):
        fillable_grid(rec(t), WindowConfig(max_gap_s=1.0))
