"""Virtual IMU: accelerometer and gyroscope signals simulated from 3-D pose trajectories (the IMUTube role).

MuJo pre-trains on IMU data IMUTube simulated from poses lifted out of fitness videos; this module does the
same job from first principles with numpy/scipy:

    joints [T, J, 3] m at `fps`  ->  smooth (Savitzky-Golay or zero-phase Butterworth, `cutoff_hz`)
      -> per body site: position on a bone, sensor frame R(t) (world <- sensor) from the bone's orientation
      -> accelerometer  f = R^T (p'' - g)       specific force, m/s^2 (Android / MEMS convention: a sensor at rest
                                                reads +9.80665 along whichever of its axes points up; free fall reads 0)
      -> gyroscope      [w]x = R^T dR/dt        angular velocity in the sensor frame, rad/s, right-hand rule
      -> a `Recording` resampled to exactly 50 Hz, so virtual data meets the same windowing code as real data.

World frame: right-handed, metres, `up_axis` (default +z), gravity g = -9.80665 * up.

Default skeleton: the 17-joint Human3.6M order used by VideoPose3D (`h36m_dataset.py` after `remove_joints`),
sides being the subject's own: 0 hip (pelvis), 1 right_hip, 2 right_knee, 3 right_foot (ankle), 4 left_hip,
5 left_knee, 6 left_foot, 7 spine, 8 thorax, 9 neck (neck/nose), 10 head, 11 left_shoulder, 12 left_elbow,
13 left_wrist, 14 right_shoulder, 15 right_elbow, 16 right_wrist; parents (-1 0 1 2 0 4 5 0 7 8 9 8 11 12 8 14 15).

Sensor frames: x along the site's bone (parent -> child), y = unit(x × r) with r the site's reference, z = x × y.
A limb's reference is its neighbouring segment across the hinge (the elbow/knee flexion axis); where that is
nearly parallel to the bone (a straight arm) the frame hands over smoothly to body axes, where every reference
is degenerate the previous frame is carried over with minimal twist, and the frame is low-pass filtered over
time. Left and right use the same formula (not mirror images). Standing in the anatomical pose, every limb
sensor has x down the limb, y to the body's left, z forward; chest and waist have x up, y right, z forward.

Limitations: 17 joints carry no hand, so forearm pronation/supination and wrist flexion are invisible (the
wrist sensor rolls only with the elbow plane); sensors sit on the bone axis (no skin offset or strap wobble);
no sensor noise, bias or saturation is added. `QuantileMap` can match a real dataset's amplitudes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import numpy as np
from scipy.signal import butter, filtfilt, freqz, savgol_coeffs, savgol_filter
from scipy.spatial.transform import Rotation

from mujo_edge.channels import Channel, triaxial
from mujo_edge.config import INTERPOLATIONS, WindowConfig
from mujo_edge.errors import ConfigError, SampleError, UnknownNameError
from mujo_edge.recording import NATIVE_RATE, SOURCE_SAMPLES, Recording
from mujo_edge.resample import resample
from mujo_edge.units import SI_UNITS, STANDARD_GRAVITY

log = logging.getLogger(__name__)

_EPS = 1e-9


@dataclass(frozen=True)
class Skeleton:
    """Joint names in array order and each joint's parent index (-1 for the root)."""

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.joints) != len(self.parents) or len(set(self.joints)) != len(self.joints):
            raise ConfigError(
                f"need distinct joint names, one parent each: {self.joints}, {self.parents}", field="skeleton"
            )
        for i, p in enumerate(self.parents):
            if not -1 <= p < len(self.joints) or p == i:
                raise ConfigError(f"joint '{self.joints[i]}' has parent index {p}", field="skeleton")

    @property
    def n_joints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        if joint not in self.joints:
            raise UnknownNameError(f"joint of skeleton {self.name}", joint, list(self.joints))
        return self.joints.index(joint)

    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) index pairs of every non-root joint."""
        return tuple((p, c) for c, p in enumerate(self.parents) if p >= 0)


H36M_17 = Skeleton(
    name="h36m17",
    joints=(
        "hip",
        "right_hip",
        "right_knee",
        "right_foot",
        "left_hip",
        "left_knee",
        "left_foot",
        "spine",
        "thorax",
        "neck",
        "head",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
    ),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
)

# body axes a site may use as a reference; built from hips, shoulders, pelvis and thorax (see _body_axes)
BODY_AXES = ("forward", "backward", "left", "right", "up", "down")
_BODY_JOINTS = ("hip", "thorax", "left_hip", "right_hip", "left_shoulder", "right_shoulder")


@dataclass(frozen=True)
class Bone:
    """A reference direction: from joint `start` to joint `end`."""

    start: str
    end: str


@dataclass(frozen=True)
class BodySite:
    """Where a virtual sensor sits and how its frame is built.

    placement: the channel placement (`<placement>_acc_x`). parent/child: the bone it is strapped to; x points
    parent -> child. along: position on the bone, 0 = at parent, 1 = at child. references: what fixes the
    sensor's roll about the bone, primary first: a `Bone` or a name in `BODY_AXES`.
    """

    placement: str
    parent: str
    child: str
    along: float
    references: tuple[Bone | str, ...]

    def __post_init__(self) -> None:
        Channel(self.placement, "acc", "x", "m/s^2")  # placement names follow the channel rules
        if not 0.0 <= self.along <= 1.0:
            raise ConfigError(f"site '{self.placement}': along must be in [0, 1], got {self.along}", field="along")
        if not self.references:
            raise ConfigError(f"site '{self.placement}' needs at least one reference", field="references")
        for ref in self.references:
            if isinstance(ref, str) and ref not in BODY_AXES:
                raise UnknownNameError("body axis", ref, list(BODY_AXES))

    def joint_names(self) -> tuple[str, ...]:
        refs = [j for r in self.references if isinstance(r, Bone) for j in (r.start, r.end)]
        return (self.parent, self.child, *refs)


def _arm(side: str, segment: str, along: float) -> BodySite:
    sh, el, wr = f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist"
    if segment == "upperarm":
        return BodySite(f"{side}upperarm", sh, el, along, (Bone(wr, el), "backward", "down"))
    return BodySite(f"{side}{segment}", el, wr, along, (Bone(sh, el), "backward", "down"))


def _leg(side: str, placement: str, thigh: bool) -> BodySite:
    hip, knee, foot = f"{side}_hip", f"{side}_knee", f"{side}_foot"
    if thigh:  # front trouser pocket, a third of the way down the thigh
        return BodySite(placement, hip, knee, 0.35, (Bone(knee, foot), "backward", "down"))
    return BodySite(placement, knee, foot, 0.9, (Bone(knee, hip), "backward", "down"))


# the elbow/knee flexion axis fixes a limb sensor's roll; "backward" then "down" take over for a straight limb
SITES: Mapping[str, BodySite] = MappingProxyType(
    {
        s.placement: s
        for s in (
            _arm("left", "wrist", 0.9),
            _arm("right", "wrist", 0.9),
            _arm("left", "forearm", 0.5),
            _arm("right", "forearm", 0.5),
            _arm("left", "upperarm", 0.5),
            _arm("right", "upperarm", 0.5),
            BodySite("chest", "spine", "thorax", 0.8, ("backward", "down")),
            BodySite("waist", "hip", "spine", 0.0, ("backward", "down")),
            _leg("right", "pocket", thigh=True),
            _leg("left", "leftpocket", thigh=True),
            _leg("left", "leftankle", thigh=False),
            _leg("right", "rightankle", thigh=False),
        )
    }
)

SMOOTHERS = ("savgol", "butterworth")
SENSORS = ("acc", "gyro")


def get_site(name: str) -> BodySite:
    """A predefined site by name (see `SITES`)."""
    if name not in SITES:
        raise UnknownNameError("body site", name, list(SITES))
    return SITES[name]


@dataclass(frozen=True)
class VirtualImuConfig:
    """How poses become virtual IMU signals.

    sites: names in `SITES` or `BodySite`s. sensors: "acc" and/or "gyro". cutoff_hz: low-pass cut-off of the
    pose smoothing; capped at `max_cutoff_fraction` × fps so low frame rates still work, and kept below the
    output Nyquist so resampling cannot alias. smoother: "savgol" (cubic Savitzky-Golay, window chosen so its
    -3 dB point is at the cut-off; exact for cubic motion up to the edges) or "butterworth" (2nd order run
    forwards and backwards, on the residual of a best-fit quadratic so constant acceleration passes exactly).
    min_fps / min_frames: shortest input accepted. handover: sin(angle) band between bone and reference over
    which a reference hands over to the next one. smooth_frames: low-pass the sensor frame over time too.
    """

    sites: tuple[str | BodySite, ...] = ("leftwrist", "rightwrist")
    sensors: tuple[str, ...] = SENSORS
    cutoff_hz: float = 8.0
    smoother: str = "savgol"
    output_rate_hz: float = 50.0
    interpolation: str = "linear"
    up_axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    min_fps: float = 10.0
    min_frames: int = 10
    max_cutoff_fraction: float = 0.4
    handover: tuple[float, float] = (0.1, 0.35)
    smooth_frames: bool = True

    def __post_init__(self) -> None:
        placements = [s.placement for s in self.body_sites()]
        if not placements or len(set(placements)) != len(placements):
            raise ConfigError(f"need distinct sites, got {placements}", field="sites")
        if not self.sensors or len(set(self.sensors)) != len(self.sensors) or not set(self.sensors) <= set(SENSORS):
            raise ConfigError(f"must be distinct entries of {SENSORS}, got {self.sensors}", field="sensors")
        if self.smoother not in SMOOTHERS:
            raise ConfigError(f"must be one of {SMOOTHERS}, got {self.smoother!r}", field="smoother")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"must be one of {INTERPOLATIONS}, got {self.interpolation!r}", field="interpolation")
        if not 0 < self.cutoff_hz < self.output_rate_hz / 2:
            raise ConfigError(f"must be in (0, {self.output_rate_hz / 2}) Hz, got {self.cutoff_hz}", field="cutoff_hz")
        if not 0 < self.max_cutoff_fraction < 0.5:
            raise ConfigError(f"must be in (0, 0.5), got {self.max_cutoff_fraction}", field="max_cutoff_fraction")
        if not self.min_fps > 0 or self.min_frames < 3:
            raise ConfigError("min_fps must be > 0 and min_frames >= 3", field="min_fps")
        if len(self.up_axis) != 3 or abs(float(np.linalg.norm(self.up_axis)) - 1.0) > 1e-6:
            raise ConfigError(f"must be a unit 3-vector, got {self.up_axis}", field="up_axis")
        if not 0 < self.handover[0] < self.handover[1] <= 1:
            raise ConfigError(f"must satisfy 0 < low < high <= 1, got {self.handover}", field="handover")

    def body_sites(self) -> tuple[BodySite, ...]:
        return tuple(s if isinstance(s, BodySite) else get_site(s) for s in self.sites)

    def channels(self) -> tuple[Channel, ...]:
        """Output channels: per site, per sensor, x y z (the column order of `simulate`)."""
        return tuple(c for s in self.body_sites() for k in self.sensors for c in triaxial(s.placement, k, SI_UNITS[k]))


@dataclass(frozen=True, eq=False)
class VirtualImu:
    """Signals at the pose frame rate, before resampling. S = number of sites."""

    t: np.ndarray  # [T] s
    acc: np.ndarray  # [T, S, 3] m/s^2, specific force in the sensor frame
    gyro: np.ndarray  # [T, S, 3] rad/s, sensor frame
    rotation: np.ndarray  # [T, S, 3, 3] world <- sensor (columns are the sensor axes in world coordinates)
    position: np.ndarray  # [T, S, 3] m, world
    sites: tuple[BodySite, ...]
    cutoff_hz: float  # the cut-off actually used at this frame rate


def simulate_native(
    joints: np.ndarray,
    fps: float,
    config: VirtualImuConfig = VirtualImuConfig(),
    *,
    skeleton: Skeleton = H36M_17,
    source: str = "virtual",
) -> VirtualImu:
    """Virtual IMU at every site of `config`, at the pose frame rate. `joints` [T, J, 3] m, `fps` Hz."""
    x = _validate_joints(joints, skeleton, source)
    fps = float(fps)
    if not np.isfinite(fps) or fps < config.min_fps:
        raise ConfigError(f"must be a frame rate >= {config.min_fps:g} Hz, got {fps}", field="fps")
    sites = config.body_sites()
    for site in sites:
        for j in site.joint_names():
            if j not in skeleton.joints:
                raise ConfigError(
                    f"site '{site.placement}' needs joint '{j}', which skeleton '{skeleton.name}' lacks", field="sites"
                )
    cutoff = min(config.cutoff_hz, config.max_cutoff_fraction * fps)
    if cutoff < config.cutoff_hz:
        log.debug("%s: cut-off lowered to %.2f Hz for %g fps", source, cutoff, fps)
    smooth = _Smoother(config.smoother, fps, cutoff)
    need = max(config.min_frames, smooth.min_frames)
    if x.shape[0] < need:
        raise SampleError(
            f"{x.shape[0]} frames; need at least {need} ({need / fps:.2f} s at {fps:g} fps)",
            path=source,
            field="joints",
        )
    pos, acc_j = smooth(x, 0), smooth(x, 2)
    gravity = -STANDARD_GRAVITY * np.asarray(config.up_axis, dtype=np.float64)
    axes = _body_axes(pos, skeleton) if any(isinstance(r, str) for s in sites for r in s.references) else {}
    rots, p_site, a_site = [], [], []
    for site in sites:
        p, c, w = skeleton.index(site.parent), skeleton.index(site.child), site.along
        rots.append(_site_frame(pos, site, skeleton, axes, config, smooth, source))
        p_site.append((1 - w) * pos[:, p] + w * pos[:, c])
        a_site.append((1 - w) * acc_j[:, p] + w * acc_j[:, c])
    rot = np.stack(rots, axis=1)
    acc = np.einsum("tsji,tsj->tsi", rot, np.stack(a_site, axis=1) - gravity)  # R^T (p'' - g)
    return VirtualImu(
        t=np.arange(x.shape[0]) / fps,
        acc=acc,
        gyro=_angular_velocity(rot, fps),
        rotation=rot,
        position=np.stack(p_site, axis=1),
        sites=sites,
        cutoff_hz=cutoff,
    )


def simulate(
    joints: np.ndarray,
    fps: float,
    config: VirtualImuConfig = VirtualImuConfig(),
    *,
    skeleton: Skeleton = H36M_17,
    subject: str = "virtual",
    source: str = "virtual",
    recording_id: str | None = None,
    label: str | None = None,
    t0: float = 0.0,
) -> Recording:
    """Virtual IMU as a `Recording` on an exact `config.output_rate_hz` grid (channels: `config.channels()`).

    `label`, if given, becomes the single class and labels every sample.
    """
    v = simulate_native(joints, fps, config, skeleton=skeleton, source=source)
    signals = {"acc": v.acc, "gyro": v.gyro}
    x = np.concatenate([signals[k][:, i] for i in range(len(v.sites)) for k in config.sensors], axis=1)
    n = x.shape[0]
    rec = Recording.create(
        t0 + v.t,
        x,
        config.channels(),
        subject=subject,
        source=source,
        recording_id=recording_id,
        classes=() if label is None else (label,),
        labels=None if label is None else np.zeros(n, dtype=np.int16),
        meta={
            NATIVE_RATE: f"{float(fps):g}",
            SOURCE_SAMPLES: str(n),
            "virtual_imu": skeleton.name,
            "cutoff_hz": f"{v.cutoff_hz:g}",
        },
    )
    # a gap check tuned for sensors would flag slow video frame rates; pose frames are never missing here
    window = WindowConfig(
        rate_hz=config.output_rate_hz, max_gap_s=max(0.25, 2.0 / fps), interpolation=config.interpolation
    )
    return resample(rec, window)


# --- quantile mapping -------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class QuantileMap:
    """Per-channel monotone map from virtual to real value distributions.

    It changes each channel's scale and shape (amplitudes, asymmetry, tails), never timing: sample k stays
    sample k and the order of values within a channel is preserved. Values outside the fitted range clamp to
    the reference's extremes. Fit it on the whole virtual corpus, not per recording, or a quiet recording would
    be stretched to the full range of the reference.
    """

    source: np.ndarray  # [Q, C] quantiles of the virtual data
    target: np.ndarray  # [Q, C] quantiles of the reference data

    def apply(self, x: np.ndarray) -> np.ndarray:
        """`x` [N, C] -> [N, C] float32; NaN stays NaN."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.source.shape[1]:
            raise SampleError(f"samples have shape {x.shape}, expected [N, {self.source.shape[1]}]")
        out = np.empty_like(x)
        for c in range(x.shape[1]):
            out[:, c] = np.interp(x[:, c], self.source[:, c], self.target[:, c])
        out[np.isnan(x)] = np.nan
        return out.astype(np.float32)

    def apply_to(self, recording: Recording) -> Recording:
        """The recording with every channel mapped (channel order must match the fitted arrays)."""
        return Recording(
            t=recording.t,
            x=self.apply(recording.x),
            channels=recording.channels,
            subject=recording.subject,
            classes=recording.classes,
            labels=recording.labels,
            source=recording.source,
            recording_id=recording.recording_id,
            valid=recording.valid,
            meta=MappingProxyType({**recording.meta, "quantile_mapped": "true"}),
        )


