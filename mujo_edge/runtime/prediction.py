"""What the runtime returns per window, and the optional majority smoothing over recent windows."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from mujo_edge.errors import ConfigError


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one window.

    start_s/end_s: the window in source time (seconds, the recording's or stream's own clock);
    end_s = start_s + length / rate_hz. probabilities: softmax of `logits`, one per bundle label.
    latency_s: inference time of this window (for a batch, the batch's time divided by its size).
    smoothed_label/smoothed_index: the majority over the last `smoothing` contiguous windows
    (equal to label/index when smoothing is 1).
    """

    label: str
    index: int
    probabilities: tuple[float, ...]
    logits: tuple[float, ...]
    start_s: float
    end_s: float
    latency_s: float
    smoothed_label: str
    smoothed_index: int

    @property
    def confidence(self) -> float:
        """Probability of the predicted label."""
        return self.probabilities[self.index]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of float logits [W, K] -> probabilities float64 [W, K]."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)  # shift so exp never overflows
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class Smoother:
    """Majority vote over the last `k` predictions of contiguous windows.

    Windows are contiguous when each starts one step after the previous; a jump (a gap, a dropped window)
    clears the history, so a vote never mixes activity from both sides of a gap. Ties go to the label
    predicted most recently among the tied ones.
    """

    def __init__(self, k: int, step_s: float) -> None:
        if k < 1:
            raise ConfigError(f"must be >= 1, got {k}", field="smoothing")
        self.k = k
        self.step_s = step_s
        self._history: deque[int] = deque(maxlen=k)
        self._last_start: float | None = None

    def reset(self) -> None:
        self._history.clear()
        self._last_start = None

    def update(self, index: int, start_s: float) -> int:
        """Add the prediction of the window starting at `start_s` (seconds); returns the smoothed index."""
        # half a step of tolerance: grid times are t0 + k / rate, so consecutive starts differ by step/rate
        # up to rounding
        if self._last_start is not None and abs(start_s - self._last_start - self.step_s) > 0.5 * self.step_s:
            self._history.clear()
        self._last_start = start_s
        self._history.append(index)
        counts: dict[int, int] = {}
        for i in self._history:
            counts[i] = counts.get(i, 0) + 1
        best = max(counts.values())
        for i in reversed(self._history):  # most recent first: ties go to the newest
            if counts[i] == best:
                return i
        return index  # unreachable: the history holds `index`
