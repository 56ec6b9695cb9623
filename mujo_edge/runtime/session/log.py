"""The session log: sets and rests in time order, as table rows, strict JSON and CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mujo_edge.metrics import dumps_strict

REST, UNKNOWN, EXERCISE = "rest", "unknown", "exercise"


@dataclass(frozen=True)
class SetEntry:
    number: int
    exercise: str
    start_s: float
    end_s: float
    repetitions: int
    mean_confidence: float
    windows: int
    period_s: float | None
    interrupted: bool  # ended by a gap in the stream, not by rest

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class RestEntry:
    start_s: float
    end_s: float
    kind: str  # "rest" (between sets, before the first, after the last) or "gap" (no samples)
    unknown_windows: int  # windows that moved without being a recognised exercise

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


CSV_COLUMNS = (
    "kind",
    "number",
    "exercise",
    "start_s",
    "end_s",
    "duration_s",
    "repetitions",
    "mean_confidence",
    "interrupted",
)


@dataclass(frozen=True)
class SessionLog:
    """Sets and rests in time order, plus notes (what the tracker could not do, and why)."""

    sets: tuple[SetEntry, ...]
    rests: tuple[RestEntry, ...]
    start_s: float | None
    end_s: float | None
    windows: int
    notes: tuple[str, ...] = ()
    calibration: str = ""

    def entries(self) -> list[SetEntry | RestEntry]:
        return sorted([*self.sets, *self.rests], key=lambda e: e.start_s)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per set or rest, keys CSV_COLUMNS (None where it does not apply). Times are seconds from the
        session's first window (`start_s`, on the stream's own clock, which may be wall-clock time)."""
        origin = self.start_s or 0.0
        out = []
        for e in self.entries():
            row: tuple[str, int | None, str | None, int | None, float | None, bool | None]
            if isinstance(e, SetEntry):
                row = ("set", e.number, e.exercise, e.repetitions, round(e.mean_confidence, 4), e.interrupted)
            else:
                row = (e.kind, None, None, None, None, None)
            kind, number, exercise, reps, conf, interrupted = row
            out.append(
                {
                    "kind": kind,
                    "number": number,
                    "exercise": exercise,
                    "start_s": round(e.start_s - origin, 3),
                    "end_s": round(e.end_s - origin, 3),
                    "duration_s": round(e.duration_s, 3),
                    "repetitions": reps,
                    "mean_confidence": conf,
                    "interrupted": interrupted,
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "windows": self.windows,
            "sets": len(self.sets),
            "repetitions": sum(s.repetitions for s in self.sets),
            "rest_s": round(sum(r.duration_s for r in self.rests if r.kind == REST), 3),
            "calibration": self.calibration,
            "notes": list(self.notes),
            "entries": self.rows(),
        }

    def to_json(self) -> str:
        return dumps_strict(self.to_dict(), indent=2)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows():
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return buffer.getvalue()

    def write(self, path: str | Path) -> Path:
        """Write the log as JSON (path ending .json) or CSV (any other suffix)."""
        path = Path(path)
        path.write_text(self.to_json() if path.suffix.lower() == ".json" else self.to_csv())
        return path
