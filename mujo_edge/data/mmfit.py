"""MM-Fit: smartwatches, phone and earbud worn during full-body workouts (Strömbäck, Huang, Radu 2020).

Published layout (mmfit.github.io; the zip holds `mm-fit/`): one folder per workout `wNN/` with
`wNN_<device>_<sensor>.npy` float arrays [N, 5] = (video frame, timestamp in ms, x, y, z) and
`wNN_labels.csv` without header, rows = start frame, end frame, repetitions, exercise. Devices read here:
sw_l / sw_r (Mobvoi TicWatch Pro, left / right wrist, ~100 Hz), sp_r (phone, right pocket, 210-500 Hz),
eb_l / eb_r (eSense earbud, ~90 Hz); sensors acc (m/s^2, gravity included, Android convention) and gyr
(rad/s). The watch units are reported by users of the released files; the phones follow Android's API;
the earbud's are undocumented, so every accelerometer stream must have a median magnitude near gravity
in m/s^2, which catches a stream in g or raw counts. Heart rate, magnetometer and the left-pocket phone
(sp_l, absent from 15 workouts) are not read.
Some phone files carry a suffix (`w03_sp_l_acc_0.npy`); the first such variant is used.

Time is the synchronised timestamp; every sample is labelled by its frame against the [start, end] frames
of the label rows, samples outside every row are NULL (-1). The streams of one workout are separate
recordings sharing `meta[GROUP] = "wNN"`, so `prepare` aligns them on one grid. With no placement
selected, every device a workout has is read; with placements selected, a workout lacking one of them is
skipped with a warning, so all recordings have the same channels.

Subjects come from the workout -> participant mapping of the authors' EDA notebook (KDMStromback/mm-fit).
The authors' workout split (same notebook and train_multimodal_ar.py) puts participants 0 and 1 into
train, val and test alike; only its "unseen" test set is subject-disjoint. `subject_split()` therefore
gives the subject-disjoint default (train 0,1,5,6,7; val 8; test = the unseen participants 2,3,4,9).
`read_pose` reads `wNN_pose_3d.npy` (3, N, 18): frame row + 17 Human3.6M joints.
"""

from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mujo_edge.channels import ChannelSelection, triaxial
from mujo_edge.data.base import DatasetLoader, DatasetSpec
from mujo_edge.errors import DataNotFoundError, LayoutError, SampleError
from mujo_edge.recording import GROUP, UNLABELLED, Recording
from mujo_edge.resample import merge_duplicate_timestamps
from mujo_edge.splits import Split
from mujo_edge.units import STANDARD_GRAVITY

log = logging.getLogger(__name__)

CLASSES = (
    "squats",
    "lunges",
    "bicep_curls",
    "situps",
    "pushups",
    "tricep_extensions",
    "dumbbell_rows",
    "jumping_jacks",
    "dumbbell_shoulder_press",
    "lateral_shoulder_raises",
)
NULL_NAMES = ("non_activity",)  # the authors' name for "no exercise"; such rows label nothing
DEVICES = {"sw_l": "leftwrist", "sw_r": "rightwrist", "sp_r": "pocket", "eb_l": "leftear", "eb_r": "rightear"}
SENSORS = {"acc": ("acc", "m/s^2"), "gyr": ("gyro", "rad/s")}  # file suffix -> (sensor kind, source unit)
WORKOUT_SUBJECT = {
    "w00": 2,
    "w01": 0,
    "w02": 1,
    "w03": 0,
    "w04": 1,
    "w05": 2,
    "w06": 0,
    "w07": 1,
    "w08": 0,
    "w09": 1,
    "w10": 0,
    "w11": 1,
    "w12": 3,
    "w13": 4,
    "w14": 0,
    "w15": 1,
    "w16": 5,
    "w17": 6,
    "w18": 7,
    "w19": 8,
    "w20": 9,
}
POSE_JOINTS = 17
_WORKOUT = re.compile(r"^w\d{2}$")


@dataclass(frozen=True)
class WorkoutSplit:
    """The authors' recommended split, by workout id (`wNN`)."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    unseen_test: tuple[str, ...]


def _w(*ids: str) -> tuple[str, ...]:
    return tuple(f"w{i}" for i in ids)


MMFIT_SPLIT = WorkoutSplit(
    train=_w("01", "02", "03", "04", "06", "07", "08", "16", "17", "18"),
    val=_w("14", "15", "19"),
    test=_w("09", "10", "11"),
    unseen_test=_w("00", "05", "12", "13", "20"),
)


def subject_of(workout: str) -> str:
    """Participant id of a workout; a workout outside the published mapping is its own subject."""
    return str(WORKOUT_SUBJECT[workout]) if workout in WORKOUT_SUBJECT else workout


def subject_split() -> Split:
    """Subject-disjoint split: the unseen participants test, w19's participant validates, the rest train."""
    test = sorted({subject_of(w) for w in MMFIT_SPLIT.unseen_test}, key=int)
    val = sorted({subject_of(w) for w in MMFIT_SPLIT.val} - {subject_of(w) for w in MMFIT_SPLIT.train}, key=int)
    train = sorted({subject_of(w) for w in WORKOUT_SUBJECT} - set(test) - set(val), key=int)
    return Split("mmfit-unseen-subjects", tuple(train), tuple(val), tuple(test))  # Split checks disjointness


