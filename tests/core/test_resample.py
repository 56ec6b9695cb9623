"""Resampling maths on signals with a known answer."""

import numpy as np
import pytest

from mujo_edge.channels import triaxial
from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError
from mujo_edge.recording import Recording
from mujo_edge.resample import align, grid_for, merge_duplicate_timestamps, resample

CH = triaxial("wrist", "acc", "m/s^2")


def rec(t, f, placement="wrist", labels=None, classes=()):
    x = np.stack([f(t), 2 * f(t), -f(t)], axis=1).astype(np.float32)
    return Recording.create(
        t,
        x,
        triaxial(placement, "acc", "m/s^2"),
        subject="1",
        source=f"{placement}.csv",
        labels=labels,
        classes=classes,
    )


@pytest.mark.parametrize("rate", [10.0, 12.5, 25.0, 52.0, 100.0, 200.0])
def test_any_native_rate_becomes_an_exact_50hz_grid(rate):
    t = 3.0 + np.arange(int(10 * rate)) / rate
    slow = lambda t: np.sin(2 * np.pi * 0.5 * t)  # noqa: E731 - 0.5 Hz is well sampled at every rate
    out = resample(rec(t, slow), WindowConfig())
    np.testing.assert_allclose(np.diff(out.t), 1 / 50, atol=1e-9)
    assert out.t[0] == t[0] and out.t[-1] <= t[-1]
    assert out.valid.all()
    # linear interpolation error of a 0.5 Hz sine sampled at >= 10 Hz is below 0.025
    np.testing.assert_allclose(out.x[:, 0], slow(out.t), atol=0.025)
    np.testing.assert_allclose(out.x[:, 1], 2 * out.x[:, 0], rtol=1e-5, atol=1e-6)


def test_linear_ramp_is_reproduced_exactly_from_irregular_timestamps():
    rng = np.random.default_rng(0)
    t = np.cumsum(rng.uniform(0.005, 0.015, size=500))  # ~100 Hz with heavy jitter
    out = resample(rec(t, lambda t: 4 * t + 1), WindowConfig())
    np.testing.assert_allclose(out.x[:, 0], 4 * out.t + 1, rtol=1e-5)


def test_pchip_follows_a_10hz_sine_better_than_linear():
    t = np.arange(100) / 10.0
    f = lambda t: np.sin(2 * np.pi * 1.0 * t)  # noqa: E731
    err = {
        m: np.abs(resample(rec(t, f), WindowConfig(interpolation=m)).x[:, 0] - f(grid_for(0, t[-1], 50))).mean()
        for m in ("linear", "pchip")
    }
    assert err["pchip"] < err["linear"]


def test_gap_is_never_interpolated_and_marked_invalid():
    t = np.concatenate([np.arange(0, 2, 0.01), np.arange(3, 5, 0.01)])  # 1 s without samples
    out = resample(rec(t, lambda t: t), WindowConfig(max_gap_s=0.25))
    inside = (out.t > 1.99) & (out.t < 3.0)
    assert not out.valid[inside].any() and np.isnan(out.x[inside]).all()
    assert out.valid[~inside].all() and np.isfinite(out.x[~inside]).all()


def test_stretch_shorter_than_max_gap_is_interpolated():
    t = np.concatenate([np.arange(0, 2, 0.01), np.arange(2.2, 4, 0.01)])  # 0.21 s stretch
    out = resample(rec(t, lambda t: t), WindowConfig(max_gap_s=0.25))
    assert out.valid.all()
    np.testing.assert_allclose(out.x[:, 0], out.t, atol=1e-5)


def test_labels_take_the_nearest_source_sample():
    t = np.arange(0, 1, 0.01)
    labels = (t >= 0.5).astype(np.int16)
    out = resample(rec(t, np.sin, labels=labels, classes=("a", "b")), WindowConfig())
    np.testing.assert_array_equal(out.labels, (out.t >= 0.5).astype(np.int16))


def test_align_puts_two_streams_on_their_common_grid():
    a = rec(np.arange(0, 5, 0.01), lambda t: t, "wrist")
    b = rec(np.arange(1, 6, 0.0125), lambda t: 10 * t, "pocket")
    out = align([a, b], WindowConfig())
    assert out.channel_names[:3] == a.channel_names and out.channel_names[3:] == b.channel_names
    assert out.t[0] == pytest.approx(1.0) and out.t[-1] <= 5.0
    np.testing.assert_allclose(out.x[:, 3], 10 * out.x[:, 0], rtol=1e-5)


def test_align_rejects_streams_that_do_not_overlap():
    with pytest.raises(Exception, match="do not overlap"):
        align(
            [rec(np.arange(0, 1, 0.01), np.sin, "wrist"), rec(np.arange(2, 3, 0.01), np.sin, "pocket")], WindowConfig()
        )


def test_merge_duplicate_timestamps_averages_repeats():
    t = np.array([0.0, 0.01, 0.01, 0.01, 0.02])
    x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]], dtype=np.float32)
    t2, x2, labels, n = merge_duplicate_timestamps(t, x, np.array([0, 1, 1, 1, 0]))
    assert n == 2
    np.testing.assert_array_equal(t2, [0.0, 0.01, 0.02])
    np.testing.assert_allclose(x2[:, 0], [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(labels, [0, 1, 0])


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(rate_hz=0),
        dict(length=1),
        dict(step=0),
        dict(max_gap_s=0.01),
        dict(min_purity=0),
        dict(interpolation="cubic"),
    ],
)
def test_window_config_rejects_bad_values(kwargs):
    with pytest.raises(ConfigError):
        WindowConfig(**kwargs)
