"""Virtual IMU maths on poses with a known answer (static, circular motion, free fall, rotation about a bone)."""

import dataclasses

import numpy as np
import pytest

from mujo_edge.errors import ConfigError, SampleError, UnknownNameError
from mujo_edge.recording import NATIVE_RATE
from mujo_edge.training.virtual_imu import (
    H36M_17,
    SITES,
    BodySite,
    Bone,
    VirtualImuConfig,
    fit_quantile_map,
    simulate,
    simulate_native,
)

G = 9.80665
UP = np.array([0.0, 0.0, 1.0])
# a standing person facing +y (right = +x): left arm hanging, right forearm pointing forward (elbow at 90 deg)
STANDING = {
    "hip": (0, 0, 1.0),
    "right_hip": (0.1, 0, 1.0),
    "right_knee": (0.1, 0, 0.55),
    "right_foot": (0.1, 0, 0.1),
    "left_hip": (-0.1, 0, 1.0),
    "left_knee": (-0.1, 0, 0.55),
    "left_foot": (-0.1, 0, 0.1),
    "spine": (0, 0, 1.2),
    "thorax": (0, 0, 1.45),
    "neck": (0, 0.02, 1.55),
    "head": (0, 0, 1.7),
    "left_shoulder": (-0.2, 0, 1.43),
    "left_elbow": (-0.2, 0, 1.13),
    "left_wrist": (-0.2, 0, 0.88),
    "right_shoulder": (0.2, 0, 1.43),
    "right_elbow": (0.2, 0, 1.13),
    "right_wrist": (0.2, 0.25, 1.13),
}
ALL_SITES = VirtualImuConfig(sites=tuple(SITES))


def pose(n_frames: int, **override: np.ndarray) -> np.ndarray:
    """[T, 17, 3] standing pose; `override` gives [T, 3] trajectories for some joints."""
    out = np.repeat(np.array([STANDING[j] for j in H36M_17.joints], dtype=np.float64)[None], n_frames, axis=0)
    for name, traj in override.items():
        out[:, H36M_17.index(name)] = traj
    return out


def rot_z(angle: np.ndarray) -> np.ndarray:
    c, s, z, o = np.cos(angle), np.sin(angle), np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


@pytest.mark.parametrize("smoother", ["savgol", "butterworth"])
def test_static_pose_reads_one_g_along_the_axis_that_points_up_and_no_rotation(smoother):
    v = simulate_native(pose(60), 30, dataclasses.replace(ALL_SITES, smoother=smoother))
    np.testing.assert_allclose(np.linalg.norm(v.acc, axis=-1), G, rtol=1e-6)
    np.testing.assert_allclose(v.acc, G * v.rotation[:, :, 2, :], atol=1e-6)  # R^T (0, 0, g)
    np.testing.assert_allclose(v.gyro, 0.0, atol=1e-9)
    names = [s.placement for s in v.sites]
    # hanging left forearm: x points down -> -g on x; right forearm forward: z points up -> +g on z
    np.testing.assert_allclose(v.acc[0, names.index("leftwrist")], [-G, 0, 0], atol=1e-6)
    np.testing.assert_allclose(v.acc[0, names.index("rightwrist")], [0, 0, G], atol=1e-6)
    np.testing.assert_allclose(v.acc[0, names.index("chest")], [G, 0, 0], atol=1e-6)


@pytest.mark.parametrize("smoother", ["savgol", "butterworth"])
def test_free_fall_reads_zero(smoother):
    t = np.arange(45)[:, None, None] / 30.0
    falling = pose(45) + np.array([0.3, -0.2, 0.5]) * t - 0.5 * G * UP * t**2
    v = simulate_native(falling, 30, dataclasses.replace(ALL_SITES, smoother=smoother))
    np.testing.assert_allclose(v.acc, 0.0, atol=1e-5)
    np.testing.assert_allclose(v.gyro, 0.0, atol=1e-6)


