"""Scores (macro-F1, accuracy, confusion), in numpy alone: the one home of every score mujo-edge reports.

The runtime and the benchmarks have no sklearn or torch, and training, export and zero-shot must report the
very same numbers, so all of them call these functions. Two label forms are served:
- class indices `y [N]` in `[0, n_classes)` (training, export parity, zero-shot): `confusion_matrix`, `scores`,
  `macro_f1_from_confusion`;
- label names (the runtime, demo and benchmarks compare strings): `macro_f1`, `accuracy`.

F1 of a class is 2 tp / (2 tp + fp + fn), which is sklearn's formula term for term, so results match
`sklearn.metrics.f1_score(..., average="macro", zero_division=0)` bit for bit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from mujo_edge.errors import ConfigError


def confusion_matrix(
    y_true: np.ndarray | Sequence[int], y_pred: np.ndarray | Sequence[int], n_classes: int
) -> np.ndarray:
    """cm int64 [K, K], cm[i, j] = samples of true class i predicted as j (K = `n_classes`).

    ConfigError when the two do not have the same length or an index lies outside [0, K) (a negative index
    would otherwise count silently in the last class)."""
    t, p = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if t.ndim != 1 or t.shape != p.shape:
        raise ConfigError(f"y_true {t.shape} and y_pred {p.shape} must be two vectors of one length", field="y_pred")
    if n_classes < 1:
        raise ConfigError(f"must be >= 1, got {n_classes}", field="n_classes")
    for name, v in (("y_true", t), ("y_pred", p)):
        if v.size and (v.min() < 0 or v.max() >= n_classes):
            raise ConfigError(
                f"class indices must lie in [0, {n_classes}), got {int(v.min())}..{int(v.max())}", field=name
            )
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def f1_per_class(cm: np.ndarray) -> np.ndarray:
    """F1 float64 [K] of each class of a confusion matrix; NaN for a class neither true nor predicted."""
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    seen = support + predicted
    return np.where(seen > 0, 2 * tp / np.maximum(seen, 1), np.nan)


def macro_f1_from_confusion(cm: np.ndarray, classes: Sequence[int] | None = None) -> float:
    """Unweighted mean F1 over `classes` (indices), by default over the classes present in truth or prediction.

    Zero-shot passes the classes that have true samples, so predictions into a class without windows still
    count as errors but that class's undefined F1 does not enter the mean. NaN when nothing is averaged."""
    f1 = f1_per_class(cm)
    if classes is None:
        chosen = f1[~np.isnan(f1)]
    else:
        # a chosen class with no sample at all has F1 0 (sklearn's zero_division=0), never NaN
        chosen = np.nan_to_num(f1[np.asarray(list(classes), dtype=np.int64)], nan=0.0)
    return float(np.mean(chosen)) if chosen.size else float("nan")


def scores(y_true: np.ndarray | Sequence[int], y_pred: np.ndarray | Sequence[int], n_classes: int) -> dict[str, Any]:
    """Scores of class indices as the JSON that metrics files store.

    Keys: "macro_f1" (over the classes present in y_true or y_pred; NaN without samples), "accuracy"
    (0.0 without samples), "f1_per_class" [K] (NaN for a class never true nor predicted), "confusion" [K][K],
    "n" (samples)."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    n = int(cm.sum())
    return {
        "macro_f1": macro_f1_from_confusion(cm),
        "accuracy": float(np.trace(cm) / max(n, 1)),
        "f1_per_class": f1_per_class(cm).tolist(),
        "confusion": cm.tolist(),
        "n": n,
    }


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Unweighted mean of per-class F1 over the label names present in `y_true` or `y_pred` (sklearn's default)."""
    t, p = np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str)
    if t.size == 0:
        return float("nan")
    names = np.union1d(t, p)
    cm = confusion_matrix(np.searchsorted(names, t), np.searchsorted(names, p), len(names))
    return macro_f1_from_confusion(cm)


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Share of equal labels; NaN without samples."""
    t, p = np.asarray(y_true, dtype=str), np.asarray(y_pred, dtype=str)
    return float(np.mean(t == p)) if t.size else float("nan")


# Why a score is undefined, by the key it is stored under; JSON has no NaN, so the value becomes null and this
# reason goes next to it (key "<name>_undefined"), for an app that reads the file to show instead of a number.
UNDEFINED_REASONS = {
    "f1_per_class": "null for a class with no window in the truth and none predicted (e.g. the test subjects "
    "lack that class): its F1 is undefined",
    "macro_f1": "no window was scored",
    "accuracy": "no window was scored",
    "delta_macro_f1": "the macro-F1 it compares is undefined",
}
UNDEFINED_DEFAULT = "not a finite number (NaN or infinite): undefined, e.g. nothing to measure it on"


def _finite(v: Any) -> bool:
    return not isinstance(v, float | np.floating) or bool(np.isfinite(v))


def json_safe(value: Any) -> Any:
    """`value` with every NaN/Infinity replaced by None, and for each dict key holding one (or a list holding
    one) a sibling "<key>_undefined" with the reason (UNDEFINED_REASONS). numpy scalars become Python ones."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            out[k] = json_safe(v)
            bad = not _finite(v) or (isinstance(v, list | tuple) and not all(_finite(e) for e in v))
            if bad and isinstance(k, str):
                out[f"{k}_undefined"] = UNDEFINED_REASONS.get(k, UNDEFINED_DEFAULT)
        return out
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def dumps_strict(value: Any, **kwargs: Any) -> str:
    """JSON text that any strict parser reads: undefined scores are null with their reason (`json_safe`), and
    allow_nan=False so a NaN that slips past raises here instead of writing a file apps cannot parse."""
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)
