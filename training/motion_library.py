"""Procedurally animated 3-D pose sequences of exercises and daily activities, with text descriptions.

The paper's pre-training set (FiMAD) pairs poses, virtual IMU and text taken from YouTube fitness videos. This
machine has no video or pose dataset and downloads nothing, so this module writes such motions itself: a small
kinematic skeleton (17 joints in the Human3.6M / VideoPose3D order of `virtual_imu.H36M_17`) is animated by
hand-written joint-angle and inverse-kinematics recipes, one per motion family, with every sample randomised:
body height 1.5-2.0 m and segment proportions (+-3 %), tempo, amplitude, which arm(s), heading (yaw), a
position on the floor, slow postural sway, small angular tremor and rest pauses between repetitions. Each
family carries 2-4 natural-language descriptions; one is picked per sample as its text. Through
`virtual_imu.simulate` a sample becomes a (pose, virtual IMU, text) triple.

What this can represent: the gross kinematics of each movement (which segments move, through which ranges,
in which planes, at what tempo and rhythm), its variation across body sizes, orientations and sides, and
physically consistent virtual IMU signals for it (the bones are rigid and the poses are smooth).

What it cannot: real human movement. There is no dynamics, balance, muscle synergy or individual style; no
contact forces (heel strikes are kinks in a ground constraint, feet may slide); no hands, so grip and forearm
rotation do not exist; no equipment, fatigue, mistakes or transitions between activities; no pose-estimation
noise (tremor is added to joint angles only, so bones stay rigid). The families and their parameter ranges are
the author's guesses, not fitted to measurements. Models pre-trained on it learn what these recipes contain.

It never uses any target dataset: nothing here reads a file, and no recipe was tuned on recorded data.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from mujo_edge.errors import ConfigError, UnknownNameError
from mujo_edge.training import motion_families as mf
from mujo_edge.training.motion_families import SIDES, SIGN, MotionFamily, limb, rot_z, two_link, wobble
from mujo_edge.training.virtual_imu import H36M_17

SKELETON = H36M_17
_J = {name: i for i, name in enumerate(SKELETON.joints)}

# segment lengths as fractions of body height (after Drillis & Contini / Winter's anthropometric tables)
_PROPORTIONS = {
    "hip_half": 0.05,
    "thigh": 0.245,
    "shank": 0.246,
    "ankle": 0.039,
    "pelvis_spine": 0.12,
    "spine_thorax": 0.15,
    "thorax_neck": 0.08,
    "neck_head": 0.08,
    "shoulder_half": 0.12,
    "shoulder_drop": 0.01,
    "upper_arm": 0.186,
    "forearm": 0.146,
}
_ARMS = {"both": "both arms", "left": "the left arm", "right": "the right arm", "alternating": "alternating arms"}
_LEGS = {"both": "both legs", "left": "the left leg", "right": "the right leg", "alternating": "alternating legs"}

# the registry: texts use {arms} / {legs}, filled from the sample's side ("both arms", "the left arm", ...)
FAMILIES: tuple[MotionFamily, ...] = (
    MotionFamily(
        "lateral_raise",
        "exercise",
        (
            "slowly raise {arms} sideways to shoulder height and lower them again",
            "lateral raises: lift {arms} out to the side until level with the shoulders, then lower",
            "side raises with light dumbbells, arms almost straight, up to shoulder height and back down",
        ),
        (0.3, 0.7),
        mf.lateral_raise,
    ),
    MotionFamily(
        "frontal_raise",
        "exercise",
        (
            "raise {arms} straight out in front to shoulder height and lower them",
            "front raises: lift {arms} forward up to eye level, then slowly back down",
        ),
        (0.3, 0.7),
        mf.frontal_raise,
    ),
    MotionFamily(
        "shoulder_abduction",
        "exercise",
        (
            "lift {arms} out to the side and up above the head as far as comfortable, then lower slowly",
            "shoulder abduction exercise moving {arms} sideways overhead and back down to the side",
        ),
        (0.3, 0.5),
        mf.shoulder_abduction,
    ),
    MotionFamily(
        "forward_elevation",
        "exercise",
        (
            "raise {arms} forward and all the way up overhead, then lower back down",
            "shoulder flexion: lift {arms} in front of the body up above the head and return",
        ),
        (0.3, 0.5),
        mf.forward_elevation,
    ),
    MotionFamily(
        "external_rotation",
        "exercise",
        (
            "external shoulder rotation with {arms}: elbow bent at 90 degrees, turn the forearm outward and back",
            "with the elbow bent to a right angle, rotate the hand away from the body like opening a door, then return",
        ),
        (0.3, 0.8),
        mf.external_rotation,
    ),
    MotionFamily(
        "internal_rotation",
        "exercise",
        (
            "internal shoulder rotation with {arms}: elbow tucked at the side, pull the hand in toward the stomach",
            "with the elbow bent at 90 degrees close to the body, rotate the forearm inward across the belly and back",
        ),
        (0.3, 0.8),
        mf.internal_rotation,
    ),
    MotionFamily(
        "pendulum_swing",
        "exercise",
        (
            "pendulum exercise: lean forward on one hand and let {arms} hang and swing gently",
            "Codman pendulum: bend over, let the arm dangle loosely and swing it in small circles or back and forth",
        ),
        (0.5, 1.0),
        mf.pendulum_swing,
    ),
    MotionFamily(
        "bicep_curl",
        "exercise",
        (
            "bicep curls with {arms}: bend the elbows to bring the dumbbells up to the shoulders, then lower",
            "curl the weights up with palms facing up, keeping the upper arms still at the sides",
        ),
        (0.4, 1.0),
        mf.bicep_curl,
    ),
    MotionFamily(
        "hammer_curl",
        "exercise",
        (
            "hammer curls with {arms}, thumbs up, lifting the dumbbells toward the shoulders and lowering",
            "neutral-grip curls, bringing the hand up toward the chest with the palm facing inward",
        ),
        (0.4, 1.0),
        mf.hammer_curl,
    ),
    MotionFamily(
        "overhead_press",
        "exercise",
        (
            "overhead press: push {arms} from the shoulders straight up until extended, then lower",
            "shoulder press, pressing the dumbbells above the head and bringing them back to shoulder height",
        ),
        (0.3, 0.8),
        mf.overhead_press,
    ),
    MotionFamily(
        "bent_over_row",
        "exercise",
        (
            "bent-over rows: hinge forward at the hips and pull {arms} up to the ribs, then lower",
            "bent over with a flat back, row the dumbbells up toward the hips and let them hang again",
        ),
        (0.4, 0.9),
        mf.bent_over_row,
    ),
    MotionFamily(
        "upright_row",
        "exercise",
        (
            "upright rows: pull the bar straight up along the body to chest height with the elbows high",
            "lift the weight from the thighs up to the chin, elbows pointing out, and lower it again",
        ),
        (0.4, 0.9),
        mf.upright_row,
    ),
    MotionFamily(
        "triceps_extension",
        "exercise",
        (
            "overhead triceps extension with {arms}: lower the weight behind the head, then straighten the elbows",
            "triceps extensions with the upper arms still beside the ears, bending and extending the elbows",
        ),
        (0.4, 0.9),
        mf.triceps_extension,
    ),
    MotionFamily(
        "chest_fly",
        "exercise",
        (
            "chest fly: arms spread wide with elbows slightly bent, bring the hands together in front and open again",
            "standing fly, sweeping both arms in a wide horizontal arc until the hands meet",
        ),
        (0.3, 0.7),
        mf.chest_fly,
    ),
    MotionFamily(
        "arm_circles",
        "exercise",
        (
            "arm circles: hold both arms out to the sides at shoulder height and draw circles",
            "rotate the outstretched arms in circles beside the body",
        ),
        (0.5, 1.2),
        mf.arm_circles,
    ),
    MotionFamily(
        "push_up",
        "exercise",
        (
            "push-ups: lower the chest toward the floor by bending the elbows and push back up, body straight",
            "push-ups in a plank position with the hands under the shoulders",
        ),
        (0.4, 0.9),
        mf.push_up,
    ),
    MotionFamily(
        "squat",
        "exercise",
        (
            "bodyweight squats: bend the knees and hips to sit back and down, then stand up",
            "squat down until the thighs are about parallel to the floor and rise again",
        ),
        (0.3, 0.7),
        mf.squat,
    ),
    MotionFamily(
        "lunge",
        "exercise",
        (
            "lunges: step forward, lower the back knee toward the floor and push back to standing",
            "forward lunges, stepping out with {legs} and bending both knees",
        ),
        (0.3, 0.6),
        mf.lunge,
    ),
    MotionFamily(
        "jumping_jacks",
        "exercise",
        (
            "jumping jacks: jump the feet apart while swinging the arms overhead, then jump back together",
            "star jumps, bringing the hands together above the head on every jump",
        ),
        (0.6, 1.0),
        mf.jumping_jacks,
    ),
    MotionFamily(
        "walking",
        "daily",
        (
            "walking at a comfortable pace with the arms swinging naturally",
            "a person walks forward steadily",
            "walking in a straight line",
        ),
        (0.8, 1.0),
        mf.walking,
    ),
    MotionFamily(
        "running",
        "exercise",
        ("running at a steady pace with the bent arms pumping", "jogging forward", "a person runs"),
        (1.25, 1.5),
        mf.running,
    ),
    MotionFamily(
        "standing_still",
        "daily",
        (
            "standing still with the arms relaxed",
            "a person stands quietly, barely moving",
            "resting between sets, standing",
        ),
        (0.3, 0.3),
        mf.standing_still,
    ),
    MotionFamily(
        "sitting",
        "daily",
        (
            "sitting on a chair with the hands resting on the thighs",
            "sitting still, shifting slightly now and then",
            "a seated person resting",
        ),
        (0.3, 0.3),
        mf.sitting,
    ),
    MotionFamily(
        "waving",
        "daily",
        ("waving hello with {arms} raised", "waving goodbye, the hand above the shoulder moving side to side"),
        (1.0, 1.5),
        mf.waving,
    ),
    MotionFamily(
        "drinking",
        "daily",
        (
            "drinking from a cup: bring the hand up to the mouth, sip, and put the cup down",
            "a person takes a drink from a glass held in {arms}",
        ),
        (0.3, 0.5),
        mf.drinking,
    ),
)
MOTIONS: Mapping[str, MotionFamily] = MappingProxyType({f.name: f for f in FAMILIES})


@dataclass(frozen=True)
class Body:
    """Segment lengths in metres (x right, y forward, z up in the body frame)."""

    height: float
    hip_half: float
    thigh: float
    shank: float
    ankle: float
    pelvis_spine: float
    spine_thorax: float
    thorax_neck: float
    neck_head: float
    shoulder_half: float
    shoulder_drop: float
    upper_arm: float
    forearm: float

    @classmethod
    def random(cls, rng: np.random.Generator, height_m: tuple[float, float] = (1.5, 2.0)) -> Body:
        h = float(rng.uniform(*height_m))
        jitter = rng.uniform(0.97, 1.03, len(_PROPORTIONS))
        return cls(height=h, **{k: h * f * j for (k, f), j in zip(_PROPORTIONS.items(), jitter)})

    @property
    def leg(self) -> float:
        return self.thigh + self.shank

    @property
    def arm(self) -> float:
        return self.upper_arm + self.forearm


def _apply(rot: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors: rot [T, 3, 3] with v [3] or [T, 3] -> [T, 3]."""
    return np.einsum("tij,tj->ti", rot, np.broadcast_to(v, (rot.shape[0], 3)))


