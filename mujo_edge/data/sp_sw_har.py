"""sp-sw-har: smartwatch (wrist) and smartphone (pocket) worn at the same time (Matey-Sanz et al. 2023).

`DATA/sXX/sXX_YY_{sw|sp}.csv` with header `x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro,timestamp,label`
(acc m/s^2 with gravity, gyro rad/s, UNIX ms timestamps at ~100 Hz, irregular). Select the watch with
placement `wrist`, the phone with `pocket`; both together are aligned on the window grid by timestamp
(`prepare` aligns streams that share a `group`).

The phone batches samples: about 4.5 % of its rows repeat the previous timestamp. Those repeats are averaged
into one sample (counted as `merged_duplicates`); in a user's own file a repeated timestamp is an error.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mujo_edge.channels import Channel, ChannelSelection, triaxial
from mujo_edge.data.base import DatasetLoader, DatasetSpec
from mujo_edge.data.csvio import read_csv
from mujo_edge.errors import LayoutError, SampleError
from mujo_edge.recording import GROUP, Recording
from mujo_edge.resample import merge_duplicate_timestamps

CLASSES = ("SEATED", "STANDING_UP", "WALKING", "TURNING", "SITTING_DOWN")
VALUE_COLUMNS = ("x_acc", "y_acc", "z_acc", "x_gyro", "y_gyro", "z_gyro")
DEVICES = {"wrist": "sw", "pocket": "sp"}  # placement -> file suffix
_EXECUTION = re.compile(r"^(s\d+)_(\d+)_sw\.csv$")


def _channels(placement: str) -> tuple[Channel, ...]:
    return (*triaxial(placement, "acc", "m/s^2"), *triaxial(placement, "gyro", "rad/s"))


class SpSwHar(DatasetLoader):
    spec = DatasetSpec(
        name="sp_sw_har",
        title="sp-sw-har daily activities (watch + phone)",
        device="smartwatch (wrist) + smartphone (pocket), simultaneous",
        placements=("wrist", "pocket"),
        sensors=("acc", "gyro"),
        native_rate="~100 Hz irregular",
        subjects="23",
        classes=CLASSES,
        class_titles={
            "SEATED": "seated",
            "STANDING_UP": "standing up",
            "WALKING": "walking",
            "TURNING": "turning",
            "SITTING_DOWN": "sitting down",
        },
        folder="sp_sw_har",
        citation="Matey-Sanz, Casteleyn, Granell 2023, Data in Brief 109809",
        licence="CC BY 4.0",
        notes="select --placements wrist (watch, default in training) or pocket, or both",
    )

    def _data_dir(self, root: Path) -> Path:
        data = root / "DATA" if (root / "DATA").is_dir() else root
        if not any(p.is_dir() and re.match(r"^s\d+$", p.name) for p in data.iterdir()):
            raise LayoutError("expected DATA/sXX/sXX_YY_{sw,sp}.csv below this folder", path=root)
        return data

    def parts(self, root: Path) -> list[str]:
        data = self._data_dir(root)
        parts = sorted(
            str(p.relative_to(root))[: -len("_sw.csv")] for p in data.glob("s*/s*_*_sw.csv") if _EXECUTION.match(p.name)
        )
        if not parts:
            raise LayoutError("no sXX_YY_sw.csv files found", path=data)
        return parts

    def fingerprint_files(self, root: Path) -> list[Path]:
        return [
            root / f"{p}_{s}.csv"
            for p in self.parts(root)
            for s in DEVICES.values()
            if (root / f"{p}_{s}.csv").is_file()
        ]

    def _read_stream(self, path: Path, placement: str) -> Recording:
        table = read_csv(path, required=(*VALUE_COLUMNS, "timestamp", "label"))
        ts = table.numbers(["timestamp"])[:, 0]
        x = table.numbers(VALUE_COLUMNS).astype(np.float32)
        names = table.column("label")
        unknown = sorted(set(names) - set(CLASSES))
        if unknown:
            line = table.line(names.index(unknown[0]))  # counts blank lines, as an editor does
            raise SampleError(
                f"unknown label {unknown[0]!r} (known: {', '.join(CLASSES)})", path=path, line=line, field="label"
            )
        labels = np.array([CLASSES.index(n) for n in names], dtype=np.int16)
        if (np.diff(ts) < 0).any():
            i = int(np.flatnonzero(np.diff(ts) < 0)[0]) + 1
            raise SampleError("timestamps go backwards", path=path, line=table.line(i), field="timestamp")
        t, x, merged_labels, merged = merge_duplicate_timestamps(ts / 1000.0, x, labels)
        match = re.match(r"^(s\d+)_(\d+)_", path.name)
        subject, execution = (match.group(1), match.group(2)) if match else (path.parent.name, path.stem)
        return Recording.create(
            t,
            x,
            _channels(placement),
            subject=subject,
            source=path,
            recording_id=f"{subject}_{execution}",
            classes=CLASSES,
            labels=merged_labels,
            meta={"merged_duplicates": str(merged), "device": DEVICES[placement], GROUP: f"{subject}_{execution}"},
        )

    def read(self, root: Path, part: str, selection: ChannelSelection) -> list[Recording]:
        wanted = [p for p in DEVICES if selection.placements is None or p in selection.placements]
        if not wanted:
            return []
        # streams of one execution share a group: prepare() aligns them on the window grid
        return [self._read_stream(root / f"{part}_{DEVICES[p]}.csv", p) for p in wanted]