def load_npy(path: Path) -> np.ndarray:
    """A numeric .npy array, loaded without pickle."""
    if not path.is_file():
        raise DataNotFoundError("file not found", path=path)
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:  # object arrays need pickle, which we never allow
        raise LayoutError(f"not a readable numeric .npy file ({e})", path=path) from None
    if not isinstance(arr, np.ndarray) or not np.issubdtype(arr.dtype, np.number):
        raise LayoutError("not a numeric .npy array", path=path)
    return arr


def read_labels(path: Path) -> list[tuple[int, int, int]]:
    """Label rows as (start frame, end frame, class index); NULL rows are left out."""
    if not path.is_file():
        raise DataNotFoundError("label file not found", path=path)
    rows, seen = [], 0
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if not row or not "".join(row).strip():
                continue
            seen += 1
            if len(row) != 4:
                raise LayoutError(
                    f"{len(row)} cells, expected 4 (start, end, repetitions, exercise)", path=path, line=line
                )
            values = []
            for name, cell in zip(("start_frame", "end_frame", "repetitions"), row):
                try:
                    values.append(int(cell.strip()))
                except ValueError:
                    raise SampleError(f"not an integer: {cell!r}", path=path, line=line, field=name) from None
            if values[1] < values[0]:
                raise SampleError(
                    f"end frame {values[1]} before start frame {values[0]}", path=path, line=line, field="end_frame"
                )
            exercise = row[3].strip()
            if exercise in NULL_NAMES:
                continue
            if exercise not in CLASSES:
                raise SampleError(
                    f"unknown exercise {exercise!r} (known: {', '.join(CLASSES)})",
                    path=path,
                    line=line,
                    field="exercise",
                )
            rows.append((values[0], values[1], CLASSES.index(exercise)))
    if not seen:
        raise SampleError("no label rows", path=path, line=1)
    return rows