class Rig:
    """Kinematic state of one sample, filled in by a motion family and turned into joints by `assemble`.

    root [T, 3] pelvis centre and pelvis [T, 3, 3] (body <- pelvis) in the body frame; torso [T, 3, 3]
    (pelvis <- torso). arms[side] = (upper, fore) unit directions [T, 3] in the torso frame; legs[side] =
    (thigh, shank) in the pelvis frame. hands[side] = (offset of the hand from the shoulder [T, 3] m, elbow hint
    [3]) and feet[side] = (ankle target [T, 3] m, knee hint [3]), both in the body frame, override the angles
    through two-link IK. grounded: shift each frame so the lower ankle is at ankle height; hop [T] m is added.
    """

    def __init__(self, body: Body, n_frames: int, fps: float) -> None:
        self.body, self.T, self.fps = body, n_frames, fps
        self.t = np.arange(n_frames) / fps
        self.root = np.tile([0.0, 0.0, body.ankle + body.leg * 0.998], (n_frames, 1))
        self.pelvis = np.tile(np.eye(3), (n_frames, 1, 1))
        self.torso = np.tile(np.eye(3), (n_frames, 1, 1))
        self.arms = {s: limb(n_frames, s, 0.06, 0.3, 0.15) for s in SIDES}
        self.legs = {s: limb(n_frames, s, 0.0, 0.0, 0.02, knee=True) for s in SIDES}
        self.hands: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.feet: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.grounded, self.sway = True, True
        self.hop = np.zeros(n_frames)

    def _thorax(self, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = self.body
        spine = root + _apply(self.pelvis, np.array([0.0, 0.0, b.pelvis_spine]))
        return spine, spine + _apply(self.pelvis @ self.torso, np.array([0.0, 0.0, b.spine_thorax]))

    def shoulders(self, root: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Shoulder positions [T, 3] in the body frame, before grounding (for placing hand targets)."""
        b, rt = self.body, self.pelvis @ self.torso
        thorax = self._thorax(self.root if root is None else root)[1]
        return {s: thorax + _apply(rt, np.array([SIGN[s] * b.shoulder_half, 0.0, -b.shoulder_drop])) for s in SIDES}

    def assemble(self, rng: np.random.Generator, tremor: float = 0.0, sway: float = 0.0) -> np.ndarray:
        """Joints [T, 17, 3] m in the body frame. `tremor`: rad of arm jitter; `sway`: m of root drift."""
        b, t = self.body, self.t
        root = self.root.copy()
        if self.sway and sway > 0:
            root[:, :2] += sway * np.stack([wobble(rng, t, 0.2), wobble(rng, t, 0.15)], -1)
        rp, rt = self.pelvis, self.pelvis @ self.torso

        def shake(v: np.ndarray) -> np.ndarray:  # jitter in angle, so the bone keeps its length
            noisy = v + tremor * np.stack([wobble(rng, t, 6.0) for _ in range(3)], -1)
            return noisy / np.linalg.norm(noisy, axis=-1, keepdims=True)

        joints = np.zeros((self.T, SKELETON.n_joints, 3))
        joints[:, _J["hip"]] = root
        for side in SIDES:
            hip = root + _apply(rp, np.array([SIGN[side] * b.hip_half, 0.0, 0.0]))
            if side in self.feet:
                target, hint = self.feet[side]
                knee, foot = two_link(hip, target, b.thigh, b.shank, _apply(rp, hint))
            else:
                thigh, shank = self.legs[side]
                knee = hip + b.thigh * _apply(rp, thigh)
                foot = knee + b.shank * _apply(rp, shank)
            joints[:, _J[f"{side}_hip"]], joints[:, _J[f"{side}_knee"]], joints[:, _J[f"{side}_foot"]] = hip, knee, foot
        spine, thorax = self._thorax(root)
        neck = thorax + _apply(rt, np.array([0.0, 0.25, 0.97]) * b.thorax_neck)
        joints[:, _J["spine"]], joints[:, _J["thorax"]], joints[:, _J["neck"]] = spine, thorax, neck
        joints[:, _J["head"]] = neck + _apply(rt, np.array([0.0, -0.1, 0.995]) * b.neck_head)
        for side, shoulder in self.shoulders(root).items():
            if side in self.hands:
                offset, hint = self.hands[side]
                jitter = tremor * b.arm * np.stack([wobble(rng, t, 6.0) for _ in range(3)], -1)
                elbow, wrist = two_link(shoulder, shoulder + offset + jitter, b.upper_arm, b.forearm, hint)
            else:
                upper, fore = self.arms[side]
                elbow = shoulder + b.upper_arm * _apply(rt, shake(upper))
                wrist = elbow + b.forearm * _apply(rt, shake(fore))
            joints[:, _J[f"{side}_shoulder"]], joints[:, _J[f"{side}_elbow"]] = shoulder, elbow
            joints[:, _J[f"{side}_wrist"]] = wrist
        if self.grounded:
            lowest = np.minimum(joints[:, _J["left_foot"], 2], joints[:, _J["right_foot"], 2])
            joints[..., 2] += (b.ankle - lowest)[:, None]
        joints[..., 2] += self.hop[:, None]
        return joints


@dataclass(frozen=True, eq=False)
class MotionSample:
    """One generated sequence. joints [T, 17, 3] float32 m, world frame with +z up, `SKELETON` joint order."""

    joints: np.ndarray
    fps: float
    name: str
    text: str
    params: Mapping[str, Any]

    @property
    def n_frames(self) -> int:
        return int(self.joints.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps


def get_motion(name: str) -> MotionFamily:
    if name not in MOTIONS:
        raise UnknownNameError("motion family", name, list(MOTIONS))
    return MOTIONS[name]


def generate(name: str, duration_s: float, fps: float, rng: np.random.Generator) -> MotionSample:
    """One randomised sample of motion family `name`, `duration_s` long at `fps`; deterministic given `rng`."""
    family = get_motion(name)
    if not (np.isfinite(fps) and fps > 0):
        raise ConfigError(f"must be > 0, got {fps}", field="fps")
    n_frames = round(duration_s * fps) if np.isfinite(duration_s) else 0
    if n_frames < 2:
        raise ConfigError(f"{duration_s} s at {fps} fps gives {n_frames} frames; need at least 2", field="duration_s")
    body = Body.random(rng)
    rig = Rig(body, n_frames, float(fps))
    params = family.animate(rig, rng, float(rng.uniform(*family.tempo_hz)))
    tremor, sway = float(rng.uniform(0.002, 0.01)), float(rng.uniform(0.003, 0.015))
    joints = rig.assemble(rng, tremor, sway)
    yaw, (dx, dy) = float(rng.uniform(-np.pi, np.pi)), rng.uniform(-2.0, 2.0, 2)
    joints = joints @ rot_z(np.array([yaw]))[0].T + np.array([dx, dy, 0.0])
    side = str(params.get("side", "both"))
    text = str(rng.choice(family.texts)).format(arms=_ARMS[side], legs=_LEGS[side])
    meta = {
        "kind": family.kind,
        "height_m": body.height,
        "yaw_rad": yaw,
        "tremor_rad": tremor,
        "sway_m": sway,
        **{k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()},
    }  # JSON-ready scalars
    return MotionSample(
        joints=joints.astype(np.float32), fps=float(fps), name=name, text=text, params=MappingProxyType(meta)
    )


def generate_corpus_sequences(
    n_per_motion: int, duration_s: float, seed: int, *, fps: float = 30.0, names: Sequence[str] | None = None
) -> Iterator[MotionSample]:
    """`n_per_motion` samples of every family (or of `names`), in registry order.

    Sample i of family f is drawn from its own stream seeded by (seed, crc32(f), i), so it does not change
    when families are added, removed or reordered, or when `n_per_motion` grows.
    """
    if n_per_motion < 0:
        raise ConfigError(f"must be >= 0, got {n_per_motion}", field="n_per_motion")
    chosen = list(MOTIONS) if names is None else [get_motion(n).name for n in names]
    for name in chosen:
        for i in range(n_per_motion):
            rng = np.random.default_rng([seed, zlib.crc32(name.encode()), i])
            yield generate(name, duration_s, fps, rng)
