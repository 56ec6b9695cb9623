"""What the runtime returns per window, and the optional majority smoothing over recent windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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
    probs: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return probs
