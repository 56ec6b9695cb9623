"""Strict CSV reading that names the file, line and column of anything malformed."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mujo_edge.errors import DataNotFoundError, LayoutError, SampleError


@dataclass(frozen=True)
class CsvTable:
    """Header and string cells of a CSV file.

    `lines` [rows] holds the 1-based line of each data row (blank lines skipped in between are counted), so
    messages name the line an editor shows; `first_line` is the line of the first data row.
    """

    path: Path
    header: tuple[str, ...]
    rows: list[list[str]]
    first_line: int
    lines: np.ndarray

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
                            f"not a number: {r[i]!r}", path=self.path, line=self.line(k), field=n
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
                    f"not a plain number: {r[i]!r} (digits, '.', 'e' and a sign only)",
                    path=self.path,
                    line=self.line(k),
                    field=name,
                )


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
