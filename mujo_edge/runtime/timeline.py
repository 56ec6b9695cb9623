"""A run of predictions as a timeline: consecutive windows with the same predicted (and true) label merged into
segments, for `predict`'s report and the summary of a live run or a replay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mujo_edge.runtime.prediction import Prediction


@dataclass(frozen=True)
class Segment:
    """Windows [start_s, end_s) in source seconds predicted as `label` (true label `true`, None when unknown);
    `confidence` is the mean probability of the predicted label over its `windows` windows."""

    start_s: float
    end_s: float
    label: str
    true: str | None
    windows: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": self.start_s,
            "end_s": self.end_s,
            "label": self.label,
            "true": self.true,
            "windows": self.windows,
            "confidence": self.confidence,
        }


def segments(
    predictions: Sequence[Prediction], truth: Sequence[str | None], step_s: float, smoothed: bool = False
) -> list[Segment]:
    """Consecutive windows with the same predicted and true label merged into one segment.

    A segment also ends where windows are not contiguous (a gap, or windows dropped), so a pause in the
    recording shows as a break in the timeline. `smoothed` merges by the smoothed label instead of the raw one.
    """
    runs: list[tuple[list[Prediction], str, str | None]] = []
    for p, y in zip(predictions, truth):
        label = p.smoothed_label if smoothed else p.label
        if runs:
            last, last_label, last_true = runs[-1]
            # contiguous: this window starts one step (within half a step) after the previous one
            if last_label == label and last_true == y and abs(p.start_s - last[-1].start_s - step_s) <= 0.5 * step_s:
                last.append(p)
                continue
        runs.append(([p], label, y))
    return [
        Segment(
            start_s=ps[0].start_s,
            end_s=ps[-1].end_s,
            label=label,
            true=y,
            windows=len(ps),
            confidence=float(np.mean([p.confidence for p in ps])),
        )
        for ps, label, y in runs
    ]
