"""`StreamWindower`: pushing samples in any chunk sizes cuts exactly the windows offline windowing cuts."""

import numpy as np
import pytest

from mujo_edge.channels import Channel
from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError, SampleError
from mujo_edge.recording import Recording
from mujo_edge.runtime.stream import StreamWindower
from mujo_edge.windows import window_recording

NAMES = ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")


def make(rate, seconds, *, gap_at=None, gap_s=1.0, jitter=0.25, seed=0, t0=1657533977.81):
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    t = t0 + (np.arange(n) + rng.uniform(-jitter, jitter, n)) / rate
    if gap_at is not None:
        t[gap_at:] += gap_s
    x = rng.normal(scale=3.0, size=(n, 3)).astype(np.float32)
    return Recording.create(t, x, [Channel.parse(c) for c in NAMES], subject="s", source="synthetic")


def chunks(n, mode, rng):
    i = 0
    while i < n:
        k = {"1": 1, "7": 7, "random": int(rng.integers(1, 80)), "all": n}[mode]
        yield slice(i, i + k)
        i += k


def streamed(rec, config, mode, seed=0):
    w = StreamWindower(config, rec.channel_names)
    out = []
    for s in chunks(rec.n_samples, mode, np.random.default_rng(seed)):
        out += w.push(rec.t[s], rec.x[s])
    out += w.flush()
    return out, w


CASES = {
    "100Hz-jitter-gap": dict(rate=100.0, seconds=30, gap_at=1234, gap_s=0.8),
    "25Hz-gap": dict(rate=25.0, seconds=40, gap_at=400, gap_s=2.5),
    "52Hz-jitter": dict(rate=52.0, seconds=25),
    "50Hz-short-gap-bridged": dict(rate=50.0, seconds=20, gap_at=300, gap_s=0.1),
}


@pytest.mark.parametrize("mode", ["1", "7", "random", "all"])
@pytest.mark.parametrize("case", list(CASES))
def test_stream_equals_offline_linear(case, mode):
    rec = make(**CASES[case])
    config = WindowConfig()
    offline = window_recording(rec, config)
    got, w = streamed(rec, config, mode)
    assert len(got) == len(offline) > 0
    np.testing.assert_array_equal([g.start_s for g in got], offline.start)
    np.testing.assert_array_equal(np.stack([g.x for g in got]), offline.x)  # bit-identical
    assert w.windows_dropped == offline.dropped.get("gap", 0)
    assert all(g.end_s == pytest.approx(g.start_s + 2.0) for g in got)


@pytest.mark.parametrize("mode", ["1", "random"])
def test_stream_equals_offline_pchip_after_flush(mode):
    rec = make(100.0, 20, gap_at=700, gap_s=0.6, seed=3)
    config = WindowConfig(interpolation="pchip")
    offline = window_recording(rec, config)
    got, _ = streamed(rec, config, mode)
    np.testing.assert_array_equal([g.start_s for g in got], offline.start)
    np.testing.assert_allclose(np.stack([g.x for g in got]), offline.x, rtol=0, atol=1e-6)


def test_windows_are_emitted_as_soon_as_complete():
    rec = make(50.0, 10, jitter=0.0)
    w = StreamWindower(WindowConfig(), NAMES)
    counts = [len(w.push(rec.t[i : i + 1], rec.x[i : i + 1])) for i in range(rec.n_samples)]
    # sample 99 completes window 0 (grid points 0..99), then one window every 50 samples
    assert np.flatnonzero(counts).tolist() == list(range(99, rec.n_samples, 50))


def test_gap_keeps_the_offline_lattice():
    rec = make(50.0, 12, gap_at=200, gap_s=1.5, jitter=0.0)
    got, w = streamed(rec, WindowConfig(), "7")
    t0 = rec.t[0]
    idx = [round((g.start_s - t0) * 50) for g in got]
    assert all(i % 50 == 0 for i in idx)  # lattice counted from the first sample, also after the gap
    assert w.windows_dropped > 0
    gap_lo, gap_hi = rec.t[199], rec.t[200]
    # a window ends on or before the last sample before the gap, or starts at or after the first one after it
    assert all(g.end_s - 0.02 <= gap_lo + 1e-9 or g.start_s >= gap_hi - 1e-9 for g in got)
    assert any(g.start_s >= gap_hi for g in got)


def test_hours_long_gap_is_cheap():
    a = make(50.0, 5, jitter=0.0)
    b = make(50.0, 5, jitter=0.0, t0=a.t[0] + 3 * 3600.0)
    w = StreamWindower(WindowConfig(), NAMES)
    first = w.push(a.t, a.x)
    second = w.push(b.t, b.x)
    assert len(first) == 4 and len(second) == 4
    assert w._buf_x.shape[0] <= WindowConfig().length  # the gap's grid points are not kept


@pytest.mark.parametrize("mode", ["7", "all"])
def test_a_pause_of_days_costs_what_a_pause_of_seconds_does_and_cuts_the_offline_windows(mode):
    """Time grows with the samples, not the span: 11 days at 50 Hz are 48 M grid points, none computed."""
    import time

    a = make(50.0, 8, seed=1)
    b = make(50.0, 8, seed=2, t0=a.t[-1] + 11 * 86400.0)
    rec = Recording.create(
        np.concatenate([a.t, b.t]),
        np.concatenate([a.x, b.x]),
        [Channel.parse(c) for c in NAMES],
        subject="s",
        source="synthetic",
    )
    t0 = time.perf_counter()
    got, w = streamed(rec, WindowConfig(), mode)
    assert time.perf_counter() - t0 < 5.0
    offline = window_recording(rec, WindowConfig())
    np.testing.assert_array_equal([g.start_s for g in got], offline.start)
    np.testing.assert_array_equal(np.stack([g.x for g in got]), offline.x)
    assert w.windows_dropped == offline.dropped.get("gap", 0) > 900_000  # one per 1 s lattice step


def test_bad_pushes_are_refused():
    w = StreamWindower(WindowConfig(), NAMES)
    w.push([0.0, 0.01], np.zeros((2, 3)))
    with pytest.raises(SampleError, match="increase"):
        w.push([0.005], np.zeros((1, 3)))
    with pytest.raises(SampleError, match="shape"):
        w.push([1.0], np.zeros((1, 2)))
    with pytest.raises(SampleError, match="non-finite"):
        w.push([1.0], np.full((1, 3), np.nan))
    w.reset()
    assert w.push([0.0], np.zeros((1, 3))) == [] and w.t0 == 0.0
    w.flush()
    with pytest.raises(SampleError, match="reset"):
        w.push([1.0], np.zeros((1, 3)))
    with pytest.raises(ConfigError):
        StreamWindower(WindowConfig(), ())