def test_rigid_arm_circling_about_the_shoulder_reads_centripetal_acceleration_and_the_rate():
    fps, omega = 100.0, np.pi  # 0.5 rev/s about the vertical axis through the right shoulder
    t = np.arange(300) / fps
    shoulder = np.array(STANDING["right_shoulder"])
    # horizontal arm: upper arm to the right, forearm forward (elbow at 90 deg), swept about +z
    rz = rot_z(omega * t)
    elbow = shoulder + rz @ np.array([0.3, 0.0, 0.0])
    wrist = shoulder + rz @ np.array([0.3, 0.25, 0.0])
    v = simulate_native(
        pose(len(t), right_elbow=elbow, right_wrist=wrist), fps, VirtualImuConfig(sites=("rightwrist",))
    )
    rel = shoulder + rz @ np.array([0.3, 0.9 * 0.25, 0.0]) - shoulder  # site position relative to the axis
    x = rz @ np.array([0.0, 1.0, 0.0])
    y = np.cross(x, rz @ np.array([1.0, 0.0, 0.0]))  # x × (shoulder -> elbow)
    frame = np.stack([x, y, np.cross(x, y)], axis=-1)
    expected_acc = np.einsum("tji,tj->ti", frame, -(omega**2) * rel + G * UP)
    inner = slice(20, -20)
    np.testing.assert_allclose(v.rotation[inner, 0], frame[inner], atol=1e-6)
    np.testing.assert_allclose(v.acc[inner, 0], expected_acc[inner], atol=0.02)
    # in world coordinates the horizontal part is omega^2 r, pointing at the centre
    world = np.einsum("tij,tj->ti", v.rotation[:, 0], v.acc[:, 0]) - G * UP
    radius = np.linalg.norm(rel, axis=-1)
    np.testing.assert_allclose(np.linalg.norm(world[inner], axis=-1), omega**2 * radius[inner], rtol=5e-3)
    np.testing.assert_allclose(np.sum(world * -rel, axis=-1)[inner] / (omega**2 * radius[inner] ** 2), 1.0, rtol=5e-3)
    np.testing.assert_allclose(v.gyro[inner, 0], np.einsum("tji,j->ti", frame, omega * UP)[inner], atol=1e-3)


def test_rotation_about_the_sensors_own_long_axis_reads_on_its_x_gyro():
    fps, omega = 60.0, 2.0  # rad/s
    t = np.arange(240) / fps
    elbow = np.array(STANDING["left_elbow"])
    # forearm fixed along +x; the upper arm sweeps a cone about it, turning the elbow plane at omega
    shoulder = elbow - 0.3 * np.stack([0 * t, np.cos(omega * t), np.sin(omega * t)], axis=-1)
    v = simulate_native(
        pose(
            len(t),
            left_shoulder=shoulder,
            left_elbow=np.tile(elbow, (len(t), 1)),
            left_wrist=np.tile(elbow + np.array([0.25, 0, 0]), (len(t), 1)),
        ),
        fps,
        VirtualImuConfig(sites=("leftwrist",)),
    )
    gyro = v.gyro[10:-10, 0]
    np.testing.assert_allclose(gyro[:, 0], omega, rtol=1e-3)
    np.testing.assert_allclose(gyro[:, 1:], 0.0, atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(v.acc[:, 0], axis=-1), G, rtol=1e-6)


def test_straight_arm_raised_overhead_hands_over_references_without_a_flip():
    fps, omega = 50.0, 1.0  # frontal raise of a straight left arm from hanging to overhead, about the x axis
    t = np.arange(int(np.pi / omega * fps)) / fps
    direction = np.stack([0 * t, np.sin(omega * t), -np.cos(omega * t)], axis=-1)
    shoulder = np.array(STANDING["left_shoulder"])
    v = simulate_native(
        pose(len(t), left_elbow=shoulder + 0.3 * direction, left_wrist=shoulder + 0.55 * direction),
        fps,
        VirtualImuConfig(sites=("leftwrist", "leftupperarm")),
    )
    np.testing.assert_allclose(np.linalg.norm(v.gyro[10:-10], axis=-1), omega, rtol=1e-2)
    assert np.isfinite(v.rotation).all()


def test_30_and_60_fps_both_resample_to_exact_50hz_and_agree():
    def rec(fps):
        t = np.arange(int(4 * fps)) / fps
        wrist = np.array(STANDING["right_elbow"]) + 0.25 * np.stack([0 * t, np.cos(2 * t), np.sin(2 * t)], axis=-1)
        return simulate(
            pose(len(t), right_wrist=wrist), fps, VirtualImuConfig(sites=("rightwrist", "pocket")), label="curl"
        )

    a, b = rec(30.0), rec(60.0)
    for r in (a, b):
        np.testing.assert_allclose(np.diff(r.t), 1 / 50, atol=1e-9)
        assert r.valid.all() and r.classes == ("curl",) and (r.labels == 0).all()
        assert r.channel_names[:6] == (
            "rightwrist_acc_x",
            "rightwrist_acc_y",
            "rightwrist_acc_z",
            "rightwrist_gyro_x",
            "rightwrist_gyro_y",
            "rightwrist_gyro_z",
        )
    assert a.meta[NATIVE_RATE] == "30" and b.meta[NATIVE_RATE] == "60"
    n = min(a.n_samples, b.n_samples)
    np.testing.assert_allclose(a.x[10 : n - 10], b.x[10 : n - 10], atol=0.05)