def fit_quantile_map(virtual: np.ndarray, reference: np.ndarray, n_quantiles: int = 201) -> QuantileMap:
    """Fit a `QuantileMap` from virtual samples [M, C] to real reference samples [N, C] (rows with NaN ignored)."""
    v, r = np.asarray(virtual, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if n_quantiles < 2:
        raise ConfigError(f"must be >= 2, got {n_quantiles}", field="n_quantiles")
    if v.ndim != 2 or r.ndim != 2 or v.shape[1] != r.shape[1]:
        raise SampleError(f"virtual {v.shape} and reference {r.shape} must both be [N, C] with the same C")
    v, r = v[np.isfinite(v).all(axis=1)], r[np.isfinite(r).all(axis=1)]
    if min(len(v), len(r)) < 2:
        raise SampleError(f"need at least 2 finite rows each, got {len(v)} virtual and {len(r)} reference")
    q = np.linspace(0.0, 1.0, n_quantiles)
    src, dst = np.quantile(v, q, axis=0), np.quantile(r, q, axis=0)
    # a channel that is often exactly 0 (a still gyro) repeats knots: the tied value maps to the mean of its
    # targets, and a tiny ramp keeps the knots increasing for np.interp
    for c in range(src.shape[1]):
        inverse = np.unique(src[:, c], return_inverse=True)[1].ravel()
        dst[:, c] = (np.bincount(inverse, dst[:, c]) / np.bincount(inverse))[inverse]
    src = src + np.linspace(0.0, 1e-9, n_quantiles)[:, None] * np.maximum(src[-1] - src[0], 1.0)
    return QuantileMap(source=src, target=dst)


# --- internals --------------------------------------------------------------------------------------------
def _validate_joints(joints: np.ndarray, skeleton: Skeleton, source: str) -> np.ndarray:
    x = np.asarray(joints, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != 3:
        raise SampleError(
            f"joints have shape {x.shape}, expected [T, {skeleton.n_joints}, 3]", path=source, field="joints"
        )
    if x.shape[1] != skeleton.n_joints:
        raise SampleError(
            f"joints have {x.shape[1]} joints per frame but skeleton '{skeleton.name}' has "
            f"{skeleton.n_joints} ({', '.join(skeleton.joints)})",
            path=source,
            field="joints",
        )
    bad = ~np.all(np.isfinite(x), axis=2)
    if bad.any():
        frame, joint = (int(i[0]) for i in np.nonzero(bad))
        raise SampleError(
            f"non-finite position at frame {frame} ({int(bad.any(axis=1).sum())} such frames)",
            path=source,
            field=skeleton.joints[joint],
        )
    return x


@dataclass(frozen=True)
class _Smoother:
    """Zero-phase low-pass of positions and their time derivatives along axis 0."""

    kind: str
    fps: float
    cutoff_hz: float

    @property
    def window(self) -> int:
        return _savgol_window(self.fps, self.cutoff_hz) if self.kind == "savgol" else 0

    @property
    def min_frames(self) -> int:
        return self.window if self.kind == "savgol" else 16  # filtfilt pads 15 samples for a 2nd-order filter

    def __call__(self, x: np.ndarray, deriv: int) -> np.ndarray:
        dt = 1.0 / self.fps
        if self.kind == "savgol":
            return savgol_filter(x, self.window, 3, deriv=deriv, delta=dt, axis=0, mode="interp")
        flat = x.reshape(x.shape[0], -1)
        tn = np.linspace(-1.0, 1.0, x.shape[0])
        trend = np.polynomial.polynomial.polyvander(tn, 2) @ np.polynomial.polynomial.polyfit(tn, flat, 2)
        b, a = butter(2, self.cutoff_hz / (self.fps / 2))
        y = (filtfilt(b, a, flat - trend, axis=0) + trend).reshape(x.shape)
        for _ in range(deriv):
            y = np.gradient(y, dt, axis=0, edge_order=2)
        return y


@lru_cache(maxsize=128)
def _savgol_window(fps: float, cutoff_hz: float) -> int:
    """Shortest odd window whose cubic Savitzky-Golay gain at `cutoff_hz` is at most -3 dB."""
    w = np.array([2 * np.pi * cutoff_hz / fps])
    for n in range(5, 2 * int(10 * fps) + 7, 2):
        if abs(freqz(savgol_coeffs(n, 3), worN=w)[1][0]) <= 2**-0.5:
            return n
    return n


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), _EPS)


