"""Small synthetic copies of the MuJo paper's datasets, written in exactly their published layouts.

The real MotionSense, MHEALTH, MM-Fit and MyoGym are not on this network; these writers produce a few
seconds per subject with known values, so a test can check units, sign, labels and time exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

# --- MotionSense: A_DeviceMotion_data/<act>_<trial>/sub_<n>.csv ------------------------------------------
MS_HEADER = (
    ",attitude.roll,attitude.pitch,attitude.yaw,gravity.x,gravity.y,gravity.z,rotationRate.x,"
    "rotationRate.y,rotationRate.z,userAcceleration.x,userAcceleration.y,userAcceleration.z"
)


def motionsense_values(n: int, seed: int = 0) -> np.ndarray:
    """[n, 12] in file column order: phone upright in the pocket (iOS gravity.y = -1 g) while walking."""
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    attitude = np.column_stack([np.full(n, -1.5), np.full(n, -1.2), np.full(n, 2.0)])
    gravity = np.column_stack([np.full(n, 0.05), np.full(n, -0.99), np.full(n, 0.1)])
    rotation = np.column_stack([0.5 * np.sin(k / 5), np.full(n, -0.25), np.full(n, 1.0)])
    user = 0.2 * rng.standard_normal((n, 3))
    return np.round(np.column_stack([attitude, gravity, rotation, user]), 6)


def write_motionsense_file(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [MS_HEADER] + [f"{i}," + ",".join(f"{v:.6f}" for v in row) for i, row in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")


def write_motionsense(root: Path, subjects=(1, 2), trials=(("dws", 1), ("jog", 9), ("sit", 5)), n: int = 150) -> Path:
    """The dataset under `root/A_DeviceMotion_data`; returns that folder."""
    data = root / "A_DeviceMotion_data"
    for s in subjects:
        for act, trial in trials:
            write_motionsense_file(data / f"{act}_{trial}" / f"sub_{s}.csv", motionsense_values(n, seed=s + trial))
    return data


# --- MHEALTH: mHealth_subject<N>.log, 24 tab-separated columns ---------------------------------------------
def mhealth_values(n: int, seed: int = 0) -> np.ndarray:
    """[n, 24]: labels 0 (NULL) for the first third, then 4 (walking), then 11 (running)."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(0.0, 1.0, (n, 24)), 4)
    x[:, 0:3] = [0.5, -9.7, 0.8]  # chest acc, m/s^2
    x[:, 8:11] = [90.0, -45.0, 0.0]  # left-ankle gyro, deg/s
    x[:, 17:20] = [180.0, 0.0, -30.0]  # right-lower-arm gyro, deg/s
    x[:, 23] = 0
    x[n // 3 : 2 * n // 3, 23] = 4
    x[2 * n // 3 :, 23] = 11
    return x


def mhealth_line(row: np.ndarray) -> str:
    return "\t".join([*(f"{v:g}" for v in row[:23]), str(int(row[23]))])


def write_mhealth(root: Path, subjects=(1, 2), n: int = 300) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for s in subjects:
        values = mhealth_values(n, seed=s)
        (root / f"mHealth_subject{s}.log").write_text("\n".join(mhealth_line(r) for r in values) + "\n")
    return root


# --- MM-Fit: wNN/wNN_<device>_<sensor>.npy, wNN_labels.csv, wNN_pose_3d.npy --------------------------------
MMFIT_RATES = {"sw_l": 100.0, "sw_r": 100.0, "sp_r": 200.0, "eb_l": 90.0}
MMFIT_T0_MS = 1_570_000_000_000.0  # the files carry UNIX time in ms
FRAME_RATE = 30.0  # left RGB-D camera, the synchronisation reference
MMFIT_LABELS = [(60, 119, 10, "squats"), (150, 209, 12, "pushups")]  # frames; 6 s workout = frames 0..179+


def mmfit_stream(device: str, sensor: str, seconds: float = 8.0) -> np.ndarray:
    """[N, 5] = frame, timestamp ms, x, y, z; acc in m/s^2 with gravity on +z, gyro in rad/s."""
    rate = MMFIT_RATES[device]
    t = np.arange(int(seconds * rate)) / rate
    frame = np.floor(t * FRAME_RATE)
    if sensor == "acc":
        xyz = np.column_stack([0.3 * np.sin(2 * np.pi * t), np.full_like(t, 0.2), np.full_like(t, 9.81)])
    else:
        xyz = np.column_stack([np.full_like(t, 0.5), np.cos(2 * np.pi * t), np.full_like(t, -0.1)])
    return np.column_stack([frame, MMFIT_T0_MS + np.round(t * 1000.0, 3), xyz])


def write_mmfit_workout(
    root: Path, workout: str, devices=tuple(MMFIT_RATES), labels=MMFIT_LABELS, seconds: float = 8.0
) -> Path:
    folder = root / workout
    folder.mkdir(parents=True, exist_ok=True)
    for d in devices:
        for s in ("acc", "gyr"):
            np.save(folder / f"{workout}_{d}_{s}.npy", mmfit_stream(d, s, seconds))
    np.save(folder / f"{workout}_sw_l_hr.npy", np.array([[0.0, MMFIT_T0_MS, 80.0]]))  # not IMU: ignored
    (folder / f"{workout}_labels.csv").write_text("".join(f"{a},{b},{r},{e}\n" for a, b, r, e in labels))
    np.save(folder / f"{workout}_pose_3d.npy", mmfit_pose(int(seconds * FRAME_RATE)))
    return folder


def mmfit_pose(n_frames: int) -> np.ndarray:
    """(3, N, 18): row 0 of every plane is the frame; joint j of frame f has (x, y, z) = (f, j, -j)."""
    pose = np.zeros((3, n_frames, 18))
    frames = np.arange(n_frames, dtype=np.float64)
    pose[:, :, 0] = frames
    joints = np.arange(17, dtype=np.float64)
    pose[0, :, 1:] = frames[:, None]
    pose[1, :, 1:] = joints[None, :]
    pose[2, :, 1:] = -joints[None, :]
    return pose


def write_mmfit(root: Path, workouts=("w00", "w01", "w19")) -> Path:
    """The dataset under `root/mm-fit` (as the published zip extracts); returns that folder."""
    data = root / "mm-fit"
    for w in workouts:
        write_mmfit_workout(data, w)
    return data


# --- MyoGym: MyoGym.mat (MAT v5) with raw_data [N, 17] and raw_data_labels [N, 2] ---------------------------
def myogym_rows(
    trainer: int, segments=((99, 2.0), (7, 3.0), (99, 1.0)), t0_us: float = 1.0e9, lead_rows: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Rows as published: IMU at 50 Hz (acc in g, gyro in deg/s, times in us), every 4th IMU sample
    repeated on a second row (the EMG stream runs faster), `lead_rows` rows before the first IMU sample."""
    codes = np.concatenate([np.full(round(sec * 50), code) for code, sec in segments])
    k = np.arange(len(codes))
    t = t0_us + k * 20_000.0
    rows = np.zeros((len(k), 17))
    rows[:, 0] = t + 3_000.0  # EMG time
    rows[:, 1:9] = (k[:, None] % 7) - 3  # EMG, not loaded
    rows[:, 9] = t
    rows[:, 10:13] = [0.0, 1.0, 0.25]
    rows[:, 10] = 0.001 * k
    rows[:, 13] = t
    rows[:, 14:17] = [180.0, -90.0, 45.0]
    labels = np.column_stack([codes, np.full(len(k), trainer)])
    repeat = np.sort(np.concatenate([k, k[::4]]))  # sample-and-hold rows
    rows, labels = rows[repeat], labels[repeat]
    if lead_rows:
        lead = np.zeros((lead_rows, 17))
        rows = np.vstack([lead, rows])
        labels = np.vstack([np.column_stack([np.full(lead_rows, 99), np.full(lead_rows, trainer)]), labels])
    return rows, labels


def write_myogym(path: Path, trainers=(1, 2), lead_rows: int = 0) -> Path:
    parts = [myogym_rows(tr, t0_us=1.0e9 + 1.0e8 * tr, lead_rows=lead_rows) for tr in trainers]
    save_myogym(path, np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts]))
    return path


def save_myogym(path: Path, raw: np.ndarray, labels: np.ndarray, **extra: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # the published file also holds feature matrices the loader must skip
    variables = {
        "raw_data": raw,
        "raw_data_labels": labels.astype(np.float64),
        "features_acc": np.zeros((3, 4)),
        "piirteet_emg": np.zeros((3, 4)),
        **extra,
    }
    scipy.io.savemat(path, variables, format="5")
