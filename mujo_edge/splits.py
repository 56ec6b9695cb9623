"""Subject-wise splits and label-fraction sampling: no subject is ever in two parts of a split.

All functions are seeded and deterministic: the same subjects and seed give the same split on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mujo_edge.errors import ConfigError, SplitError


@dataclass(frozen=True)
class Split:
    """Subject ids for training, validation (early stopping) and testing; checked to be disjoint."""

    name: str
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def __post_init__(self) -> None:
        parts = {"train": set(self.train), "val": set(self.val), "test": set(self.test)}
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            both = parts[a] & parts[b]
            if both:
                raise SplitError(f"split {self.name}: subjects {sorted(both)} are in both {a} and {b}")
        if not self.train:
            raise SplitError(f"split {self.name}: no training subject")

    def part_of(self, subject: str) -> str | None:
        for part in ("train", "val", "test"):
            if subject in getattr(self, part):
                return part
        return None


def _unique(subjects: Sequence[str]) -> list[str]:
    uniq = sorted({str(s) for s in subjects}, key=lambda s: (0, int(s)) if s.isdigit() else (1, s))
    if not uniq:
        raise SplitError("no subjects to split")
    return uniq


def subject_kfold(subjects: Sequence[str], k: int, *, seed: int = 0, n_val: int = 1) -> list[Split]:
    """k folds: each fold tests on about 1/k of the subjects; `n_val` other subjects validate.

    Subjects are shuffled with `seed` once, dealt into k folds of near-equal size, and each fold's
    validation subjects are drawn (seeded) from the remaining ones.
    """
    uniq = _unique(subjects)
    if not 2 <= k <= len(uniq):
        raise SplitError(f"k={k} folds need 2 <= k <= {len(uniq)} subjects")
    if not 0 <= n_val <= len(uniq) - math.ceil(len(uniq) / k) - 1:
        raise SplitError(f"n_val={n_val} leaves no training subject with {len(uniq)} subjects and k={k}")
    rng = np.random.default_rng(seed)
    order = [uniq[i] for i in rng.permutation(len(uniq))]
    folds = [list(f) for f in np.array_split(np.asarray(order, dtype=object), k)]
    out = []
    for i, test in enumerate(folds):
        rest = [s for s in order if s not in test]
        val = [rest[j] for j in sorted(rng.choice(len(rest), size=n_val, replace=False))] if n_val else []
        train = [s for s in rest if s not in val]
        out.append(Split(f"fold{i + 1}of{k}", tuple(train), tuple(val), tuple(test)))
    return out


def train_val_test(subjects: Sequence[str], *, val: float = 0.2, test: float = 0.2, seed: int = 0) -> Split:
    """One random split by subject with about `val` and `test` of the subjects in those parts (>= 1 each)."""
    uniq = _unique(subjects)
    if not (0 <= val < 1 and 0 < test < 1 and val + test < 1):
        raise SplitError(f"fractions val={val}, test={test} must be in [0, 1) and sum below 1")
    n_test = max(1, round(test * len(uniq)))
    n_val = max(1, round(val * len(uniq))) if val > 0 else 0
    if n_test + n_val >= len(uniq):
        raise SplitError(f"{len(uniq)} subjects are too few for {n_val} validation and {n_test} test subjects")
    order = [uniq[i] for i in np.random.default_rng(seed).permutation(len(uniq))]
    return Split(
        f"seed{seed}", tuple(order[n_test + n_val :]), tuple(order[n_test : n_test + n_val]), tuple(order[:n_test])
    )


def label_fraction(y: np.ndarray, fraction: float, *, seed: int = 0, min_per_class: int = 1) -> np.ndarray:
    """Indices of a per-class sample of `fraction` of the labelled windows (y >= 0), sorted.

    Every class keeps at least `min_per_class` windows (or all it has), so a 1 % draw still sees each class.
    """
    if not 0 < fraction <= 1:
        raise ConfigError(f"must be in (0, 1], got {fraction}", field="fraction")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(y[y >= 0]):
        idx = np.flatnonzero(y == c)
        n = min(len(idx), max(min_per_class, math.ceil(fraction * len(idx))))
        picked.append(rng.choice(idx, size=n, replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)