def _body_axes(pos: np.ndarray, skeleton: Skeleton) -> dict[str, np.ndarray]:
    """Body right/up/forward [T, 3] from hips, shoulders, pelvis and thorax (names as in `H36M_17`)."""
    missing = [j for j in _BODY_JOINTS if j not in skeleton.joints]
    if missing:
        raise ConfigError(
            f"body axes need joints {missing}, which skeleton '{skeleton.name}' lacks; use Bone references only",
            field="references",
        )
    j = {n: pos[:, skeleton.index(n)] for n in _BODY_JOINTS}
    # hips and shoulders together: either pair alone twists with the pelvis or the shoulder girdle
    right = _unit(j["right_hip"] - j["left_hip"] + j["right_shoulder"] - j["left_shoulder"])
    up = j["thorax"] - j["hip"]
    up = _unit(up - np.sum(up * right, axis=-1, keepdims=True) * right)
    forward = np.cross(up, right)
    return {"right": right, "left": -right, "up": up, "down": -up, "forward": forward, "backward": -forward}


def _site_frame(
    pos: np.ndarray,
    site: BodySite,
    skeleton: Skeleton,
    axes: dict[str, np.ndarray],
    config: VirtualImuConfig,
    smooth: _Smoother,
    source: str,
) -> np.ndarray:
    """World <- sensor rotations [T, 3, 3] for one site."""
    bone = pos[:, skeleton.index(site.child)] - pos[:, skeleton.index(site.parent)]
    length = np.linalg.norm(bone, axis=-1)
    if (length < 1e-6).any():
        raise SampleError(
            f"bone {site.parent}->{site.child} has zero length at frame {int(np.argmin(length))}",
            path=source,
            field=site.child,
        )
    x = bone / length[:, None]
    cands, conf = [], []
    for ref in site.references:
        r = axes[ref] if isinstance(ref, str) else pos[:, skeleton.index(ref.end)] - pos[:, skeleton.index(ref.start)]
        c = np.cross(x, r)
        n = np.linalg.norm(c, axis=-1)
        cands.append(c / np.maximum(n, _EPS)[:, None])
        conf.append(n / np.maximum(np.linalg.norm(r, axis=-1), _EPS))  # sin(angle between bone and reference)
    lo, hi = config.handover
    weights, rest = [], np.ones(len(x))
    for s in conf:  # priority blend: each reference takes what the ones before it left over
        u = np.clip((s - lo) / (hi - lo), 0.0, 1.0)
        w = rest * u * u * (3 - 2 * u)
        weights.append(w)
        rest -= w
    y = _blend(x, np.stack(cands), np.stack(weights), rest)
    if config.smooth_frames:
        y = smooth(y, 0)
    y = _unit(y - np.sum(y * x, axis=-1, keepdims=True) * x)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _any_perpendicular(x: np.ndarray) -> np.ndarray:
    helper = np.array([1.0, 0.0, 0.0]) if abs(x[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    return _unit(np.cross(x, helper))


def _blend(x: np.ndarray, cands: np.ndarray, weights: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """y [T, 3] ⟂ x: weighted references, the rest of the weight on the previous y carried to the new bone.

    Every candidate takes the sign nearer the carried frame: a flexion axis reverses when a limb passes
    through straight (hyperextension, pose noise) and fallbacks reverse over the head, and following either
    would flip the sensor by 180 degrees within a frame or two. The first frame sets the sign.
    """
    first = [k for k in range(len(cands)) if weights[k, 0] > 0]
    prev = cands[first[0], 0] if first else _any_perpendicular(x[0])
    y = np.empty_like(x)
    for t in range(len(x)):
        carried = prev - (prev @ x[t]) * x[t]
        n = np.linalg.norm(carried)
        carried = carried / n if n > 1e-6 else _any_perpendicular(x[t])
        v = rest[t] * carried
        for k in range(len(cands)):
            if weights[k, t] > 0:
                c = cands[k, t]
                v = v + weights[k, t] * (-c if c @ carried < 0 else c)
        n = np.linalg.norm(v)
        y[t] = v / n if n > 1e-6 else carried
        prev = y[t]
    return y


def _angular_velocity(rot: np.ndarray, fps: float) -> np.ndarray:
    """Sensor-frame angular velocity [T, S, 3] rad/s from rotations [T, S, 3, 3] (world <- sensor)."""
    rel = np.einsum("tsji,tsjk->tsik", rot[:-1], rot[1:])  # R_t^T R_{t+1} = exp(dt [w]x) in the sensor frame
    w = Rotation.from_matrix(rel.reshape(-1, 3, 3)).as_rotvec().reshape(*rel.shape[:2], 3) * fps
    out = np.empty(rot.shape[:3])
    out[1:-1] = 0.5 * (w[:-1] + w[1:])  # each frame sits between two intervals
    out[0], out[-1] = w[0], w[-1]
    return out
