"""MHEALTH: Shimmer2 sensors on chest, left ankle and right lower arm, 10 subjects, 12 activities (Banos et al.).

Published layout: `mHealth_subject<N>.log` (N = 1..10; the UCI zip puts them in `MHEALTHDATASET/`), one row
per sample at 50 Hz without timestamps (t = row / 50 s), 24 whitespace-separated columns:
 1-3 chest acc, 4-5 ECG, 6-8 left-ankle acc, 9-11 left-ankle gyro, 12-14 left-ankle magnetometer,
 15-17 right-lower-arm acc, 18-20 right-lower-arm gyro, 21-23 right-lower-arm magnetometer, 24 label.
Acceleration is in m/s^2 (Shimmer's MEMS convention, already specific force) and angular rate in deg/s,
converted to rad/s here. ECG (mV) and the magnetometers (unit "local", i.e. uncalibrated) are not
loaded: they are not SI motion channels. The chest unit has no gyroscope, so selecting only gyro keeps
the ankle and wrist.

Label 0 is the NULL class and becomes -1; labels 1..12 become classes L1..L12.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mujo_edge.channels import ChannelSelection, triaxial
from mujo_edge.data.base import DatasetLoader, DatasetSpec, part_path
from mujo_edge.errors import DataNotFoundError, LayoutError, SampleError
from mujo_edge.recording import UNLABELLED, Recording

RATE_HZ = 50.0
N_COLUMNS = 24
SUBFOLDER = "MHEALTHDATASET"
CLASSES = tuple(f"L{i}" for i in range(1, 13))
TITLES = {
    "L1": "standing still",
    "L2": "sitting and relaxing",
    "L3": "lying down",
    "L4": "walking",
    "L5": "climbing stairs",
    "L6": "waist bends forward",
    "L7": "frontal elevation of arms",
    "L8": "knees bending (crouching)",
    "L9": "cycling",
    "L10": "jogging",
    "L11": "running",
    "L12": "jump front and back",
}
# 0-based file column of each loaded channel's x axis, in channel order
_LAYOUT = (
    ("chest", "acc", "m/s^2", 0),
    ("ankle", "acc", "m/s^2", 5),
    ("ankle", "gyro", "deg/s", 8),
    ("wrist", "acc", "m/s^2", 14),
    ("wrist", "gyro", "deg/s", 17),
)
CHANNELS = tuple(c for placement, sensor, unit, _ in _LAYOUT for c in triaxial(placement, sensor, unit))
_COLUMNS = [i for *_, first in _LAYOUT for i in range(first, first + 3)]
LABEL_COLUMN = 23
# names of all 24 file columns, so a bad cell is named by what it holds
COLUMN_NAMES = (
    "chest_acc_x",
    "chest_acc_y",
    "chest_acc_z",
    "ecg_1",
    "ecg_2",
    *(f"ankle_{s}_{a}" for s in ("acc", "gyro", "mag") for a in "xyz"),
    *(f"wrist_{s}_{a}" for s in ("acc", "gyro", "mag") for a in "xyz"),
    "label",
)
_LOG = re.compile(r"^mHealth_subject(\d+)\.log$")

# SHA-256 of the ten logs as published by UCI, to tell an untouched copy from an edited one (optional)
ORIGINAL_SHA256 = {
    "mHealth_subject1.log": "da8d1bbf644a206886333f945a1dd7fe5081382b3bb3ee42821f08ad765732e4",
    "mHealth_subject2.log": "20e288750fe9f4f0495686fabf1500bfe655a549f0d2c3a9be5aa6456461b8f1",
    "mHealth_subject3.log": "90ead135c9fa9f1188e3b1f7afc0c95899a0614a15917cf3590f52923d6e03fd",
    "mHealth_subject4.log": "3b66f87a292f4cc457aea18cb7e15a10c18055c803df27f5284c6a1c5751a469",
    "mHealth_subject5.log": "380e526a85bde64baebd1d1a2478c4cfad947a4ab994c8b39b8dcda195f78a30",
    "mHealth_subject6.log": "4b8bc81186229e096937f37f9ae070017ee653005b21f88fcd0504e9195f8926",
    "mHealth_subject7.log": "5e372b2fad64a3ebaadd103ec09cde68d448ef5b707b010d02f438b8b9203b1f",
    "mHealth_subject8.log": "c6ddb8926be4c193890a28cc84cafe35c16a4bc14f23c3e696d504643652a61b",
    "mHealth_subject9.log": "fa68f90a9dfeda47abce41ebc1dec8ce55f66dc56d513ab90a6ae20ad045f2c9",
    "mHealth_subject10.log": "382d3d7b58e1fe24679fb241fd7e48ce1992757f6b1b237a56cd660e8f1fabda",
}


def is_original(path: Path) -> bool | None:
    """True if `path` is byte-identical to the published log of the same name, False if it differs,
    None if the name is not one of the ten published logs. Loading never requires this check."""
    expected = ORIGINAL_SHA256.get(path.name)
    if expected is None:
        return None
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == expected


def _data_lines(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every non-blank line, the rows np.loadtxt reads."""
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, text in enumerate(fh, start=1):
            cells = text.split()
            if cells:
                yield number, cells


