"""MotionSense: iPhone 6s in the front trouser pocket, 24 subjects, 6 activities (Malekzadeh et al. 2019).

Published layout: `A_DeviceMotion_data/<act>_<trial>/sub_<n>.csv`, one file per subject and trial, Core
Motion "device motion" at 50 Hz without timestamps. Columns: an unnamed index (0, 1, 2, ...), then
attitude.roll/pitch/yaw (rad), gravity.x/y/z and userAcceleration.x/y/z (g), rotationRate.x/y/z (rad/s).
Time is index / 50 s. The root may be the folder holding `A_DeviceMotion_data`, that folder itself, or a
doubled `A_DeviceMotion_data/A_DeviceMotion_data` as some zip extractions (e.g. Kaggle's) produce.

Acceleration is gravity + userAcceleration, which is what the accelerometer measured before Core Motion
split it. Core Motion reports it the iOS way (lying face up: z = -1 g); mujo-edge stores specific force as
Android and MEMS sensors report it (face up: z = +9.81 m/s^2), so the sum is negated, as in spar_watch.
The gyroscope axes and sign are the same on both platforms and stay as they are. Attitude is not loaded:
it is a fused orientation estimate, not a sensor reading.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mujo_edge.channels import ChannelSelection, triaxial
from mujo_edge.data.base import DatasetLoader, DatasetSpec
from mujo_edge.data.csvio import read_csv
from mujo_edge.errors import LayoutError
from mujo_edge.recording import Recording
from mujo_edge.units import STANDARD_GRAVITY

FOLDER = "A_DeviceMotion_data"
RATE_HZ = 50.0
CLASSES = ("dws", "ups", "wlk", "jog", "std", "sit")  # the order of ACT_LABELS in the published README
TITLES = {
    "dws": "walking downstairs",
    "ups": "walking upstairs",
    "wlk": "walking",
    "jog": "jogging",
    "std": "standing",
    "sit": "sitting",
}
# trial numbers of each activity, as published (README: TRIAL_CODES)
TRIALS: dict[str, tuple[int, ...]] = {
    "dws": (1, 2, 11),
    "ups": (3, 4, 12),
    "wlk": (7, 8, 15),
    "jog": (9, 16),
    "std": (6, 14),
    "sit": (5, 13),
}
GRAVITY = ("gravity.x", "gravity.y", "gravity.z")
USER_ACC = ("userAcceleration.x", "userAcceleration.y", "userAcceleration.z")
ROTATION = ("rotationRate.x", "rotationRate.y", "rotationRate.z")
ATTITUDE = ("attitude.roll", "attitude.pitch", "attitude.yaw")
CHANNELS = (*triaxial("pocket", "acc", "g"), *triaxial("pocket", "gyro", "rad/s"))
_TRIAL_DIR = re.compile(r"^([a-z]{3})_(\d+)$")
_SUBJECT_FILE = re.compile(r"^sub_(\d+)\.csv$")


def _subject_of(path: Path) -> int:
    """n of a file named sub_<n>.csv."""
    match = _SUBJECT_FILE.match(path.name)
    if match is None:
        raise LayoutError("expected a file named sub_<n>.csv", path=path)
    return int(match.group(1))


class MotionSense(DatasetLoader):
    spec = DatasetSpec(
        name="motionsense",
        title="MotionSense iPhone pocket activities",
        device="iPhone 6s (Core Motion)",
        placements=("pocket",),
        sensors=("acc", "gyro"),
        native_rate="50 Hz",
        subjects="24",
        classes=CLASSES,
        class_titles=TITLES,
        folder="motionsense",
        citation="Malekzadeh, Clegg, Cavallaro, Haddadi 2019, IoTDI '19 (Mobile Sensor Data Anonymization)",
        licence="MIT (motion-sense repository)",
        notes="acceleration = gravity + userAcceleration, converted from the iOS sign to specific force",
    )

    def _data_dir(self, root: Path) -> Path:
        for candidate in (root / FOLDER / FOLDER, root / FOLDER, root):
            if candidate.is_dir() and any(p.is_dir() and _TRIAL_DIR.match(p.name) for p in candidate.iterdir()):
                return candidate
        raise LayoutError(f"expected {FOLDER}/<act>_<trial>/sub_<n>.csv below this folder", path=root)

    def parts(self, root: Path) -> list[str]:
        data = self._data_dir(root)
        found = []
        for trial_dir in sorted(p for p in data.iterdir() if p.is_dir()):
            match = _TRIAL_DIR.match(trial_dir.name)
            if not match:
                continue  # e.g. __MACOSX or notebooks next to the data
            act, trial = match.group(1), int(match.group(2))
            if trial not in TRIALS.get(act, ()):
                raise LayoutError(
                    f"unknown trial folder (published: "
                    f"{', '.join(f'{a}_{t}' for a, ts in TRIALS.items() for t in ts)})",
                    path=trial_dir,
                )
            found += [f for f in trial_dir.iterdir() if _SUBJECT_FILE.match(f.name)]
        if not found:
            raise LayoutError("no <act>_<trial>/sub_<n>.csv files found", path=data)
        # natural order: activity, trial, subject number
        found.sort(
            key=lambda f: (
                f.parent.name.split("_")[0],
                int(f.parent.name.split("_")[1]),
                _subject_of(f),
            )
        )
        return [f.relative_to(root).as_posix() for f in found]

    def read(self, root: Path, part: str, selection: ChannelSelection) -> list[Recording]:
        path = root / part
        act, trial = path.parent.name.split("_")
        subject = _subject_of(path)
        table = read_csv(path, required=(*ATTITUDE, *GRAVITY, *ROTATION, *USER_ACC))
        index_name = table.header[0]
        if index_name in (*ATTITUDE, *GRAVITY, *ROTATION, *USER_ACC):
            raise LayoutError("the first column must be the unnamed sample index", path=path, line=1, field=index_name)
        index = table.numbers([index_name])[:, 0]
        acc_g = -(table.numbers(GRAVITY) + table.numbers(USER_ACC))  # iOS sign -> specific force
        x = np.column_stack([acc_g * STANDARD_GRAVITY, table.numbers(ROTATION)])
        return [
            Recording.create(
                index / RATE_HZ,
                x,
                CHANNELS,
                subject=subject,
                source=path,
                recording_id=f"{act}_{trial}_sub{subject}",
                classes=CLASSES,
                labels=np.full(len(x), CLASSES.index(act), dtype=np.int16),
                meta={"trial": trial},
                lines=table.lines,  # per-sample lines: blank lines in the file keep messages right
            )
        ]
