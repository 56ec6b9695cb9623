"""Subject-wise splits and label-fraction sampling: no subject is ever in two parts of a split.

All functions are seeded and deterministic: the same subjects and seed give the same split on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
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


def cover_classes(split: Split, classes_of: Mapping[str, Collection[int]]) -> tuple[Split, str | None]:
    """`split` with validation subjects that hold every class the training subjects have, and a warning when none do.

    Early stopping on a validation subject that lacks classes scores those classes as absent (one class at 0.000,
    an early epoch kept). Unchanged when the validation subjects already cover the classes (so seeded splits stay
    as they were); else the first other non-test subject (in the split's order) that covers them replaces them, else
    subjects are added greedily, most missing classes first, never taking a class's last training subject. The
    warning says what is still missing; it is None when validation covers every class.
    """

    def covered(subjects: Sequence[str]) -> set[int]:
        return set().union(*(set(classes_of.get(s, ())) for s in subjects)) if subjects else set()

    pool = [*split.train, *split.val]
    needed = covered(pool)
    if not split.val or covered(split.val) >= needed:
        return split, None
    for s in split.train:  # one subject that covers everything, and training keeps every class without it
        rest = [t for t in pool if t != s]
        if covered([s]) >= needed and covered(rest) >= needed:
            return _with_val(split, [s], pool), None
    val = list(split.val)
    while (missing := needed - covered(val)) and (
        options := [s for s in pool if s not in val and covered([t for t in pool if t not in val and t != s]) >= needed]
    ):
        best = max(options, key=lambda s: len(missing & covered([s])))
        if not missing & covered([best]):
            break
        val.append(best)
    missing = needed - covered(val)
    note = None
    if missing:
        note = (
            f"{split.name}: the validation subjects {', '.join(val)} lack classes {sorted(missing)} and no other "
            "choice keeps them in training: early stopping cannot see those classes (pass --val-subjects, or "
            "record them with more subjects)"
        )
    return _with_val(split, val, pool), note


def _with_val(split: Split, val: Sequence[str], pool: Sequence[str]) -> Split:
    return Split(split.name, tuple(s for s in pool if s not in val), tuple(val), split.test)


def with_validation(split: Split, val: Sequence[str]) -> Split:
    """`split` validated on the subjects `val` (taken from its training subjects; never a test subject)."""
    val = [str(s) for s in val]
    clash = [s for s in val if s in split.test]
    if clash:
        raise ConfigError(
            f"subjects {clash} are test subjects of {split.name} {list(split.test)}", field="--val-subjects"
        )
    pool = [*split.train, *split.val]
    unknown = [s for s in val if s not in pool]
    if unknown:
        raise ConfigError(f"no subjects {unknown}; {split.name} trains on {pool}", field="--val-subjects")
    if len(val) >= len(pool):
        raise ConfigError("leaves no training subject", field="--val-subjects")
    return _with_val(split, val, pool)


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
