"""Strict CSV reading that names the file, line and column of anything malformed."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np

from mujo_edge.errors import DataNotFoundError, LayoutError, SampleError


@dataclass(frozen=True)
class CsvTable:
    """Header and string cells of a CSV file.

    `lines` [rows] holds the 1-based line of each data row (blank lines skipped in between are counted), so
    messages name the line an editor shows; `first_line` is the line of the first data row. `aliases` maps a
    column renamed by a mapping (`csv_mapping`) back to the name in the file, which is what messages name.
    """

    path: Path
    header: tuple[str, ...]
    rows: list[list[str]]
    first_line: int
    lines: np.ndarray
    aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def field_name(self, name: str) -> str:
        """The column as the file names it (a mapped column by its own name, not the layout's)."""
        return self.aliases.get(name, name)

    def _mapped(self, name: str) -> str:
        return f" (mapped to {name})" if name in self.aliases else ""

    def _index(self, name: str) -> int:
        if name not in self.header:
            raise LayoutError(f"missing column (header: {','.join(self.header)})", path=self.path, line=1, field=name)
        return self.header.index(name)

    def line(self, row: int) -> int:
        """The 1-based line of data row `row` (0-based)."""
        return int(self.lines[row])

    def column(self, name: str) -> list[str]:
        i = self._index(name)
        return [r[i] for r in self.rows]

    def numbers(self, names: Sequence[str], dtype: type = np.float64) -> np.ndarray:
        """Columns `names` as a float array [rows, len(names)]; an unparsable cell is named by line and column.

        Cells are plain decimal numbers (`-1.5`, `2e-3`, `nan`): Python's float() also takes `1_000` and
        non-ASCII digits, which in a data file are typos, so they are refused here."""
        idx = [self._index(n) for n in names]
        for n, i in zip(names, idx):
            self._refuse_python_only_numbers(n, i)
        try:
            return np.array([[r[i] for i in idx] for r in self.rows], dtype=dtype).reshape(len(self.rows), len(idx))
        except (ValueError, OverflowError):
            for k, r in enumerate(self.rows):
                for n, i in zip(names, idx):
                    try:
                        float(r[i])
                    except ValueError:
                        raise SampleError(
                            f"not a number: {r[i]!r}{self._mapped(n)}",
                            path=self.path,
                            line=self.line(k),
                            field=self.field_name(n),
                        ) from None
            # every cell parses on its own, yet the table does not (e.g. too large for `dtype`)
            raise SampleError(f"columns {list(names)} do not fit {np.dtype(dtype).name}", path=self.path) from None

    def _refuse_python_only_numbers(self, name: str, i: int) -> None:
        # one join per column keeps the common case (nothing wrong) at C speed; only a hit walks the rows
        blob = "".join([r[i] for r in self.rows])
        if "_" not in blob and blob.isascii():
            return
        for k, r in enumerate(self.rows):
            if "_" in r[i] or not r[i].isascii():
                raise SampleError(
                    f"not a plain number: {r[i]!r} (digits, '.', 'e' and a sign only){self._mapped(name)}",
                    path=self.path,
                    line=self.line(k),
                    field=self.field_name(name),
                )

    def datetimes(self, name: str) -> np.ndarray:
        """Column `name` of ISO 8601 date-times (`1970-01-01 00:04:40.000`, `2024-05-01T10:00:00.020+02:00`) as
        seconds since 1970 [rows] (float64). A time without a zone is read as UTC: only differences matter, and
        a local reading would shift with the machine's zone. Mixing zoned and unzoned times is refused."""
        i = self._index(name)
        out = np.empty(len(self.rows), dtype=np.float64)
        zoned = None
        for k, r in enumerate(self.rows):
            try:
                d = datetime.fromisoformat(r[i].strip())
            except ValueError:
                raise SampleError(
                    f"not an ISO 8601 date-time: {r[i]!r} (like 1970-01-01 00:04:40.000){self._mapped(name)}",
                    path=self.path,
                    line=self.line(k),
                    field=self.field_name(name),
                ) from None
            if zoned is None:
                zoned = d.tzinfo is not None
            elif zoned != (d.tzinfo is not None):
                raise SampleError(
                    "date-times with and without a time zone in one file",
                    path=self.path,
                    line=self.line(k),
                    field=self.field_name(name),
                )
            out[k] = (d if zoned else d.replace(tzinfo=UTC)).timestamp()
        return out


def read_csv(path: Path, *, required: Sequence[str] = (), delimiter: str = ",") -> CsvTable:
    """Read a headed CSV file; every row must have as many cells as the header. Blank lines are skipped."""
    if not path.is_file():
        raise DataNotFoundError("file not found", path=path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise LayoutError("empty file (no header)", path=path, line=1)
            header = [h.strip() for h in header]
            rows = []
            lines = []
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # blank line
                if len(row) != len(header):
                    raise LayoutError(f"{len(row)} cells, header has {len(header)}", path=path, line=reader.line_num)
                rows.append(row)
                lines.append(reader.line_num)
    except UnicodeDecodeError as e:
        raise LayoutError(f"not UTF-8 text ({e.reason})", path=path) from None
    except csv.Error as e:
        raise LayoutError(f"malformed CSV: {e}", path=path) from None
    missing = [c for c in required if c not in header]
    if missing:
        raise LayoutError(
            f"missing columns {missing} (header: {','.join(header)})", path=path, line=1, field=missing[0]
        )
    if not rows:
        raise SampleError("no data rows", path=path, line=2)
    return CsvTable(path, tuple(header), rows, first_line=lines[0], lines=np.asarray(lines, dtype=np.int64))
