"""Bring-your-own recordings: one CSV file per recording, in a documented layout.

```
timestamp[ms],wrist_acc_x[g],wrist_acc_y[g],wrist_acc_z[g],label,subject
1657533977810,0.039,-0.36,0.93,squat,alice
```
- `timestamp`: strictly increasing; unit in brackets: `s` (default), `ms`, `us` or `ns`, or `datetime` for
  ISO 8601 text (`1970-01-01 00:04:40.000`; without a zone read as UTC).
- channel columns: `<placement>_<sensor>_<axis>` with sensor `acc` or `gyro` and axis x/y/z, unit in brackets
  (`m/s^2` default for acc, also `g`, `mg`; `rad/s` default for gyro, also `deg/s`). Accelerometers must
  report specific force (a watch lying face up reads about +1 g on z), as Android and BLE sensors do.
- `label` (optional): the activity; an empty cell means no activity (NULL).
- `subject` (optional): who wore the sensor; one value per file. Without it the file name is the subject.
Other columns are an error, so a typo never silently drops a channel. The root may be one file or a
folder searched recursively for `*.csv`. `mujo-edge live --record` writes exactly this layout.
Files with other column names load through a `mujo-csv.toml` next to them (`csv_mapping`), which renames
and drops columns before this parser reads the table; nothing is rewritten.

Checked on reading, each naming the file and line or column: cells are plain decimal numbers (`1_000` is
refused); the measured rate is one a wearable has (0.5 Hz-10 kHz; else the timestamp unit is wrong and the
error names the one that fits); no two samples are more than a year apart. A pause longer than the default
gap limit is allowed (a gap: never interpolated) and warned about with its line; an accelerometer that does
not average about 1 g is warned about with the unit its values are likely in (an error under
`units.strict_units`, the CLI's `--strict`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from mujo_edge.channels import Channel, ChannelSelection, triaxial_streams
from mujo_edge.config import WindowConfig
from mujo_edge.data.base import DatasetLoader, DatasetSpec, part_path
from mujo_edge.data.csv_mapping import MAPPING_FILE, find_mapping, mapping_file
from mujo_edge.data.csvio import CsvTable, read_csv
from mujo_edge.errors import ConfigError, LayoutError, SampleError
from mujo_edge.recording import MAX_RATE_HZ, MIN_RATE_HZ, UNLABELLED, Recording, find_gaps
from mujo_edge.units import check_gravity

log = logging.getLogger(__name__)

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
DATETIME = "datetime"  # the timestamp unit of ISO 8601 text (`timestamp[datetime]`)
_NOT_CHANNELS = ("timestamp", "label", "subject")
_COLUMN = re.compile(r"^(?P<name>[^\[\]]+?)\s*(?:\[(?P<unit>[^\[\]]+)\])?$")


def parse_column(cell: str) -> tuple[str, str | None]:
    """`wrist_acc_x[g]` -> ("wrist_acc_x", "g"); no brackets -> unit None."""
    m = _COLUMN.match(cell.strip())
    if not m:
        raise ConfigError(f"cannot parse column {cell!r}", field="header")
    return m.group("name").strip(), m.group("unit")


def format_column(name: str, unit: str | None) -> str:
    return f"{name}[{unit}]" if unit else name


# the loader's registered name: a checkpoint or bundle trained on a user's own files names this dataset
BYO_CSV = "csv"


class CsvRecordings(DatasetLoader):
    spec = DatasetSpec(
        name=BYO_CSV,
        title="your own CSV recordings",
        device="any",
        placements=(),
        sensors=("acc", "gyro"),
        native_rate="any",
        subjects="any",
        classes=(),
        folder="csv",
        citation="-",
        licence="yours",
        notes="see `mujo_edge.data.csv_layout` or the README for the layout",
    )

    def parts(self, root: Path) -> list[str]:
        if root.is_file():
            return [""]
        files = sorted(str(p.relative_to(root)) for p in root.rglob("*.csv"))
        if not files:
            raise LayoutError("no *.csv files in this folder", path=root)
        return files

    def fingerprint_files(self, root: Path) -> list[Path]:
        # the mapping changes what the files mean, so editing it must rebuild cached windows
        mapping = mapping_file(root)
        return [*super().fingerprint_files(root), *([mapping] if mapping.is_file() else [])]

    def read(self, root: Path, part: str, selection: ChannelSelection) -> list[Recording]:
        path = part_path(root, part)
        mapping = find_mapping(root)
        table = read_csv(path)
        subject = None
        if mapping is not None:
            table = mapping.apply(table)
            subject = mapping.subject_for(path, root)
        return [_recording(table, subject)]


def _recording(table: CsvTable, subject_from_name: str | None) -> Recording:
    """The one parser of the layout: a table with the layout's column names -> a checked Recording in SI units."""
    path = table.path
    columns = _parse_header(table)
    names = [n for n, _ in columns]
    if "timestamp" not in names:
        raise LayoutError(
            f"missing column 'timestamp' (name your time column in {MAPPING_FILE}: [time] column = ...)",
            path=path,
            line=1,
            field="timestamp",
        )
    t_header = table.header[names.index("timestamp")]
    t_unit = columns[names.index("timestamp")][1] or "s"
    if t_unit not in TIME_UNITS and t_unit != DATETIME:
        raise LayoutError(
            f"timestamp unit {t_unit!r} not one of {[*TIME_UNITS, DATETIME]}",
            path=path,
            line=1,
            field=table.aliases.get(t_header, "timestamp"),
        )
    channels: list[Channel] = []
    for (name, unit), header in zip(columns, table.header):
        if name in _NOT_CHANNELS:
            continue
        try:
            channels.append(Channel.parse(name, unit))
        except ConfigError as e:
            hint = "" if header in table.aliases else f" (map it in {MAPPING_FILE} [channels], or [columns] ignore it)"
            raise LayoutError(e.message + hint, path=path, line=1, field=table.field_name(header)) from None
    if not channels:
        raise LayoutError("no channel columns like wrist_acc_x", path=path, line=1)
    values = table.numbers([h for (n, _), h in zip(columns, table.header) if n not in _NOT_CHANNELS])
    x = (values * np.array([c.to_si for c in channels])).astype(np.float32)
    t = table.datetimes(t_header) if t_unit == DATETIME else table.numbers([t_header])[:, 0] * TIME_UNITS[t_unit]
    classes: tuple[str, ...] = ()
    labels = None
    if "label" in names:
        cells = [c.strip() for c in table.column(table.header[names.index("label")])]
        classes = tuple(sorted({c for c in cells if c}))
        labels = np.array([classes.index(c) if c else UNLABELLED for c in cells], dtype=np.int16)
    subject = subject_from_name or path.stem
    if "subject" in names:
        if subject_from_name is not None:
            raise LayoutError(
                f"a subject column and subject_from_name in {MAPPING_FILE}: keep one",
                path=path,
                line=1,
                field=table.field_name("subject"),
            )
        subjects = {c.strip() for c in table.column(table.header[names.index("subject")])}
        if len(subjects) != 1 or "" in subjects:
            raise SampleError(
                f"one non-empty subject per file expected, found {sorted(subjects)[:5]}",
                path=path,
                field=table.field_name("subject"),
            )
        subject = subjects.pop()
    recording = Recording.create(
        t,
        x,
        channels,
        subject=subject,
        source=path,
        recording_id=path.stem,
        classes=classes,
        labels=labels,
        lines=table.lines,
    )
    _check_rate(recording, table, t_unit)
    _warn_gaps(recording, table)
    _check_units(recording)
    return recording


