"""MyoGym: Myo armband on the forearm, 10 trainers, 30 gym exercises + NULL (Koskimäki, Siirtola, Röning 2017).

Published as one MATLAB v5 file `MyoGym.mat` (read with scipy.io.loadmat, no pickle, no HDF5). Only two
of its variables are used:
- `raw_data` [N, 17]: column 0 EMG time, 1-8 EMG, 9 accelerometer time, 10-12 accelerometer x/y/z (g),
  13 gyroscope time, 14-16 gyroscope x/y/z (deg/s). Times are Myo SDK microseconds.
- `raw_data_labels` [N, 2]: exercise (1..30, 99 = no exercise / NULL) and trainer (1..10).
Rows follow the EMG stream, so the 50 Hz IMU sample is repeated on rows where no new one arrived; a sample
is kept only on the row where its accelerometer timestamp first appears (the gyroscope arrives in the same
IMU packet and carries the same time). Rows before the first IMU sample have time 0 and are dropped.
A trainer's rows form one recording per run of rising timestamps: a timestamp that goes back starts a new
run (a new session clock), since a recording's time must strictly increase.
The Myo IMU reports specific force (MEMS convention), so no sign change is needed. EMG is not loaded.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import scipy.io

from mujo_edge.channels import ChannelSelection, triaxial
from mujo_edge.data.base import DatasetLoader, DatasetSpec, part_path, single_file_parts
from mujo_edge.errors import DataNotFoundError, LayoutError, SampleError
from mujo_edge.recording import UNLABELLED, Recording

FILE = "MyoGym.mat"
NULL_CODE = 99
TIME_ACC, ACC, GYRO = 9, slice(10, 13), slice(14, 17)
TITLES_BY_CODE = (
    "Seated Cable Rows",
    "One-Arm Dumbbell Row",
    "Wide-Grip Pulldown Behind The Neck",
    "Bent Over Barbell Row",
    "Reverse Grip Bent-Over Row",
    "Wide-Grip Front Pulldown",
    "Bench Press",
    "Incline Dumbbell Flyes",
    "Incline Dumbbell Press",
    "Dumbbell Flyes",
    "Pushups",
    "Leverage Chest Press",
    "Close-Grip Barbell Bench Press",
    "Bar Skullcrusher",
    "Triceps Pushdown",
    "Bench Dip / Dip",
    "Overhead Triceps Extension",
    "Tricep Dumbbell Kickback",
    "Spider Curl",
    "Dumbbell Alternate Bicep Curl",
    "Incline Hammer Curl",
    "Concentration Curl",
    "Cable Curl",
    "Hammer Curl",
    "Upright Barbell Row",
    "Side Lateral Raise",
    "Front Dumbbell Raise",
    "Seated Dumbbell Shoulder Press",
    "Car Drivers",
    "Lying Rear Delt Raise",
)  # exercise codes 1..30 in order


def _code(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


CLASSES = tuple(_code(t) for t in TITLES_BY_CODE)
CHANNELS = (*triaxial("forearm", "acc", "g"), *triaxial("forearm", "gyro", "deg/s"))


def read_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(`raw_data` float64 [N, 17], `raw_data_labels` int64 [N, 2]) of a MyoGym MAT file."""
    if not path.is_file():
        raise DataNotFoundError("file not found", path=path)
    try:
        mat = scipy.io.loadmat(path, variable_names=["raw_data", "raw_data_labels"])
    except NotImplementedError:  # scipy's message for MATLAB v7.3 (HDF5) files
        raise LayoutError(
            "MATLAB v7.3 (HDF5) file: save it as v5 (MATLAB: save(..., '-v7')) or use the published MyoGym.mat",
            path=path,
        ) from None
    except (ValueError, TypeError, OSError, EOFError) as e:
        raise LayoutError(f"not a readable MAT file ({e})", path=path) from None
    for key, cols in (("raw_data", 17), ("raw_data_labels", 2)):
        if key not in mat:
            raise LayoutError("variable missing", path=path, field=key)
        arr = mat[key]
        if (
            not isinstance(arr, np.ndarray)
            or arr.ndim != 2
            or arr.shape[1] != cols
            or not np.issubdtype(arr.dtype, np.number)
        ):
            raise LayoutError(
                f"expected a numeric [N, {cols}] matrix, got {getattr(arr, 'shape', type(arr))}", path=path, field=key
            )
    raw, lab = mat["raw_data"].astype(np.float64), mat["raw_data_labels"]
    if raw.shape[0] != lab.shape[0]:
        raise LayoutError(f"{lab.shape[0]} label rows for {raw.shape[0]} data rows", path=path, field="raw_data_labels")
    if raw.shape[0] == 0:
        raise SampleError("no rows", path=path, field="raw_data")
    if not (np.isfinite(lab).all() and (lab == np.round(lab)).all()):
        raise SampleError("labels must be integers", path=path, field="raw_data_labels")
    return raw, lab.astype(np.int64)