def test_low_frame_rate_caps_the_cutoff_instead_of_failing():
    v = simulate_native(pose(30), 12, VirtualImuConfig(cutoff_hz=8.0))
    assert v.cutoff_hz == pytest.approx(0.4 * 12)


def test_bad_joints_are_named():
    with pytest.raises(SampleError, match=r"expected \[T, 17, 3\]"):
        simulate(np.zeros((30, 17)), 30)
    with pytest.raises(SampleError, match="15 joints per frame but skeleton 'h36m17' has 17"):
        simulate(np.zeros((30, 15, 3)), 30)
    bad = pose(30)
    bad[7, H36M_17.index("left_wrist"), 1] = np.nan
    with pytest.raises(SampleError, match="frame 7") as err:
        simulate(bad, 30)
    assert err.value.field == "left_wrist"
    with pytest.raises(SampleError, match="need at least"):
        simulate(pose(4), 30)
    with pytest.raises(ConfigError, match="fps"):
        simulate(pose(30), 5)
    collapsed = pose(30, left_wrist=np.tile(STANDING["left_elbow"], (30, 1)))
    with pytest.raises(SampleError, match="zero length"):
        simulate(collapsed, 30)


def test_bad_config_is_rejected():
    with pytest.raises(UnknownNameError):
        VirtualImuConfig(sites=("nose",))
    with pytest.raises(ConfigError, match="cutoff_hz"):
        VirtualImuConfig(cutoff_hz=30.0)
    with pytest.raises(ConfigError, match="smoother"):
        VirtualImuConfig(smoother="kalman")
    with pytest.raises(ConfigError, match="sites"):
        VirtualImuConfig(sites=("leftwrist", "leftwrist"))
    with pytest.raises(ConfigError):
        BodySite("left wrist", "left_elbow", "left_wrist", 0.9, ("backward",))
    custom = BodySite("tail", "hip", "tail_tip", 1.0, (Bone("hip", "spine"),))
    with pytest.raises(ConfigError, match="tail_tip"):
        simulate(pose(30), 30, VirtualImuConfig(sites=(custom,)))


def test_quantile_map_matches_the_reference_distribution_and_keeps_timing():
    rng = np.random.default_rng(0)
    virtual = rng.normal(0.0, 1.0, size=(5000, 2))
    reference = np.stack([rng.normal(3.0, 2.0, 5000), rng.exponential(1.5, 5000)], axis=1)
    qmap = fit_quantile_map(virtual, reference)
    mapped = qmap.apply(virtual)
    np.testing.assert_allclose(
        np.quantile(mapped, [0.1, 0.5, 0.9], axis=0),
        np.quantile(reference, [0.1, 0.5, 0.9], axis=0),
        rtol=0.03,
        atol=0.03,
    )
    # monotone per channel: the order of samples (and so timing of peaks) is unchanged
    order = np.argsort(virtual, axis=0)
    assert (np.diff(np.take_along_axis(mapped, order, axis=0), axis=0) >= 0).all()
    rec = simulate(pose(60), 30, VirtualImuConfig(sites=("leftwrist",)))
    out = fit_quantile_map(rec.x, rec.x * 2.0).apply_to(rec)
    assert out.t is rec.t and out.channels == rec.channels
    np.testing.assert_allclose(out.x, rec.x * 2.0, atol=1e-4)
    with pytest.raises(SampleError):
        fit_quantile_map(virtual, reference[:, :1])


def test_quantile_map_sends_a_tied_value_to_the_middle_of_its_targets():
    still = np.concatenate([np.zeros(800), np.linspace(-1, 1, 200)])[:, None]  # a gyro that is mostly exactly 0
    reference = np.linspace(-5.0, 5.0, 1000)[:, None]
    mapped = fit_quantile_map(still, reference).apply(np.array([[0.0], [-1.0], [1.0]]))[:, 0]
    assert abs(mapped[0]) < 0.5
    np.testing.assert_allclose(mapped[1:], [-5.0, 5.0], atol=0.01)
