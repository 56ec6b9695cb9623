"""Procedural motion library: shapes, determinism, rigid bones, and plausible virtual IMU for every family."""

import numpy as np
import pytest

from mujo_edge.errors import ConfigError, UnknownNameError
from mujo_edge.training.motion_library import (
    MOTIONS,
    SKELETON,
    MotionSample,
    generate,
    generate_corpus_sequences,
)
from mujo_edge.training.virtual_imu import VirtualImuConfig, simulate, simulate_native

WRISTS = VirtualImuConfig(sites=("leftwrist", "rightwrist"))


def sample(name: str, seed: int = 0, duration_s: float = 6.0, fps: float = 30.0) -> MotionSample:
    return generate(name, duration_s, fps, np.random.default_rng(seed))


def wrist_gyro_energy(name: str, seeds=range(3)) -> float:
    """Mean squared wrist angular rate (rad/s)^2 over a few samples."""
    return float(
        np.mean(
            [
                np.mean(np.sum(simulate_native(s.joints, s.fps, WRISTS).gyro ** 2, axis=-1))
                for s in (sample(name, seed) for seed in seeds)
            ]
        )
    )


def test_registry_holds_at_least_20_described_families():
    assert len(MOTIONS) >= 20
    for name, family in MOTIONS.items():
        assert family.name == name and family.kind in ("exercise", "daily")
        assert 2 <= len(family.texts) <= 4 and len(set(family.texts)) == len(family.texts)
        lo, hi = family.tempo_hz
        assert 0.3 <= lo <= hi <= 1.5


def test_sample_shapes_and_metadata():
    s = sample("lateral_raise", duration_s=3.0, fps=30.0)
    assert s.joints.shape == (90, SKELETON.n_joints, 3) and s.joints.dtype == np.float32
    assert s.fps == 30.0 and s.duration_s == pytest.approx(3.0) and s.name == "lateral_raise"
    assert 1.5 <= s.params["height_m"] <= 2.0 and s.params["side"] in ("both", "left", "right", "alternating")
    assert "{" not in s.text and s.text
    assert generate("walking", 2.5, 60.0, np.random.default_rng(0)).joints.shape == (150, 17, 3)


def test_same_seed_same_sample_and_different_seed_differs():
    a, b, c = sample("squat", 4), sample("squat", 4), sample("squat", 5)
    np.testing.assert_array_equal(a.joints, b.joints)
    assert a.text == b.text and dict(a.params) == dict(b.params)
    assert not np.allclose(a.joints, c.joints)


def test_corpus_is_deterministic_and_each_family_has_its_own_stream():
    full = list(generate_corpus_sequences(2, 2.0, seed=7))
    again = list(generate_corpus_sequences(2, 2.0, seed=7))
    assert len(full) == 2 * len(MOTIONS)
    assert [s.name for s in full] == [n for n in MOTIONS for _ in range(2)]
    for x, y in zip(full, again):
        np.testing.assert_array_equal(x.joints, y.joints)
    only = list(generate_corpus_sequences(2, 2.0, seed=7, names=["push_up"]))
    np.testing.assert_array_equal(only[1].joints, [s for s in full if s.name == "push_up"][1].joints)
    other_seed = next(generate_corpus_sequences(1, 2.0, seed=8, names=["push_up"]))
    assert not np.allclose(other_seed.joints, only[0].joints)


@pytest.mark.parametrize("name", list(MOTIONS))
def test_bones_stay_rigid_and_the_body_stays_above_the_floor(name):
    j = sample(name, seed=1).joints.astype(np.float64)
    assert np.isfinite(j).all()
    lengths = np.stack([np.linalg.norm(j[:, c] - j[:, p], axis=-1) for p, c in SKELETON.bones()], axis=1)
    assert np.ptp(lengths, axis=0).max() < 1e-4  # metres; float32 positions of a few metres
    assert lengths.min() > 0.03
    assert j[..., 2].min() > -1e-3


@pytest.mark.parametrize("name", list(MOTIONS))
def test_every_family_gives_a_finite_plausible_wrist_imu(name):
    s = sample(name, seed=2)
    rec = simulate(s.joints, s.fps, WRISTS, label=name)
    np.testing.assert_allclose(np.diff(rec.t), 1 / 50, atol=1e-9)
    assert rec.valid.all() and np.isfinite(rec.x).all()
    for wrist in ("leftwrist", "rightwrist"):
        acc = rec.x[:, [rec.channel_names.index(f"{wrist}_acc_{a}") for a in "xyz"]]
        gyro = rec.x[:, [rec.channel_names.index(f"{wrist}_gyro_{a}") for a in "xyz"]]
        # jumping jacks sweep the arms ~150 degrees twice per repetition: w^2 r alone reaches ~3 g
        upper = 35.0 if name == "jumping_jacks" else 20.0
        assert 5.0 <= np.median(np.linalg.norm(acc, axis=1)) <= upper
        assert np.abs(gyro).max() < 35.0  # rad/s, the range of a +-2000 deg/s gyroscope


def test_families_are_distinguishable_in_virtual_imu():
    assert wrist_gyro_energy("standing_still") < 0.05 * wrist_gyro_energy("arm_circles")
    assert wrist_gyro_energy("sitting") < 0.05 * wrist_gyro_energy("bicep_curl")
    # a pocket sensor's x axis runs down the thigh: gravity lies along it standing, across it sitting
    pocket = VirtualImuConfig(sites=("pocket",))
    standing = simulate_native(sample("standing_still").joints, 30.0, pocket).acc[:, 0]
    seated = simulate_native(sample("sitting").joints, 30.0, pocket).acc[:, 0]
    assert np.median(standing[:, 0]) < -9.0 and abs(np.median(seated[:, 0])) < 3.0


def test_bad_requests_are_rejected():
    with pytest.raises(UnknownNameError, match="motion family"):
        generate("cartwheel", 2.0, 30.0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="duration_s"):
        generate("squat", 0.0, 30.0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="fps"):
        generate("squat", 2.0, 0.0, np.random.default_rng(0))
    with pytest.raises(UnknownNameError):
        next(generate_corpus_sequences(1, 2.0, seed=0, names=["cartwheel"]))
