"""The default bundle states its cross-validated score next to the forest's on the same folds."""

import csv

import pytest

from mujo_edge.errors import ConfigError
from mujo_edge.export.release_default import cross_validated
from mujo_edge.training.experiments import COLUMNS


def _write(path, rows):
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in COLUMNS})


def _row(method, regime, fold, f1, seed=None):
    return {
        "method": method,
        "regime": regime,
        "fraction": "1.0",
        "fold": fold,
        "run": fold,
        "seed": seed if seed is not None else 1009 * (int(fold) - 1) + int(fold) - 1,
        "macro_f1": f1,
        "macro_f1_smoothed": f1 + 0.01,
    }


def test_the_recipe_and_the_forest_on_the_same_folds(tmp_path):
    model, forest = tmp_path / "model.csv", tmp_path / "forest.csv"
    _write(model, [_row("exercise", "finetuned", str(k), 0.8 + 0.01 * k) for k in range(1, 6)])
    _write(
        forest, [_row("random_forest", "-", str(k), 0.7) for k in range(1, 6)] + [_row("none", "baseline", "1", 0.1)]
    )
    cv = cross_validated(model, "exercise", forest_csv=forest)
    assert cv["macro_f1_mean"] == pytest.approx(0.83) and cv["runs"] == 5
    assert cv["forest"]["macro_f1_mean"] == pytest.approx(0.7) and cv["forest"]["runs"] == 5
    assert cv["macro_f1_smoothed5_mean"] == pytest.approx(0.84)


def test_a_forest_of_other_folds_or_seeds_is_refused(tmp_path):
    model, forest = tmp_path / "model.csv", tmp_path / "forest.csv"
    _write(model, [_row("exercise", "finetuned", str(k), 0.8) for k in range(1, 6)])
    _write(forest, [_row("random_forest", "-", str(k), 0.7, seed=7) for k in range(1, 6)])
    with pytest.raises(ConfigError, match="same folds"):
        cross_validated(model, "exercise", forest_csv=forest)
    with pytest.raises(ConfigError, match="no mujo/finetuned row"):
        cross_validated(model)
