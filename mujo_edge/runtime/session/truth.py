"""A session log against the truth of a recording: which detected set matches each true set, and how well.

The one rule the benchmark (benchmarks/session_tracking.py) and the demo's summary share: a true set is found
when a detected set covers at least half of it, each detected set matching one true set at most (largest
overlaps first); its exercise is right
when the names agree, its repetitions when they are within +-1, its boundaries when both ends are within +-2 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mujo_edge.runtime.session.log import SessionLog, SetEntry

BOUNDARY_S = 2.0
REPS_TOLERANCE = 1


@dataclass(frozen=True)
class TrueSet:
    """A set as it was done: exercise, start and end (s, the log's clock), repetitions (None: not known)."""

    exercise: str
    start_s: float
    end_s: float
    repetitions: int | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class SetMatch:
    truth: TrueSet
    found: SetEntry | None

    @property
    def exercise_right(self) -> bool:
        return self.found is not None and self.found.exercise == self.truth.exercise

    @property
    def reps_right(self) -> bool:
        t = self.truth.repetitions
        return self.found is not None and t is not None and abs(self.found.repetitions - t) <= REPS_TOLERANCE

    @property
    def start_error_s(self) -> float | None:
        return None if self.found is None else self.found.start_s - self.truth.start_s

    @property
    def end_error_s(self) -> float | None:
        return None if self.found is None else self.found.end_s - self.truth.end_s

    @property
    def boundaries_right(self) -> bool:
        s, e = self.start_error_s, self.end_error_s
        return s is not None and e is not None and abs(s) <= BOUNDARY_S and abs(e) <= BOUNDARY_S

    @property
    def all_right(self) -> bool:
        """Found, exercise right, repetitions within +-1: the set-level score."""
        return self.exercise_right and self.reps_right

    def to_dict(self) -> dict[str, Any]:
        return {
            "exercise": self.truth.exercise,
            "true_repetitions": self.truth.repetitions,
            "found": self.found is not None,
            "predicted_exercise": None if self.found is None else self.found.exercise,
            "exercise_right": self.exercise_right,
            "repetitions": None if self.found is None else self.found.repetitions,
            "reps_within_1": self.reps_right,
            "start_error_s": self.start_error_s,
            "end_error_s": self.end_error_s,
            "boundaries_within_2s": self.boundaries_right,
            "all_right": self.all_right,
            "truth": asdict(self.truth),
        }


def match_sets(log: SessionLog, truth: Sequence[TrueSet]) -> list[SetMatch]:
    """One SetMatch per true set, in the order given. One to one: a detected set spanning two true sets (two
    sets merged across the rest between them) is the match of the one it covers more, the other is not found."""
    overlap = [[max(0.0, min(s.end_s, t.end_s) - max(s.start_s, t.start_s)) for s in log.sets] for t in truth]
    candidates = sorted(
        ((o, i, j) for i, row in enumerate(overlap) for j, o in enumerate(row) if o >= 0.5 * truth[i].duration_s),
        reverse=True,
    )
    chosen: dict[int, SetEntry] = {}
    used: set[int] = set()
    for _, i, j in candidates:  # largest overlaps first
        if i not in chosen and j not in used:
            chosen[i] = log.sets[j]
            used.add(j)
    return [SetMatch(t, chosen.get(i)) for i, t in enumerate(truth)]
