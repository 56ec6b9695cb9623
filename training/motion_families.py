"""How each motion family of `mujo_edge.training.motion_library` moves, and the kinematic helpers they share.

The registry (names, descriptions, tempo ranges) is `motion_library.MOTIONS`; this module holds the recipes.

Each family fills a `Rig` (see motion_library) for one sample: limb directions from joint angles, or hand/foot
targets reached by two-link inverse kinematics, plus torso lean, root motion and hops. Only directions and
rigid offsets are ever set, so every bone keeps its length. Angles are radians; offsets are in body-frame
metres (x right, y forward, z up) or, where noted, in arm lengths.

Arm angles (`limb`): elev 0 = hanging, pi/2 = horizontal, pi = overhead; plane 0 = forward (flexion),
pi/2 = out to the side (abduction); flex = elbow (or knee) flexion; rot = humeral rotation, external > 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mujo_edge.training.motion_library import Rig

SIDES = ("left", "right")
SIGN = {"left": -1.0, "right": 1.0}
_Z = np.array([0.0, 0.0, 1.0])
_FWD = np.array([0.0, 1.0, 0.0])

Animate = Callable[["Rig", np.random.Generator, float], dict[str, Any]]


@dataclass(frozen=True)
class MotionFamily:
    """One kind of motion: its name, what it is, text descriptions and tempo range (repetitions or strides/s).

    Texts may use `{arms}` / `{legs}`, filled from the sample's side ("both arms", "the left arm", ...).
    """

    name: str
    kind: str  # "exercise" or "daily"
    texts: tuple[str, ...]
    tempo_hz: tuple[float, float]
    animate: Animate


# --- helpers -------------------------------------------------------------------------------------------------
def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _full(a: float | np.ndarray, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(a, dtype=np.float64), (n,)).copy()


def rot_x(a: np.ndarray) -> np.ndarray:
    """[T, 3, 3] rotations about +x by `a` [T] rad."""
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_z(a: np.ndarray) -> np.ndarray:
    """[T, 3, 3] rotations about +z (yaw) by `a` [T] rad."""
    c, s, z, o = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def lean(angle: np.ndarray) -> np.ndarray:
    """Forward lean (pitch) by `angle` [T] rad: the up axis tips toward +y."""
    return rot_x(-angle)


def _rodrigues(v: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    k = _unit(axis)
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return v * c + np.cross(k, v) * s + k * np.sum(k * v, axis=-1, keepdims=True) * (1 - c)


def limb(
    n: int, side: str, elev: Any, plane: Any, flex: Any = 0.0, rot: Any = 0.0, knee: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Unit directions [T, 3] of the proximal and distal segment of an arm (or a leg with `knee=True`)."""
    elev, plane, flex, rot = (_full(a, n) for a in (elev, plane, flex, rot))
    s = SIGN[side]
    h = np.stack([s * np.sin(plane), np.cos(plane), 0 * plane], -1)  # horizontal heading of the elevation plane
    upper = -np.cos(elev)[:, None] * _Z + np.sin(elev)[:, None] * h
    # the flexion direction is "forward" carried along with the limb; humeral rotation then turns it about it
    axis = np.cross(-_Z, h)
    d0 = _rodrigues(np.tile(_FWD, (n, 1)), axis, elev)
    d = np.cos(s * rot)[:, None] * d0 + np.sin(s * rot)[:, None] * np.cross(upper, d0)
    bend = -1.0 if knee else 1.0  # knees fold backward, elbows forward
    return upper, _unit(np.cos(flex)[:, None] * upper + bend * np.sin(flex)[:, None] * d)


