"""Causal smoothing of per-window predictions, as a live recogniser can do it.

An exercise set lasts many windows, so the label a user sees can be the majority of the last k windows
instead of the latest window alone. It is causal (only past windows of the same recording, no look-ahead),
so offline scores computed with it are what the live view shows with the same setting, at the cost of
reacting up to (k - 1) / 2 steps later to a change of exercise.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from mujo_edge.errors import ConfigError


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


def causal_majority(pred: np.ndarray, recording: np.ndarray, start: np.ndarray, k: int, step_s: float) -> np.ndarray:
    """`Smoother` over a whole set of windows: each window's majority with up to k - 1 contiguous windows before
    it in the same recording. pred int [W]; recording str [W]; start float [W] seconds. Input order does not
    matter; the output is in the input's order."""
    smoother = Smoother(k, step_s)
    pred = np.asarray(pred)
    out = pred.copy()
    previous = None
    for i in np.lexsort((start, recording)):
        if recording[i] != previous:
            smoother.reset()
            previous = recording[i]
        out[i] = smoother.update(int(pred[i]), float(start[i]))
    return out
