"""The repetition counter on synthetic sets with a known count: several tempi and axes, stillness, live latency."""

import numpy as np
import pytest

from mujo_edge.errors import ConfigError, SampleError
from mujo_edge.runtime.repetitions import RepetitionConfig, RepetitionCounter, count_repetitions

RATE = 50.0
G = 9.81


def exercise(reps: int, period_s: float, axes: tuple[int, int] = (0, 1), still_s: float = 3.0, seed: int = 0):
    """Acceleration [N, 3] of an arm raised and lowered `reps` times: gravity turning by up to 90 degrees in the
    plane of `axes`, each repetition `period_s` long (tempo jittered by 5 %), between `still_s` of stillness,
    with sensor noise. Returns (xyz, start index of the first repetition)."""
    rng = np.random.default_rng(seed)
    durations = period_s * rng.uniform(0.95, 1.05, reps)
    phase = np.concatenate([np.linspace(0, 1, int(d * RATE), endpoint=False) for d in durations])
    angle = np.concatenate([np.zeros(int(still_s * RATE)), 0.5 * np.pi * 0.5 * (1 - np.cos(2 * np.pi * phase))])
    angle = np.concatenate([angle, np.zeros(int(still_s * RATE))])
    xyz = np.zeros((len(angle), 3))
    xyz[:, axes[0]] = G * np.cos(angle)
    xyz[:, axes[1]] = G * np.sin(angle)
    xyz[:, 3 - sum(axes)] = 0.3
    return xyz + rng.normal(scale=0.15, size=xyz.shape), int(still_s * RATE)


@pytest.mark.parametrize(
    ("reps", "period_s", "axes"),
    [(20, 1.2, (0, 1)), (15, 2.0, (1, 2)), (10, 3.0, (0, 2)), (12, 4.5, (2, 0)), (8, 0.9, (0, 1))],
)
def test_counts_sets_of_any_tempo_and_axis(reps, period_s, axes):
    xyz, _ = exercise(reps, period_s, axes, seed=reps)
    estimate = count_repetitions(xyz)
    assert estimate.count == reps
    assert estimate.period_s == pytest.approx(period_s, rel=0.1)


def test_stillness_and_noise_count_nothing():
    rng = np.random.default_rng(0)
    still = np.tile([0.0, 0.0, G], (1000, 1)) + rng.normal(scale=0.05, size=(1000, 3))
    assert count_repetitions(still).count <= 1
    assert count_repetitions(np.tile([0.0, 0.0, G], (1000, 1))).count == 0


def test_too_short_to_count_and_bad_input():
    assert count_repetitions(np.zeros((10, 3))).count == 0
    assert count_repetitions(np.zeros((0, 3))).period_s is None
    with pytest.raises(SampleError):
        count_repetitions(np.full((100, 3), np.nan))
    with pytest.raises(SampleError):
        count_repetitions(np.zeros(100))


def test_config_is_validated():
    with pytest.raises(ConfigError, match="high_hz"):
        RepetitionConfig(low_hz=3.0, high_hz=2.0)
    with pytest.raises(ConfigError):
        RepetitionConfig(min_distance=0.0)
    with pytest.raises(ConfigError):
        RepetitionConfig(min_period_s=5.0, max_period_s=2.0)


@pytest.mark.parametrize(("reps", "period_s"), [(16, 1.3), (10, 2.5)])
def test_live_count_lags_by_at_most_one_repetition_and_never_goes_down(reps, period_s):
    xyz, first = exercise(reps, period_s, seed=3)
    counter = RepetitionCounter()
    shown = []
    for i in range(0, len(xyz), 10):  # 0.2 s batches, as a watch sends them
        shown.append((i + 10, counter.push(xyz[i : i + 10])))
    counts = np.array([c for _, c in shown])
    assert (np.diff(counts) >= 0).all()
    assert counts.max() <= reps
    for end, count in shown:
        done = int((end - first) / (period_s * 1.05 * RATE))  # repetitions certainly finished by `end`
        # two periods of data are needed before the period is known; after that, a finished repetition is counted
        if (end - first) / RATE >= 2.5 * period_s and done <= reps:
            assert count >= done, (end, count, done)
    assert counter.final().count == reps
