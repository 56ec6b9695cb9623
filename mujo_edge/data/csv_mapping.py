"""Your own column names mapped onto the documented CSV layout, without rewriting a file.

A `mujo-csv.toml` in the data folder (or, for a single file, in its folder) renames columns to the layout's
names and drops the ones to ignore; the layout's one parser (`csv_layout`) then reads the table as usual:

```toml
[time]
column = "t"              # the time column
unit = "datetime"         # s, ms, us, ns, or datetime (ISO 8601 text such as 1970-01-01 00:04:40.000)

[channels]                # file column = "<placement>_<sensor>_<axis>[unit]", the layout's own syntax
ax = "wrist_acc_x[g]"
ay = "wrist_acc_y[g]"
az = "wrist_acc_z[g]"

[columns]
label = "activity"        # the column holding the label
subject = "user"          # the column holding the subject, or:
subject_from_name = '^(?P<subject>[a-z]+)_'   # a regex on the file's path below the root
ignore = ["epoch (ms)", "battery"]
```
Columns the mapping does not name keep their own names, so a file half in the layout needs half a mapping, and
an unknown column is still refused (naming it and the `ignore` list). Errors name the mapping file and key, or
the CSV file, line and the user's own column.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from mujo_edge.errors import LayoutError

if TYPE_CHECKING:  # numpy-free at run time, so `texts` can find files beside the data without numpy
    from mujo_edge.data.csvio import CsvTable

MAPPING_FILE = "mujo-csv.toml"
TIME_UNITS = ("s", "ms", "us", "ns", "datetime")
_SECTIONS = {
    "time": {"column", "unit"},
    "channels": None,
    "columns": {"label", "subject", "subject_from_name", "ignore"},
}


@dataclass(frozen=True)
class CsvMapping:
    """How the columns of the user's files map onto the layout: `rename` file column -> layout column
    (`timestamp[ms]`, `wrist_acc_x[g]`, `label`, `subject`), `ignore`d columns, and `subject_pattern`, a regex
    whose group `subject` (or first group) takes the subject from the file's path. `path` is the mapping file."""

    path: Path
    rename: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    ignore: tuple[str, ...] = ()
    subject_pattern: re.Pattern[str] | None = None

    def apply(self, table: CsvTable) -> CsvTable:
        """`table` with its columns renamed to the layout's and the ignored ones removed.

        A column the mapping names but the file lacks is a LayoutError naming the CSV file, line 1 and the column."""
        for column in (*self.rename, *self.ignore):
            if column not in table.header:
                raise LayoutError(
                    f"{self.path.name} maps column {column!r}, which this file lacks "
                    f"(header: {','.join(table.header)})",
                    path=table.path,
                    line=1,
                    field=column,
                )
        keep = [i for i, h in enumerate(table.header) if h not in self.ignore]
        header = tuple(self.rename.get(table.header[i], table.header[i]) for i in keep)
        aliases = {self.rename[h]: h for h in table.header if h in self.rename}
        for target, column in aliases.items():
            # a file with its own `timestamp` and a mapped time column would leave the parser to pick one
            if target in table.header and target not in self.rename and target not in self.ignore:
                raise LayoutError(
                    f"{self.path.name} maps {column!r} to {target!r}, which the file has too: ignore one of them",
                    path=table.path,
                    line=1,
                    field=target,
                )
        rows = table.rows if len(keep) == len(table.header) else [[r[i] for i in keep] for r in table.rows]
        return replace(table, header=header, rows=rows, aliases=MappingProxyType(aliases))

    def subject_for(self, path: Path, root: Path) -> str | None:
        """The subject the file name gives (None without a pattern); LayoutError when the pattern does not match."""
        if self.subject_pattern is None:
            return None
        name = path.relative_to(root).as_posix() if path != root else path.name
        m = self.subject_pattern.search(name)
        if not m or not (m.groupdict().get("subject") or (m.groups() or (None,))[0]):
            raise LayoutError(
                f"subject_from_name {self.subject_pattern.pattern!r} of {self.path.name} does not match {name!r} "
                "(it needs a group, e.g. '^(?P<subject>[^_]+)_')",
                path=path,
                field="subject",
            )
        return m.groupdict().get("subject") or m.group(1)

    def describe(self) -> list[tuple[str, str]]:
        """(file column, what it becomes) rows for `data inspect`."""
        rows = [(src, dst) for src, dst in self.rename.items()]
        rows += [(src, "(ignored)") for src in self.ignore]
        if self.subject_pattern is not None:
            rows.append(("(file name)", f"subject by {self.subject_pattern.pattern!r}"))
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "rename": dict(self.rename),
            "ignore": list(self.ignore),
            "subject_from_name": self.subject_pattern.pattern if self.subject_pattern else None,
        }


