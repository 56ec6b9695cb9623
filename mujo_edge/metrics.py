"""Scores over label names, in numpy alone (the runtime and benchmarks have no sklearn or torch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Unweighted mean of per-class F1 over the classes present in `y_true` or `y_pred` (sklearn's default)."""
    t, p = np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str)
    if t.size == 0:
        return float("nan")
    scores = []
    for c in np.union1d(t, p):
        tp = int(np.sum((t == c) & (p == c)))
        fp = int(np.sum((t != c) & (p == c)))
        fn = int(np.sum((t == c) & (p != c)))
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    t, p = np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str)
    return float(np.mean(t == p)) if t.size else float("nan")
