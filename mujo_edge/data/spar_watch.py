"""SPAR smartwatch shoulder-physiotherapy exercises (Burns et al. 2018), as shipped in seglearn 1.2.5.

`spar_watch.npz`: samples [N, 6] (ax, ay, az in g; wx, wy, wz in rad/s) at 50 Hz, `offsets` [R + 1],
and per recording `exercise`, `subject` (1..10), `side` (0 left, 1 right). Each recording is one set of
20 repetitions of one exercise.

Sign convention: the Apple Watch reports acceleration the iOS way (lying face up it reads z = -1 g).
Everything in mujo-edge is specific force as Android and MEMS sensors report it (face up: z = +9.81),
so the accelerometer is negated here. The data confirm the iOS sign: hanging arms (pendulum) read +1 g
along x on the left wrist and -1 g on the right, where the watch's x axis points to the hand and the elbow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mujo_edge.channels import ChannelSelection, triaxial
from mujo_edge.data.base import DatasetLoader, DatasetSpec, part_path, single_file_parts
from mujo_edge.data.npz import read_npz
from mujo_edge.errors import LayoutError
from mujo_edge.recording import Recording
from mujo_edge.units import STANDARD_GRAVITY

FILE = "spar_watch.npz"
RATE_HZ = 50.0
CODES = ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")
TITLES = {
    "PEN": "pendulum",
    "ABD": "abduction",
    "FEL": "forward elevation",
    "IR": "internal rotation",
    "ER": "external rotation",
    "TRAP": "lower trapezius row",
    "ROW": "bent-over row",
}
CHANNELS = (*triaxial("wrist", "acc", "g"), *triaxial("wrist", "gyro", "rad/s"))


class SparWatch(DatasetLoader):
    spec = DatasetSpec(
        name="spar_watch",
        title="SPAR shoulder exercises (Apple Watch)",
        device="Apple Watch",
        placements=("wrist",),
        sensors=("acc", "gyro"),
        native_rate="50 Hz",
        subjects="10",
        classes=CODES,
        class_titles=TITLES,
        folder="spar_watch",
        citation="Burns et al. 2018, Physiol. Meas. 39:075007",
        licence="BSD-3 (seglearn)",
        notes="accelerometer converted from the iOS sign to specific force",
    )

    def parts(self, root: Path) -> list[str]:
        return single_file_parts(root, FILE)

    def read(self, root: Path, part: str, selection: ChannelSelection) -> list[Recording]:
        path = part_path(root, part)
        z = read_npz(path, {"samples": 2, "offsets": 1, "exercise": 1, "subject": 1, "side": 1, "exercises": 1})
        samples, offsets = z["samples"], z["offsets"]
        n = len(offsets) - 1
        if samples.shape[1] != 6:
            raise LayoutError(f"samples have {samples.shape[1]} columns, expected 6", path=path, field="samples")
        for key in ("exercise", "subject", "side"):
            if len(z[key]) != n:
                raise LayoutError(f"{len(z[key])} entries for {n} recordings", path=path, field=key)
        if offsets[0] != 0 or offsets[-1] != len(samples) or (np.diff(offsets) <= 0).any():
            raise LayoutError("offsets must rise from 0 to the number of samples", path=path, field="offsets")
        if tuple(str(e) for e in z["exercises"]) != CODES:
            raise LayoutError(
                f"exercise codes {list(z['exercises'])}, expected {list(CODES)}", path=path, field="exercises"
            )
        if not ((z["exercise"] >= 0) & (z["exercise"] < len(CODES))).all():
            raise LayoutError("exercise index out of range", path=path, field="exercise")
        # iOS sign -> specific force, then g -> m/s^2
        scale = np.array([-STANDARD_GRAVITY] * 3 + [1.0] * 3, dtype=np.float32)
        out = []
        for r in range(n):
            x = samples[offsets[r] : offsets[r + 1]] * scale
            side = "right" if int(z["side"][r]) == 1 else "left"
            out.append(
                Recording.create(
                    np.arange(len(x)) / RATE_HZ,
                    x,
                    CHANNELS,
                    subject=int(z["subject"][r]),
                    source=path,
                    recording_id=f"spar{r:03d}",
                    classes=CODES,
                    labels=np.full(len(x), int(z["exercise"][r]), dtype=np.int16),
                    meta={"side": side},
                )
            )
        return out