def beside_data(root: Path, name: str) -> Path:
    """The file `name` next to the data at `root`: in the folder, or beside the file when `root` is one file."""
    return (root.parent if root.is_file() else root) / name


def mapping_file(root: Path) -> Path:
    """Where the mapping of the data at `root` (a folder, or one CSV file) lives."""
    return beside_data(root, MAPPING_FILE)


def find_mapping(root: Path) -> CsvMapping | None:
    """The mapping next to the data at `root`, or None when the files are in the documented layout."""
    path = mapping_file(root)
    return load_mapping(path) if path.is_file() else None


def load_mapping(path: Path) -> CsvMapping:
    """Read and check a mapping file; LayoutError naming the file and the key (`time.unit`) of a bad entry."""
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise LayoutError(f"not a valid TOML file: {e}", path=path) from None
    _check_keys(doc, path)
    rename: dict[str, str] = {}

    def add(column: Any, target: str, key: str) -> None:
        if not isinstance(column, str) or not column.strip():
            raise LayoutError(f"expected a column name, got {column!r}", path=path, field=key)
        if column in rename:
            raise LayoutError(f"column {column!r} is mapped twice", path=path, field=key)
        if target in rename.values():
            raise LayoutError(f"two columns map to {target!r}", path=path, field=key)
        rename[column.strip()] = target

    time = doc.get("time", {})
    if "column" in time:
        unit = time.get("unit", "s")
        if unit not in TIME_UNITS:
            raise LayoutError(f"unit {unit!r} not one of {list(TIME_UNITS)}", path=path, field="time.unit")
        add(time["column"], f"timestamp[{unit}]", "time.column")
    elif "unit" in time:
        raise LayoutError("a time unit needs its column (time.column)", path=path, field="time.column")
    for column, target in doc.get("channels", {}).items():
        if not isinstance(target, str):
            raise LayoutError(
                f"expected a channel like 'wrist_acc_x[g]', got {target!r}", path=path, field=f"channels.{column}"
            )
        add(column, target.strip(), f"channels.{column}")
    columns = doc.get("columns", {})
    for role in ("label", "subject"):
        if role in columns:
            add(columns[role], role, f"columns.{role}")
    ignore = columns.get("ignore", [])
    if not isinstance(ignore, list) or not all(isinstance(c, str) for c in ignore):
        raise LayoutError("expected a list of column names", path=path, field="columns.ignore")
    both = sorted(set(ignore) & set(rename))
    if both:
        raise LayoutError(f"columns {both} are both mapped and ignored", path=path, field="columns.ignore")
    return CsvMapping(path, MappingProxyType(rename), tuple(ignore), _subject_pattern(columns, path))


def _check_keys(doc: dict[str, Any], path: Path) -> None:
    """Unknown sections or keys are typos that would silently do nothing: refuse them, naming the key."""
    for section, value in doc.items():
        if section not in _SECTIONS or not isinstance(value, dict):
            raise LayoutError(
                f"unknown section [{section}] (known: {', '.join(f'[{s}]' for s in _SECTIONS)})",
                path=path,
                field=section,
            )
        known = _SECTIONS[section]
        for key in value:
            if known is not None and key not in known:
                raise LayoutError(
                    f"unknown key (known in [{section}]: {', '.join(sorted(known))})",
                    path=path,
                    field=f"{section}.{key}",
                )


def _subject_pattern(columns: dict[str, Any], path: Path) -> re.Pattern[str] | None:
    pattern = columns.get("subject_from_name")
    if pattern is None:
        return None
    if "subject" in columns:
        raise LayoutError("give the subject by column or by file name, not both", path=path, field="columns.subject")
    try:
        return re.compile(str(pattern))
    except re.error as e:
        raise LayoutError(f"not a regular expression: {e}", path=path, field="columns.subject_from_name") from None