def _line_of_row(path: Path, row: int) -> int:
    for k, (number, _) in enumerate(_data_lines(path)):
        if k == row:
            return number
    return row + 1


def _raise_for_bad_line(path: Path) -> None:
    """Find the first malformed line (slow path, only after the fast parser failed) and raise for it."""
    for number, cells in _data_lines(path):
        if len(cells) != N_COLUMNS:
            raise LayoutError(f"{len(cells)} columns, expected {N_COLUMNS}", path=path, line=number)
        for name, cell in zip(COLUMN_NAMES, cells):
            try:
                float(cell)
            except ValueError:
                raise SampleError(f"not a number: {cell!r}", path=path, line=number, field=name) from None


def read_log(path: Path) -> np.ndarray:
    """All samples of one log as float64 [rows, 24]; malformed lines are named by number."""
    if not path.is_file():
        raise DataNotFoundError("file not found", path=path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # loadtxt warns about an empty file; reported below instead
            data = np.loadtxt(path, dtype=np.float64, ndmin=2, comments=None)  # C parser: ~0.3 s per file
    except UnicodeDecodeError as e:  # a ValueError too: caught first, or it would look for a bad number
        raise LayoutError(f"not a text file ({e.reason})", path=path) from None
    except ValueError:
        _raise_for_bad_line(path)
        raise LayoutError("not readable as a table of numbers", path=path) from None
    if data.shape[0] == 0:
        raise SampleError("no data rows", path=path, line=1)
    if data.shape[1] != N_COLUMNS:
        raise LayoutError(f"{data.shape[1]} columns, expected {N_COLUMNS}", path=path, line=1)
    return data


def _subject_of(path: Path) -> int:
    """N of a file named mHealth_subject<N>.log."""
    match = _LOG.match(path.name)
    if match is None:
        raise LayoutError("expected a file named mHealth_subject<N>.log", path=path)
    return int(match.group(1))


class Mhealth(DatasetLoader):
    spec = DatasetSpec(
        name="mhealth",
        title="MHEALTH body-worn sensors, daily and exercise activities",
        device="Shimmer2",
        placements=("chest", "ankle", "wrist"),
        sensors=("acc", "gyro"),
        native_rate="50 Hz",
        subjects="10",
        classes=CLASSES,
        class_titles=TITLES,
        has_null=True,
        folder="mhealth",
        citation="Banos et al. 2014, IWAAL 2014 (mHealthDroid)",
        licence="CC BY 4.0 (UCI)",
        notes="label 0 is NULL; the chest unit has acc only; ECG and magnetometers are not loaded",
    )

    def parts(self, root: Path) -> list[str]:
        if root.is_file():
            if not _LOG.match(root.name):
                raise LayoutError("expected a file named mHealth_subject<N>.log", path=root)
            return [""]
        data = root / SUBFOLDER if (root / SUBFOLDER).is_dir() else root
        logs = sorted(
            (p for p in data.iterdir() if p.is_file() and _LOG.match(p.name)),
            key=_subject_of,
        )
        if not logs:
            raise LayoutError("expected mHealth_subject<N>.log files in this folder", path=data)
        return [p.relative_to(root).as_posix() for p in logs]

    def read(self, root: Path, part: str, selection: ChannelSelection) -> list[Recording]:
        path = part_path(root, part)
        subject = _subject_of(path)
        data = read_log(path)
        x = data[:, _COLUMNS]
        bad = ~np.isfinite(x).all(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            col = _COLUMNS[int(np.flatnonzero(~np.isfinite(x[i]))[0])]
            raise SampleError(
                f"non-finite value {data[i, col]} ({int(bad.sum())} such rows)",
                path=path,
                line=_line_of_row(path, i),
                field=COLUMN_NAMES[col],
            )
        label = data[:, LABEL_COLUMN]
        bad = ~((label == np.round(label)) & (label >= 0) & (label <= len(CLASSES)))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SampleError(
                f"label {label[i]!r} outside 0..{len(CLASSES)}", path=path, line=_line_of_row(path, i), field="label"
            )
        labels = np.where(label > 0, label - 1, UNLABELLED).astype(np.int16)
        scale = np.array([c.to_si for c in CHANNELS])  # deg/s -> rad/s for the gyros, 1 for acc
        return [
            Recording.create(
                np.arange(len(x)) / RATE_HZ,
                x * scale,
                CHANNELS,
                subject=subject,
                source=path,
                recording_id=f"mhealth_s{subject}",
                classes=CLASSES,
                labels=labels,
            )
        ]
