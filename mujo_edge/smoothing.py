"""Causal smoothing of per-window predictions, as a live recogniser can do it.

An exercise set lasts many windows, so the label a user sees can be the majority of the last k windows
instead of the latest window alone. It is causal (only past windows of the same recording, no look-ahead),
so offline scores computed with it are what the live view shows with the same setting, at the cost of
reacting up to (k - 1) / 2 steps later to a change of exercise.
"""

from __future__ import annotations

import numpy as np

from mujo_edge.errors import ConfigError


def causal_majority(pred: np.ndarray, recording: np.ndarray, start: np.ndarray, k: int, step_s: float) -> np.ndarray:
    """Majority label over each window and up to k - 1 windows before it.

    pred int [W] class per window; recording str [W]; start float [W] window start in seconds; step_s the
    hop between consecutive windows. Only windows of the same recording that follow each other without a
    gap (start difference == step_s) count; a tie goes to the most recent of the tied labels. Input order
    does not matter; the output is in the input's order.
    """
    if k < 1:
        raise ConfigError(f"must be >= 1, got {k}", field="smoothing")
    pred = np.asarray(pred)
    if k == 1 or len(pred) == 0:
        return pred.copy()
    order = np.lexsort((start, recording))
    out = np.empty_like(pred)
    history: list[int] = []
    prev_rec, prev_start = None, None
    for i in order:
        contiguous = recording[i] == prev_rec and prev_start is not None and abs(start[i] - prev_start - step_s) < 1e-6
        history = (history + [int(pred[i])])[-k:] if contiguous else [int(pred[i])]
        counts: dict[int, int] = {}
        for label in history:
            counts[label] = counts.get(label, 0) + 1
        best = max(counts.values())
        out[i] = next(label for label in reversed(history) if counts[label] == best)
        prev_rec, prev_start = recording[i], start[i]
    return out
