"""HMP: accelerometer data for human motion primitives (Bruno et al., ICRA 2013), in its published layout.

One folder per primitive (`Walk/`, `Climb_stairs/`, ...; any letter case), one text file per recorded execution,
named `Accelerometer-<YYYY-MM-DD-HH-MM-SS>-<primitive>-<volunteer>.txt` (volunteers f1-f5, m1-m11). Each line is
`x y z`, coded as integers 0..63 for -1.5 g .. +1.5 g (real = -1.5 g + coded / 63 * 3 g), sampled at 32 Hz by a
device on the right wrist: x toward the hand, y to the left, z perpendicular to the back of the hand.

The values are already specific force (walking with the arm hanging reads about -0.84 g on x, which points down
to the hand), so only the coding and the unit are converted. A 6-bit +-1.5 g sensor saturates on brisk motion and
quantises in steps of 0.048 g: good enough for pre-training on real wrist motion, coarse next to a watch.
The publishers' `*_MODEL` folders repeat executions that are already in the primitive folders, so they are skipped.

Licence: research use and modification only; redistribution and commercial use need the authors' agreement. The
data therefore never ships with mujo-edge, and a bundle trained with it must say so in its provenance.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mujo_edge.channels import ChannelSelection, triaxial
from mujo_edge.data.base import DatasetLoader, DatasetSpec, part_path
from mujo_edge.errors import LayoutError, SampleError
from mujo_edge.recording import Recording
from mujo_edge.units import STANDARD_GRAVITY

RATE_HZ = 32.0
CODE_MAX = 63
RANGE_G = 1.5
# Primitive names as the files spell them, in the manual's order; class codes are their upper-case forms.
PRIMITIVES = (
    "brush_teeth",
    "climb_stairs",
    "comb_hair",
    "descend_stairs",
    "drink_glass",
    "eat_meat",
    "eat_soup",
    "getup_bed",
    "liedown_bed",
    "pour_water",
    "sitdown_chair",
    "standup_chair",
    "use_telephone",
    "walk",
)
CLASSES = tuple(p.upper() for p in PRIMITIVES)
TITLES = {c: p.replace("_", " ") for c, p in zip(CLASSES, PRIMITIVES, strict=True)}
CHANNELS = triaxial("wrist", "acc", "g")
LICENCE = "research use only (no redistribution or commercial use without the authors' agreement)"
_FILE = re.compile(r"^Accelerometer-(\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d)-([a-z_]+)-([fm]\d+)\.txt$")


def decode(coded: np.ndarray) -> np.ndarray:
    """Coded 0..63 values -> m/s^2 (specific force), float32 of the same shape."""
    g = -RANGE_G + coded.astype(np.float64) / CODE_MAX * (2 * RANGE_G)
    return (g * STANDARD_GRAVITY).astype(np.float32)


def _read_codes(path: Path) -> np.ndarray:
    """The [N, 3] coded integers of one file; any malformed line is an error naming its line number."""
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as e:
        raise SampleError(f"not a text file of coded integers ({e.reason})", path=path) from None
    rows: list[list[int]] = []
    # Trailing blank lines are harmless; any other line must hold one sample, so line numbers stay exact.
    for number, line in enumerate(text.rstrip().splitlines(), start=1):
        cells = line.split()
        if len(cells) != 3:
            raise SampleError(f"{len(cells)} values, expected 3 (x y z)", path=path, line=number)
        try:
            row = [int(c) for c in cells]
        except ValueError:
            raise SampleError(
                f"values must be integers 0..{CODE_MAX}, got {line.strip()!r}", path=path, line=number
            ) from None
        if min(row) < 0 or max(row) > CODE_MAX:
            raise SampleError(f"coded value out of 0..{CODE_MAX}: {line.strip()!r}", path=path, line=number)
        rows.append(row)
    if not rows:
        raise SampleError("file holds no samples", path=path)
    return np.asarray(rows, dtype=np.int16)


class Hmp(DatasetLoader):
    spec = DatasetSpec(
        name="hmp",
        title="HMP human motion primitives (wrist accelerometer)",
        device="6-bit +-1.5 g accelerometer on the right wrist",
        placements=("wrist",),
        sensors=("acc",),
        native_rate="32 Hz",
        subjects="16 (f1-f5, m1-m11; very uneven)",
        classes=CLASSES,
        class_titles=TITLES,
        folder="hmp",
        citation="Bruno et al. 2013, IEEE ICRA pp. 1602-1607",
        licence=LICENCE,
        notes="short executions (a few seconds each); research licence: never shipped in a bundle or wheel",
        redistributable=False,
    )

    def parts(self, root: Path) -> list[str]:
        if not root.is_dir():
            raise LayoutError("expected a folder with one sub-folder per motion primitive", path=root)
        folders = {p.name.lower(): p for p in root.iterdir() if p.is_dir() and not p.name.lower().endswith("_model")}
        unknown = sorted(set(folders) - set(PRIMITIVES))
        if unknown:
            raise LayoutError(
                f"unknown primitive folder {folders[unknown[0]].name!r} (known: {', '.join(PRIMITIVES)})", path=root
            )
        parts = sorted(str(f.relative_to(root)) for folder in folders.values() for f in folder.glob("*.txt"))
        if not parts:
            raise LayoutError(
                "no Accelerometer-*.txt files below this folder (expected e.g. Walk/Accelerometer-"
                "2011-03-24-09-51-07-walk-f1.txt)",
                path=root,
            )
        return parts

    def read(self, root: Path, part: str, selection: ChannelSelection) -> list[Recording]:
        path = part_path(root, part)
        match = _FILE.match(path.name)
        if match is None:
            raise LayoutError(
                "file name does not follow Accelerometer-<YYYY-MM-DD-HH-MM-SS>-<primitive>-<volunteer>.txt", path=path
            )
        start, primitive, volunteer = match.groups()
        if primitive != path.parent.name.lower():
            raise LayoutError(f"file names primitive {primitive!r} but lies in folder {path.parent.name!r}", path=path)
        if primitive not in PRIMITIVES:
            raise LayoutError(f"unknown primitive {primitive!r} (known: {', '.join(PRIMITIVES)})", path=path)
        x = decode(_read_codes(path))
        return [
            Recording.create(
                np.arange(len(x)) / RATE_HZ,
                x,
                CHANNELS,
                subject=volunteer,
                source=path,
                recording_id=f"{primitive}-{start}-{volunteer}",
                classes=CLASSES,
                labels=np.full(len(x), PRIMITIVES.index(primitive), dtype=np.int16),
                meta={"side": "right", "start": start},
                first_line=1,
            )
        ]
