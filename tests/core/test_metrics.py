"""Scores against hand-computed values: the numbers training, export, zero-shot and the runtime report."""

import numpy as np
import pytest

from mujo_edge.errors import ConfigError
from mujo_edge.metrics import accuracy, confusion_matrix, f1_per_class, macro_f1, macro_f1_from_confusion, scores

# true 0 0 1 1 2, predicted 0 1 1 1 0; class 3 never occurs
Y_TRUE = np.array([0, 0, 1, 1, 2])
Y_PRED = np.array([0, 1, 1, 1, 0])


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 4)
    assert cm.dtype == np.int64
    assert cm.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]


def test_f1_per_class_by_hand():
    # class 0: tp 1, 2 true, 2 predicted -> 2/4; class 1: tp 2, 2 true, 3 predicted -> 4/5;
    # class 2: tp 0 -> 0; class 3: neither true nor predicted -> undefined
    f1 = f1_per_class(confusion_matrix(Y_TRUE, Y_PRED, 4))
    assert f1[:3].tolist() == [0.5, 0.8, 0.0] and np.isnan(f1[3])


def test_scores_dict_by_hand():
    s = scores(Y_TRUE, Y_PRED, 4)
    assert s["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert s["accuracy"] == 0.6 and s["n"] == 5
    assert s["confusion"] == confusion_matrix(Y_TRUE, Y_PRED, 4).tolist()
    assert s["f1_per_class"][:3] == [0.5, 0.8, 0.0] and np.isnan(s["f1_per_class"][3])


def test_macro_f1_over_chosen_classes():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 4)
    assert macro_f1_from_confusion(cm, [0, 1]) == pytest.approx(0.65)
    assert macro_f1_from_confusion(cm, [3]) == 0.0  # a chosen class without samples scores 0, never NaN
    assert np.isnan(macro_f1_from_confusion(np.zeros((2, 2), np.int64)))


def test_label_names_give_the_same_numbers():
    t, p = ["a", "a", "b", "b", "c"], ["a", "b", "b", "b", "a"]
    assert macro_f1(t, p) == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    assert accuracy(t, p) == 0.6
    assert macro_f1(["a"], ["z"]) == 0.0  # "z" is predicted only: it enters the mean with F1 0
    assert np.isnan(macro_f1([], [])) and np.isnan(accuracy([], []))


def test_no_samples():
    s = scores(np.zeros(0, np.int64), np.zeros(0, np.int64), 3)
    assert np.isnan(s["macro_f1"]) and s["accuracy"] == 0.0 and s["n"] == 0


@pytest.mark.parametrize(
    "t, p, field", [([0, 3], [0, 0], "y_true"), ([0, 0], [0, -1], "y_pred"), ([0, 1], [0], "y_pred")]
)
def test_indices_outside_the_classes_are_errors(t, p, field):
    with pytest.raises(ConfigError) as e:
        confusion_matrix(np.array(t), np.array(p), 3)
    assert e.value.field == field


def test_equal_to_sklearn_bit_for_bit():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for n, k in ((50, 4), (500, 9), (7, 5)):
        y = rng.integers(0, k, n)
        p = np.where(rng.random(n) < 0.5, y, rng.integers(0, k, n))
        s = scores(y, p, k)
        assert s["macro_f1"] == sk.f1_score(y, p, average="macro", zero_division=0)
        assert s["accuracy"] == sk.accuracy_score(y, p)
        present = sorted(set(y.tolist()))
        assert macro_f1_from_confusion(confusion_matrix(y, p, k), present) == sk.f1_score(
            y, p, labels=present, average="macro", zero_division=0
        )
        assert np.array_equal(confusion_matrix(y, p, k), sk.confusion_matrix(y, p, labels=list(range(k))))