def two_link(a: np.ndarray, c: np.ndarray, l1: float, l2: float, hint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Middle and end joints [T, 3] of a chain a -(l1)- b -(l2)- end reaching toward `c`, bending toward `hint`.

    An unreachable target is pulled in along the line a -> c, so both segments keep their exact lengths.
    """
    d = c - a
    e = _unit(d)
    dist = np.clip(np.linalg.norm(d, axis=-1), abs(l1 - l2) + 1e-3, (l1 + l2) * 0.999)
    along = (l1**2 - l2**2 + dist**2) / (2 * dist)
    height = np.sqrt(np.maximum(l1**2 - along**2, 0.0))
    hint = np.broadcast_to(hint, d.shape)
    perp = hint - np.sum(hint * e, axis=-1, keepdims=True) * e
    perp = _unit(np.where(np.linalg.norm(perp, axis=-1, keepdims=True) < 1e-6, np.cross(e, _Z), perp))
    return a + along[:, None] * e + height[:, None] * perp, a + dist[:, None] * e


def lift(u: np.ndarray, hold: float = 0.0) -> np.ndarray:
    """0 -> 1 -> 0 over one repetition u in [0, 1], smooth at both ends, holding at 1 for a fraction `hold`."""
    r = (1.0 - hold) / 2
    s = np.clip(np.minimum(u, 1.0 - u) / r, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * s)


def reps(
    rng: np.random.Generator,
    t: np.ndarray,
    tempo: float,
    rest_prob: float = 0.3,
    rest_s: tuple[float, float] = (0.4, 1.5),
) -> tuple[np.ndarray, np.ndarray]:
    """Repetition phase u [T] in [0, 1) (0 during rests) and repetition index [T], tempo jittered +-10 %."""
    starts, ends, time = [], [], -rng.uniform(0.0, 1.0 / tempo)
    while time < t[-1] + 1e-9:
        dur = np.clip(rng.normal(1.0, 0.1), 0.7, 1.3) / tempo
        starts.append(time)
        ends.append(time + dur)
        time += dur + (rng.uniform(*rest_s) if rng.random() < rest_prob else 0.0)
    starts_a, ends_a = np.array(starts), np.array(ends)
    idx = np.searchsorted(starts_a, t, side="right") - 1
    u = np.where(t < ends_a[idx], (t - starts_a[idx]) / (ends_a[idx] - starts_a[idx]), 0.0)
    return u, idx


def cycle(rng: np.random.Generator, t: np.ndarray, tempo: float, drift: float = 0.05) -> np.ndarray:
    """Continuous phase [T] rad of a cyclic motion whose rate drifts slowly by about +-`drift`."""
    rate = tempo * (1.0 + drift * wobble(rng, t, 0.1))
    return rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.concatenate([[0.0], np.cumsum(rate[:-1] * np.diff(t))])


def wobble(rng: np.random.Generator, t: np.ndarray, hz: float) -> np.ndarray:
    """Smooth zero-mean noise [T] of unit-order amplitude around `hz` (three random sinusoids)."""
    f = hz * rng.uniform(0.6, 1.5, 3)
    ph = rng.uniform(0, 2 * np.pi, 3)
    return np.sin(2 * np.pi * f[:, None] * t[None] + ph[:, None]).sum(0) / np.sqrt(1.5)


def pick_sides(rng: np.random.Generator, p_both: float, p_alt: float = 0.0) -> str:
    r = rng.random()
    return "both" if r < p_both else "alternating" if r < p_both + p_alt else str(rng.choice(SIDES))


def active(mode: str, side: str, idx: np.ndarray) -> np.ndarray:
    """1 where `side` performs the repetition `idx` under `mode`, else 0."""
    if mode == "alternating":
        return (idx % 2 == SIDES.index(side)).astype(np.float64)
    return np.full(idx.shape, 1.0 if mode in ("both", side) else 0.0)


def _arm_reps(
    rig: Rig,
    rng: np.random.Generator,
    tempo: float,
    angles: Callable[[np.ndarray], tuple],
    p_both: float,
    p_alt: float = 0.0,
    hold: tuple[float, float] = (0.0, 0.2),
    rest_prob: float = 0.3,
) -> dict[str, Any]:
    """Repetitions where each working arm follows `angles(g)` -> (elev, plane, flex, rot), g in [0, 1]."""
    mode, (u, idx), h = pick_sides(rng, p_both, p_alt), reps(rng, rig.t, tempo, rest_prob), rng.uniform(*hold)
    for side in SIDES:
        rig.arms[side] = limb(rig.T, side, *angles(lift(u, h) * active(mode, side, idx)))
    return {"side": mode, "tempo_hz": tempo, "hold": h}


def _hand_reps(
    rig: Rig,
    rng: np.random.Generator,
    tempo: float,
    bottom: tuple,
    top: tuple,
    hint: tuple,
    p_both: float,
    hold: tuple[float, float] = (0.0, 0.2),
    rest_prob: float = 0.3,
) -> dict[str, Any]:
    """Repetitions moving each working hand between two offsets from its shoulder (in arm lengths)."""
    mode, (u, _), h = pick_sides(rng, p_both), reps(rng, rig.t, tempo, rest_prob), rng.uniform(*hold)
    for side in (s for s in SIDES if mode in ("both", s)):  # an idle arm keeps hanging
        s = np.array([SIGN[side], 1.0, 1.0])
        g = lift(u, h)[:, None]
        offset = (np.array(bottom) * s * (1 - g) + np.array(top) * s * g) * rig.body.arm
        rig.hands[side] = (offset, np.array(hint) * s)
    return {"side": mode, "tempo_hz": tempo, "hold": h}


def _sit(rig: Rig, rng: np.random.Generator) -> None:
    for side in SIDES:
        rig.legs[side] = limb(
            rig.T, side, rng.uniform(1.35, 1.6), rng.uniform(0.0, 0.25), rng.uniform(1.3, 1.8), knee=True
        )


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


# --- arm exercises -------------------------------------------------------------------------------------------
def lateral_raise(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    amp, plane, flex = _u(rng, 1.25, 1.65), np.pi / 2 - _u(rng, 0.0, 0.4), _u(rng, 0.05, 0.3)
    return _arm_reps(rig, rng, tempo, lambda g: (0.12 + amp * g, plane, flex, 0.0), p_both=0.6)


def frontal_raise(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    amp, plane, flex = _u(rng, 1.3, 1.75), _u(rng, -0.1, 0.25), _u(rng, 0.05, 0.2)
    return _arm_reps(rig, rng, tempo, lambda g: (0.1 + amp * g, plane, flex, 0.0), p_both=0.5, p_alt=0.2)


def shoulder_abduction(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    amp, flex = _u(rng, 2.1, 2.9), _u(rng, 0.0, 0.15)  # overhead; the humerus turns outward near the top
    return _arm_reps(
        rig, rng, tempo, lambda g: (0.1 + amp * g, np.pi / 2, flex, 0.8 * g**2), p_both=0.3, hold=(0.0, 0.3)
    )


def forward_elevation(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    amp, plane, flex = _u(rng, 2.2, 2.9), _u(rng, 0.0, 0.3), _u(rng, 0.0, 0.2)
    return _arm_reps(rig, rng, tempo, lambda g: (0.1 + amp * g, plane, flex, 0.0), p_both=0.3, hold=(0.0, 0.3))


def external_rotation(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    amp, flex = _u(rng, 0.9, 1.5), _u(rng, 1.4, 1.7)
    if rng.random() < 0.7:  # elbow at the side
        elev = _u(rng, 0.05, 0.35)
        params = _arm_reps(rig, rng, tempo, lambda g: (elev, np.pi / 2, flex, -0.2 + amp * g), p_both=0.2)
        return {**params, "position": "elbow at side"}
    params = _arm_reps(rig, rng, tempo, lambda g: (np.pi / 2, np.pi / 2, flex, amp * g), p_both=0.3)
    return {**params, "position": "90/90"}


def internal_rotation(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    elev, flex, start, amp = _u(rng, 0.05, 0.3), _u(rng, 1.4, 1.7), _u(rng, 0.2, 0.6), _u(rng, 1.0, 1.5)
    return _arm_reps(rig, rng, tempo, lambda g: (elev, np.pi / 2, flex, start - amp * g), p_both=0.1)


def bicep_curl(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    amp, plane, rot = _u(rng, 1.9, 2.3), _u(rng, 0.0, 0.3), _u(rng, 0.0, 0.25)
    return _arm_reps(
        rig,
        rng,
        tempo,
        lambda g: (0.08 + 0.15 * g, plane, 0.2 + amp * g, rot),
        p_both=0.5,
        p_alt=0.25,
        hold=(0.0, 0.15),
    )


def hammer_curl(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    amp, rot = _u(rng, 1.7, 2.1), -_u(rng, 0.3, 0.6)  # curls a little across the body, toward the chest
    return _arm_reps(
        rig, rng, tempo, lambda g: (0.08 + 0.1 * g, 0.1, 0.2 + amp * g, rot), p_both=0.3, p_alt=0.5, hold=(0.0, 0.15)
    )


def triceps_extension(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    elev, plane, amp = _u(rng, 2.7, 3.0), _u(rng, 0.0, 0.4), _u(rng, 1.6, 2.2)
    return _arm_reps(rig, rng, tempo, lambda g: (elev, plane, 0.15 + amp * g, 0.0), p_both=0.6)


def chest_fly(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    elev, open_, amp, flex = (
        np.pi / 2 - _u(rng, 0.0, 0.2),
        np.pi / 2 + _u(rng, 0.0, 0.2),
        _u(rng, 1.3, 1.6),
        _u(rng, 0.2, 0.5),
    )
    return _arm_reps(rig, rng, tempo, lambda g: (elev, open_ - amp * g, flex, 0.0), p_both=1.0)


def arm_circles(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    phase, radius, direction = cycle(rng, rig.t, tempo), _u(rng, 0.2, 0.5), float(rng.choice([-1.0, 1.0]))
    for side in SIDES:
        rig.arms[side] = limb(
            rig.T,
            side,
            np.pi / 2 + radius * np.cos(phase),
            np.pi / 2 + direction * radius * np.sin(phase),
            _u(rng, 0.0, 0.1),
        )
    return {
        "side": "both",
        "tempo_hz": tempo,
        "radius_rad": radius,
        "direction": "forward" if direction > 0 else "backward",
    }


def pendulum_swing(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    tilt, amp, side = _u(rng, 0.8, 1.3), _u(rng, 0.15, 0.35), str(rng.choice(SIDES))
    mode = str(rng.choice(["forward-back", "side-to-side", "circles"]))
    a1, a2 = {"forward-back": (amp, 0.0), "side-to-side": (0.0, amp), "circles": (amp, amp)}[mode]
    phase = cycle(rng, rig.t, tempo)
    rig.torso = lean(np.full(rig.T, tilt))
    # in the leaning torso's frame: straight down, horizontal forward, and outward
    down, ahead, out = (
        np.array([0, np.sin(tilt), -np.cos(tilt)]),
        np.array([0, np.cos(tilt), np.sin(tilt)]),
        np.array([SIGN[side], 0.0, 0.0]),
    )
    arm = _unit(down + a1 * np.cos(phase)[:, None] * ahead + a2 * np.sin(phase)[:, None] * out)
    rig.arms[side] = (arm, arm)
    other = "left" if side == "right" else "right"  # rests on a table
    rig.arms[other] = limb(rig.T, other, tilt - 0.4, 0.0, _u(rng, 0.3, 0.8))
    return {"side": side, "tempo_hz": tempo, "mode": mode, "lean_rad": tilt}


def overhead_press(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    return _hand_reps(rig, rng, tempo, (0.22, 0.1, 0.05), (0.08, 0.05, 0.96), (1.0, 0.1, -0.6), p_both=0.8)


def upright_row(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    return _hand_reps(rig, rng, tempo, (-0.2, 0.15, -0.93), (-0.2, 0.15, -0.1), (1.0, 0.0, 1.0), p_both=1.0)


def bent_over_row(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    tilt = _u(rng, 0.6, 1.2)
    rig.torso = lean(np.full(rig.T, tilt))
    for side in SIDES:
        rig.legs[side] = limb(rig.T, side, 0.3, 0.0, 0.5, knee=True)
    params = _hand_reps(rig, rng, tempo, (0.0, 0.05, -0.96), (0.06, -0.3, -0.45), (0.4, -0.4, 0.8), p_both=0.6)
    return {**params, "lean_rad": tilt}


# --- whole body ----------------------------------------------------------------------------------------------
def push_up(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    b, (u, _) = rig.body, reps(rng, rig.t, tempo, 0.15)
    reach = b.leg + b.pelvis_spine + b.spine_thorax - b.shoulder_drop  # ankles -> shoulder line
    top, depth = np.arcsin(0.97 * b.arm / reach), _u(rng, 0.45, 0.65)
    angle = top - (top - np.arcsin((1 - depth) * 0.97 * b.arm / reach)) * lift(u, _u(rng, 0.0, 0.15))
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)  # plank: body up -> along the plank, body forward -> floor
    rig.pelvis = np.stack([np.stack([o, z, z], -1), np.stack([z, s, c], -1), np.stack([z, -c, s], -1)], -2)
    rig.root = np.array([0.0, 0.0, b.ankle]) + b.leg * np.stack([z, c, s], -1)
    rig.grounded, rig.sway = False, False
    for side in SIDES:
        rig.legs[side] = limb(rig.T, side, 0.0, 0.0)
    shoulders = rig.shoulders()
    for side in SIDES:
        sh_top = shoulders[side][np.argmax(angle)]
        hand = np.array([sh_top[0] * 1.25, sh_top[1], b.ankle])
        rig.hands[side] = (hand - shoulders[side], np.array([SIGN[side] * 0.7, -0.3, 0.6]))
    return {"side": "both", "tempo_hz": tempo, "depth": depth}


def squat(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    b, (u, _) = rig.body, reps(rng, rig.t, tempo, 0.25)
    g = lift(u, _u(rng, 0.0, 0.2))
    width, depth = b.hip_half * _u(rng, 1.1, 1.8), b.leg * _u(rng, 0.3, 0.45)
    top = np.sqrt((0.995 * b.leg) ** 2 - (width - b.hip_half) ** 2)
    rig.root = np.stack([0 * g, -0.35 * depth * g, b.ankle + top - depth * g], -1)
    for side in SIDES:
        rig.feet[side] = (np.tile([SIGN[side] * width, 0.05, b.ankle], (rig.T, 1)), np.array([SIGN[side] * 0.3, 1, 0]))
    tilt = _u(rng, 0.05, 0.2) + _u(rng, 0.3, 0.6) * g
    rig.torso = lean(tilt)
    arms_forward = rng.random() < 0.6
    for side in SIDES:  # arms held level in front, or crossed over the chest
        rig.arms[side] = (
            limb(rig.T, side, 1.5 - tilt, 0.1, 0.1) if arms_forward else limb(rig.T, side, 0.3, 0.2, 2.3, -0.8)
        )
    return {"side": "both", "tempo_hz": tempo, "depth": depth / b.leg, "arms": "forward" if arms_forward else "crossed"}


def lunge(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    b, (u, idx) = rig.body, reps(rng, rig.t, tempo, 0.3)
    mode = "alternating" if rng.random() < 0.6 else str(rng.choice(SIDES))
    step, depth, edge = b.leg * _u(rng, 0.7, 1.0), b.leg * _u(rng, 0.2, 0.35), 0.22
    g = lift(u, 0.4)
    sink = lift(np.clip((u - edge) / (1 - 2 * edge), 0.0, 1.0))  # only once the front foot is down
    feet, root_y = {}, 0.45 * step * g
    for side in SIDES:
        front = active(mode, side, idx)
        y = step * g * front
        feet[side] = np.stack(
            [np.full(rig.T, SIGN[side] * b.hip_half), y, b.ankle + 0.06 * np.sin(np.pi * g) ** 2 * front], -1
        )
    # the pelvis may sink but never rise beyond what either leg can reach
    reach = [
        feet[s][:, 2] + np.sqrt(np.maximum((0.99 * b.leg) ** 2 - (feet[s][:, 1] - root_y) ** 2, 0.0)) for s in SIDES
    ]
    height = np.minimum(b.ankle + 0.99 * b.leg - depth * sink, np.minimum(*reach))
    rig.root = np.stack([0 * g, root_y, height], -1)
    for side in SIDES:
        rig.feet[side] = (feet[side], np.array([0.0, 1.0, 0.0]))
    return {"side": mode, "tempo_hz": tempo, "step": step / b.leg}


def jumping_jacks(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    u, _ = reps(rng, rig.t, tempo, 0.05)
    g, spread, height = lift(u, _u(rng, 0.0, 0.1)), _u(rng, 0.12, 0.25), _u(rng, 0.03, 0.1)
    for side in SIDES:
        rig.arms[side] = limb(rig.T, side, 0.2 + _u(rng, 2.2, 2.6) * g, np.pi / 2 - 0.2, 0.15)
        rig.legs[side] = limb(rig.T, side, 0.03 + spread * g, np.pi / 2, 0.15 * np.sin(2 * np.pi * u) ** 2, knee=True)
    rig.hop = height * np.sin(2 * np.pi * u) ** 2  # one jump out, one jump in
    return {"side": "both", "tempo_hz": tempo, "hop_m": height}


def _gait(rig: Rig, rng: np.random.Generator, tempo: float, running: bool) -> dict[str, Any]:
    phase, b = cycle(rng, rig.t, tempo, 0.03), rig.body
    swing = _u(rng, 0.5, 0.65) if running else _u(rng, 0.3, 0.42)
    for side, offset in (("right", 0.0), ("left", np.pi)):
        p = phase + offset
        knee = (0.5 if running else 0.1) + (1.3 if running else 0.9) * np.maximum(0, np.cos(p + 0.6)) ** 2
        rig.legs[side] = limb(rig.T, side, swing * np.sin(p), 0.0, knee, knee=True)
        rig.arms[side] = limb(
            rig.T, side, -0.7 * swing * np.sin(p), 0.15, (1.4 if running else 0.3) + 0.2 * np.sin(p), 0.2
        )
    rig.pelvis = rot_z(0.08 * np.sin(phase))
    rig.torso = rot_z(-0.1 * np.sin(phase)) @ lean(np.full(rig.T, _u(rng, 0.1, 0.25) if running else 0.05))
    speed = 4 * b.leg * np.sin(swing) * tempo
    rig.root[:, 1] += speed * rig.t
    if running:
        rig.hop = _u(rng, 0.03, 0.06) * (0.5 + 0.5 * np.cos(2 * phase))
    return {"side": "both", "tempo_hz": tempo, "speed_m_s": speed}


def walking(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    return _gait(rig, rng, tempo, running=False)


def running(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    return _gait(rig, rng, tempo, running=True)


def standing_still(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    clasped = rng.random() < 0.3
    for side in SIDES:  # hands relaxed at the sides, or loosely clasped in front
        fidget = 0.05 * wobble(rng, rig.t, 0.2)
        rig.arms[side] = (
            limb(rig.T, side, 0.3, 0.0, 0.9 + fidget, -0.7)
            if clasped
            else limb(rig.T, side, 0.06 + 0.02 * wobble(rng, rig.t, 0.2), 0.3, 0.15 + fidget)
        )
    rig.root[:, 0] += 0.02 * wobble(rng, rig.t, 0.05)  # slow weight shifts
    return {"side": "both", "hands": "clasped" if clasped else "at sides"}


def sitting(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    _sit(rig, rng)
    rig.torso = lean(np.full(rig.T, _u(rng, -0.1, 0.25)) + 0.03 * wobble(rng, rig.t, 0.1))
    for side in SIDES:  # hands resting on the thighs
        rig.arms[side] = limb(
            rig.T, side, _u(rng, 0.2, 0.5), 0.1, _u(rng, 0.9, 1.3) + 0.06 * wobble(rng, rig.t, 0.2), -0.3
        )
    return {"side": "both"}


def waving(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    side, phase = str(rng.choice(SIDES)), cycle(rng, rig.t, tempo, 0.08)
    amp = _u(rng, 0.25, 0.5)
    rig.arms[side] = limb(
        rig.T, side, _u(rng, 1.8, 2.4), _u(rng, 0.8, 1.4), _u(rng, 0.6, 1.2), _u(rng, 0.6, 1.0) + amp * np.sin(phase)
    )
    return {"side": side, "tempo_hz": tempo, "amplitude_rad": amp}


def drinking(rig: Rig, rng: np.random.Generator, tempo: float) -> dict[str, Any]:
    seated = rng.random() < 0.5
    if seated:
        _sit(rig, rng)
    params = _hand_reps(
        rig,
        rng,
        tempo,
        (-0.1, 0.45, -0.55),
        (-0.33, 0.18, 0.3),
        (1.0, -0.2, -0.6),
        p_both=0.0,
        hold=(0.3, 0.5),
        rest_prob=0.7,
    )
    return {**params, "posture": "seated" if seated else "standing"}