def _parse_header(table: CsvTable) -> list[tuple[str, str | None]]:
    """(name, unit) of every header cell; LayoutError naming the file and the cell for a malformed one."""
    columns = []
    for cell in table.header:
        try:
            columns.append(parse_column(cell))
        except ConfigError as e:
            raise LayoutError(e.message, path=table.path, line=1, field=table.field_name(cell)) from None
    return columns


def _check_rate(recording: Recording, table: CsvTable, t_unit: str) -> None:
    """A measured rate no wearable has means the timestamp unit is wrong: SampleError naming the unit that fits."""
    rate = recording.native_rate_hz()
    if not np.isfinite(rate) or MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        return
    if t_unit not in TIME_UNITS:  # date-times carry their unit: a wrong rate is in the data, not the reading
        raise SampleError(
            f"samples arrive at {rate:.4g} Hz, outside what a wearable delivers ({MIN_RATE_HZ:g}-{MAX_RATE_HZ:g} Hz)",
            path=table.path,
            line=1,
            field="timestamp",
        )
    # read in unit u, the same numbers give rate * (seconds per declared unit) / (seconds per u)
    as_unit = {u: rate * TIME_UNITS[t_unit] / f for u, f in TIME_UNITS.items()}
    fits = sorted((abs(np.log(r / 50.0)), u) for u, r in as_unit.items() if MIN_RATE_HZ <= r <= MAX_RATE_HZ)
    hint = f"are the timestamps in [{fits[0][1]}] ({as_unit[fits[0][1]]:.4g} Hz)?" if fits else "no unit fits"
    raise SampleError(
        f"samples arrive at {rate:.4g} Hz read as [{t_unit}], outside what a wearable delivers "
        f"({MIN_RATE_HZ:g}-{MAX_RATE_HZ:g} Hz): {hint}",
        path=table.path,
        line=1,
        field="timestamp",
    )


def _warn_gaps(recording: Recording, table: CsvTable) -> None:
    """One warning per file with gaps: they are never interpolated, so the user should know where they are."""
    limit = WindowConfig().max_gap_s
    gaps = find_gaps(recording.t, recording.valid, limit)
    if gaps.count and gaps.after is not None:
        log.warning(
            "%s, line %d: the timestamp jumps %.4g s after the previous sample; %d gap(s) longer than %g s in this "
            "file (nothing is interpolated across a gap, windows touching one are dropped)",
            table.path,
            table.line(gaps.after),
            gaps.longest_s,
            gaps.count,
            limit,
        )


def _check_units(recording: Recording) -> None:
    """The gravity check of `units` on every tri-axial accelerometer of the file."""
    for stream, rows in triaxial_streams(recording.channel_names).items():
        first = recording.channels[rows[0]]
        if first.sensor == "acc":
            check_gravity(
                recording.x[:, list(rows)], first.source_unit, source=recording.source, stream=f"{stream}_x/y/z"
            )