class MyoGym(DatasetLoader):
    spec = DatasetSpec(
        name="myogym",
        title="MyoGym forearm gym exercises",
        device="Thalmic Labs Myo armband (IMU)",
        placements=("forearm",),
        sensors=("acc", "gyro"),
        native_rate="50 Hz",
        subjects="10",
        classes=CLASSES,
        class_titles=dict(zip(CLASSES, TITLES_BY_CODE)),
        has_null=True,
        folder="myogym",
        citation="Koskimäki, Siirtola, Röning 2017, UbiComp/ISWC '17 Adjunct (MyoGym)",
        licence="as published by the authors (University of Oulu)",
        notes="exercise code 99 is NULL; EMG is not loaded",
    )

    def parts(self, root: Path) -> list[str]:
        return single_file_parts(root, FILE)

    def read(self, root: Path, part: str, selection: ChannelSelection) -> list[Recording]:
        path = part_path(root, part)
        raw, lab = read_mat(path)
        exercise, trainer = lab[:, 0], lab[:, 1]
        bad = ~(((exercise >= 1) & (exercise <= len(CLASSES))) | (exercise == NULL_CODE))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SampleError(
                f"exercise code {int(exercise[i])} at row {i} outside 1..{len(CLASSES)}, {NULL_CODE}",
                path=path,
                field="raw_data_labels",
            )
        labels = np.where(exercise == NULL_CODE, UNLABELLED, exercise - 1).astype(np.int16)
        scale = np.array([c.to_si for c in CHANNELS])  # g -> m/s^2, deg/s -> rad/s
        out = []
        for subject in np.unique(trainer):
            rows = np.flatnonzero(trainer == subject)
            t_us = raw[rows, TIME_ACC]
            if not np.isfinite(t_us).all():
                i = int(rows[np.flatnonzero(~np.isfinite(t_us))[0]])
                raise SampleError(
                    f"non-finite accelerometer time at row {i} (0-based, column {TIME_ACC})",
                    path=path,
                    field="raw_data",
                )
            # a new IMU sample is where the accelerometer time changes; time 0 = no IMU sample yet
            new = np.concatenate([[True], t_us[1:] != t_us[:-1]]) & (t_us > 0)
            rows, t_us = rows[new], t_us[new]
            if not len(rows):
                raise SampleError(f"trainer {int(subject)} has no IMU sample", path=path, field="raw_data")
            starts = np.concatenate([[0], np.flatnonzero(np.diff(t_us) <= 0) + 1, [len(rows)]])
            for run, (a, b) in enumerate(itertools.pairwise(starts)):
                r = rows[a:b]
                x = np.column_stack([raw[r, ACC], raw[r, GYRO]]) * scale
                bad = ~np.isfinite(x).all(axis=1)
                if bad.any():  # named by the MAT row, which Recording.create cannot know
                    i = int(np.flatnonzero(bad)[0])
                    raise SampleError(
                        f"non-finite IMU value at row {int(r[i])} (0-based)",
                        path=path,
                        field=CHANNELS[int(np.flatnonzero(~np.isfinite(x[i]))[0])].name,
                    )
                out.append(
                    Recording.create(
                        t_us[a:b] / 1e6,
                        x,
                        CHANNELS,
                        subject=int(subject),
                        source=path,
                        recording_id=f"myogym_t{int(subject)}" + (f"_{run}" if len(starts) > 2 else ""),
                        classes=CLASSES,
                        labels=labels[r],
                        meta={"first_row": str(int(r[0]))},
                    )
                )
        return out
