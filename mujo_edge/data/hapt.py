"""UCI HAPT: smartphone on the waist, 30 subjects, 6 activities + 6 postural transitions (Reyes-Ortiz et al.).

`hapt.npz`: signals [N, 6] (acc in g, gyro in rad/s) at 50 Hz; per sample `label` (-1 unlabelled, 1..12),
`user`, `recording`, `sequence` (sample index within its recording). Unlabelled samples stay -1 and the
six transitions stay classes of their own; the "with NULL" protocol folds both into NULL.
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

FILE = "hapt.npz"
RATE_HZ = 50.0
ACTIVITIES = ("WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING")
TRANSITIONS = ("STAND_TO_SIT", "SIT_TO_STAND", "SIT_TO_LIE", "LIE_TO_SIT", "STAND_TO_LIE", "LIE_TO_STAND")
CLASSES = ACTIVITIES + TRANSITIONS  # file labels 1..12 -> class index 0..11
CHANNELS = (*triaxial("waist", "acc", "g"), *triaxial("waist", "gyro", "rad/s"))


class Hapt(DatasetLoader):
    spec = DatasetSpec(
        name="hapt",
        title="UCI HAPT activities + transitions (phone)",
        device="Samsung Galaxy S II",
        placements=("waist",),
        sensors=("acc", "gyro"),
        native_rate="50 Hz",
        subjects="30",
        classes=CLASSES,
        null_classes=TRANSITIONS,
        has_null=True,
        folder="hapt",
        class_titles={c: c.lower().replace("_", " ") for c in CLASSES},
        citation="Reyes-Ortiz et al. 2016, Neurocomputing 171:754-767",
        licence="CC BY 4.0",
        notes="unlabelled samples are NULL; transitions are NULL in the with-NULL protocol",
    )

    def parts(self, root: Path) -> list[str]:
        return single_file_parts(root, FILE)

    def read(self, root: Path, part: str, selection: ChannelSelection) -> list[Recording]:
        path = part_path(root, part)
        z = read_npz(path, {"signals": 2, "label": 1, "user": 1, "recording": 1, "sequence": 1})
        signals = z["signals"]
        n = len(signals)
        if signals.shape[1] != 6:
            raise LayoutError(f"signals have {signals.shape[1]} columns, expected 6", path=path, field="signals")
        for key in ("label", "user", "recording", "sequence"):
            if len(z[key]) != n:
                raise LayoutError(f"{len(z[key])} entries for {n} samples", path=path, field=key)
        label = z["label"].astype(np.int16)
        bad = (label != -1) & ((label < 1) | (label > len(CLASSES)))
        if bad.any():
            raise LayoutError(
                f"label {int(label[bad][0])} outside -1, 1..12 at sample {int(np.flatnonzero(bad)[0])}",
                path=path,
                field="label",
            )
        labels = np.where(label > 0, label - 1, -1).astype(np.int16)
        scale = np.array([STANDARD_GRAVITY] * 3 + [1.0] * 3, dtype=np.float32)
        out = []
        rec_ids = z["recording"]
        for rid in np.unique(rec_ids):
            idx = np.flatnonzero(rec_ids == rid)
            idx = idx[np.argsort(z["sequence"][idx], kind="stable")]
            users = np.unique(z["user"][idx])
            if len(users) != 1:
                raise LayoutError(
                    f"recording {int(rid)} has samples of users {users.tolist()}", path=path, field="user"
                )
            out.append(
                Recording.create(
                    z["sequence"][idx] / RATE_HZ,
                    signals[idx] * scale,
                    CHANNELS,
                    subject=int(users[0]),
                    source=path,
                    recording_id=f"hapt{int(rid):02d}",
                    classes=CLASSES,
                    labels=labels[idx],
                )
            )
        return out