def read_pose(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """`wNN_pose_3d.npy` -> (frames int64 [T], joints float32 [T, 17, 3]) in the file's units.

    Joints are in Human3.6M order (hip, left hip/knee/foot, right hip/knee/foot, spine, thorax, neck/nose,
    head, right shoulder/elbow/wrist, left shoulder/elbow/wrist); coordinates are kept as published.
    """
    arr = load_npy(path)
    if arr.ndim != 3 or arr.shape[0] != 3 or arr.shape[2] != POSE_JOINTS + 1:
        raise LayoutError(f"pose array has shape {arr.shape}, expected (3, N, {POSE_JOINTS + 1})", path=path)
    frames = arr[0, :, 0]
    if len(frames) == 0:
        raise SampleError("no pose frames", path=path)
    if not (np.isfinite(frames).all() and (frames == np.round(frames)).all()) or (np.diff(frames) <= 0).any():
        raise SampleError("frame numbers must be integers that strictly increase", path=path, field="frame")
    return frames.astype(np.int64), np.ascontiguousarray(arr[:, :, 1:].transpose(1, 2, 0), dtype=np.float32)


def _stream_file(folder: Path, workout: str, device: str, sensor: str) -> Path | None:
    exact = folder / f"{workout}_{device}_{sensor}.npy"
    if exact.is_file():
        return exact
    variants = sorted(folder.glob(f"{workout}_{device}_{sensor}_*.npy"))
    return variants[0] if variants else None


class MmFit(DatasetLoader):
    spec = DatasetSpec(
        name="mmfit",
        title="MM-Fit multi-device full-body workouts",
        device="2x Mobvoi TicWatch Pro (wrists), smartphone (right pocket), eSense earbud",
        placements=tuple(DEVICES.values()),
        sensors=("acc", "gyro"),
        native_rate="~90-500 Hz by device",
        subjects="10 (21 workouts)",
        classes=CLASSES,
        has_null=True,
        folder="mmfit",
        class_titles={c: c.replace("_", " ") for c in CLASSES},
        citation="Strömbäck, Huang, Radu 2020, Proc. ACM IMWUT 4(4):168",
        licence="as published at mmfit.github.io",
        notes="frames outside labelled sets are NULL; select placements every workout has, e.g. leftwrist",
    )

    def _data_dir(self, root: Path) -> Path:
        for candidate in (root / "mm-fit", root):
            if candidate.is_dir() and any(p.is_dir() and _WORKOUT.match(p.name) for p in candidate.iterdir()):
                return candidate
        raise LayoutError("expected workout folders wNN/ (or mm-fit/wNN/) in this folder", path=root)

    def parts(self, root: Path) -> list[str]:
        data = self._data_dir(root)
        return sorted(p.relative_to(root).as_posix() for p in data.iterdir() if p.is_dir() and _WORKOUT.match(p.name))

    def fingerprint_files(self, root: Path) -> list[Path]:
        files = []
        for part in self.parts(root):
            folder = root / part
            files.append(folder / f"{folder.name}_labels.csv")
            files += [f for d in DEVICES for s in SENSORS if (f := _stream_file(folder, folder.name, d, s))]
        return [f for f in files if f.is_file()]

    def read(self, root: Path, part: str, selection: ChannelSelection) -> list[Recording]:
        folder = root / part
        workout = folder.name
        sensors = [s for s, (kind, _) in SENSORS.items() if selection.sensors is None or kind in selection.sensors]
        wanted = [d for d, p in DEVICES.items() if selection.placements is None or p in selection.placements]
        files = {(d, s): _stream_file(folder, workout, d, s) for d in wanted for s in sensors}
        present = [d for d in wanted if all(files[d, s] for s in sensors)]
        if selection.placements is not None and len(present) < len(wanted):
            log.warning("%s: skipped, no %s files", folder, ", ".join(d for d in wanted if d not in present))
            return []
        if not present:
            log.warning("%s: no acc/gyro files of %s", folder, ", ".join(wanted))
            return []
        if workout not in WORKOUT_SUBJECT:
            log.warning("%s: not in the published workout -> participant mapping; subject = %s", folder, workout)
        labels = read_labels(folder / f"{workout}_labels.csv")
        return [
            self._read_stream(files[d, s], workout, d, s, labels)  # type: ignore[arg-type]
            for d in present
            for s in sensors
        ]

    def _read_stream(
        self, path: Path, workout: str, device: str, sensor: str, label_rows: list[tuple[int, int, int]]
    ) -> Recording:
        arr = load_npy(path)
        if arr.ndim != 2 or arr.shape[1] != 5:
            raise LayoutError(f"array has shape {arr.shape}, expected (N, 5): frame, timestamp ms, x, y, z", path=path)
        if arr.shape[0] == 0:
            raise SampleError("no samples", path=path)
        frames, ts = arr[:, 0], arr[:, 1].astype(np.float64)
        for name, col in (("frame", frames), ("timestamp", ts)):
            if not np.isfinite(col).all():
                raise SampleError(
                    f"non-finite {name} at sample {int(np.flatnonzero(~np.isfinite(col))[0])}", path=path, field=name
                )
        back = np.flatnonzero(np.diff(ts) < 0)
        if len(back):
            i = int(back[0]) + 1
            raise SampleError(
                f"timestamps go backwards at sample {i} ({ts[i - 1]!r} -> {ts[i]!r})", path=path, field="timestamp"
            )
        labels = np.full(len(arr), UNLABELLED, dtype=np.int16)
        for start, end, cls in label_rows:
            labels[(frames >= start) & (frames <= end)] = cls
        kind, unit = SENSORS[sensor]
        channels = triaxial(DEVICES[device], kind, unit)
        x = arr[:, 2:5].astype(np.float64) * channels[0].to_si
        if kind == "acc":
            magnitude = float(np.median(np.linalg.norm(x, axis=1)))
            # a unit mix-up (g, raw counts) would otherwise pass silently into training
            if not 0.5 * STANDARD_GRAVITY <= magnitude <= 2 * STANDARD_GRAVITY:
                raise LayoutError(
                    f"median acceleration magnitude {magnitude:.4g} is not near gravity in m/s^2; "
                    f"deselect this placement ({DEVICES[device]})",
                    path=path,
                    field="acc",
                )
        # phones and watches batch samples: repeated timestamps are averaged (counted in merged_duplicates)
        t, x, merged_labels, merged = merge_duplicate_timestamps(ts / 1000.0, x, labels)
        return Recording.create(
            t,
            x,
            channels,
            subject=subject_of(workout),
            source=path,
            recording_id=workout,
            classes=CLASSES,
            labels=merged_labels,
            meta={GROUP: workout, "device": device, "merged_duplicates": str(merged)},
        )
