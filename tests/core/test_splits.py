import numpy as np
import pytest

from mujo_edge.errors import ConfigError, SplitError
from mujo_edge.splits import Split, cover_classes, label_fraction, subject_kfold, train_val_test, with_validation

SUBJECTS = [str(i) for i in range(1, 11)]


def test_kfold_tests_every_subject_exactly_once_and_never_mixes_parts():
    folds = subject_kfold(SUBJECTS * 3, k=5, seed=3, n_val=1)  # repeats (one per window) are fine
    assert len(folds) == 5
    tested = [s for f in folds for s in f.test]
    assert sorted(tested, key=int) == SUBJECTS
    for f in folds:
        assert len(f.test) == 2 and len(f.val) == 1 and len(f.train) == 7
        assert not set(f.train) & set(f.test)
        assert not set(f.train) & set(f.val)
        assert not set(f.val) & set(f.test)


def test_kfold_is_seeded():
    assert subject_kfold(SUBJECTS, 5, seed=1) == subject_kfold(SUBJECTS, 5, seed=1)
    assert subject_kfold(SUBJECTS, 5, seed=1) != subject_kfold(SUBJECTS, 5, seed=2)


def test_kfold_rejects_impossible_requests():
    with pytest.raises(SplitError):
        subject_kfold(SUBJECTS, k=11)
    with pytest.raises(SplitError):
        subject_kfold(SUBJECTS, k=2, n_val=5)
    with pytest.raises(SplitError):
        subject_kfold([], k=2)


def test_train_val_test_by_subject():
    s = train_val_test(SUBJECTS, val=0.2, test=0.2, seed=0)
    assert len(s.test) == 2 and len(s.val) == 2 and len(s.train) == 6
    assert sorted(s.train + s.val + s.test, key=int) == SUBJECTS
    assert s == train_val_test(SUBJECTS, val=0.2, test=0.2, seed=0)
    with pytest.raises(SplitError):
        train_val_test(["1", "2"], val=0.5, test=0.5)


def test_split_refuses_a_subject_in_two_parts():
    with pytest.raises(SplitError, match="both train and test"):
        Split("x", train=("1", "2"), val=(), test=("2",))


def test_label_fraction_is_per_class_seeded_and_keeps_every_class():
    y = np.array([0] * 1000 + [1] * 100 + [2] * 3 + [-1] * 50)
    idx = label_fraction(y, 0.01, seed=4)
    counts = np.bincount(y[idx])
    assert counts.tolist() == [10, 1, 1]
    assert (y[idx] >= 0).all()
    np.testing.assert_array_equal(idx, label_fraction(y, 0.01, seed=4))
    assert not np.array_equal(idx, label_fraction(y, 0.01, seed=5))
    assert len(label_fraction(y, 1.0)) == 1103
    with pytest.raises(ConfigError):
        label_fraction(y, 0.0)


# --- validation subjects that hold every class (issue 16) ---------------------------------------------------------
CLASSES_OF = {"a": {0, 1, 2}, "b": {0, 1, 2}, "c": {0, 1}, "d": {0, 1, 2}, "e": {2}}


def test_a_validation_subject_with_every_class_is_kept_as_seeded():
    split = Split("f", train=("b", "c", "d"), val=("a",), test=("e",))
    assert cover_classes(split, CLASSES_OF) == (split, None)


def test_a_validation_subject_lacking_a_class_is_replaced_by_one_that_has_them_all():
    split = Split("f", train=("a", "b", "d"), val=("c",), test=("e",))
    covered, note = cover_classes(split, CLASSES_OF)
    assert note is None and covered.val == ("a",) and covered.test == ("e",)
    assert sorted(covered.train) == ["b", "c", "d"]


def test_subjects_are_added_when_no_single_one_covers_and_training_keeps_every_class():
    classes_of = {"a": {0}, "b": {1}, "c": {0, 1}, "d": {2}, "e": {2}, "t": {0}}
    split = Split("f", train=("b", "c", "d", "e"), val=("a",), test=("t",))
    covered, note = cover_classes(split, classes_of)
    assert note is None and set(covered.val) >= {"a"} and {1, 2} <= set().union(*(classes_of[s] for s in covered.val))
    assert set().union(*(classes_of[s] for s in covered.train)) == {0, 1, 2}


def test_a_class_only_one_training_subject_has_stays_in_training_with_a_warning():
    classes_of = {"a": {0, 1}, "b": {0, 1}, "c": {0, 1, 2}, "t": {0, 1, 2}}
    split = Split("fold2", train=("b", "c"), val=("a",), test=("t",))
    covered, note = cover_classes(split, classes_of)
    assert "c" in covered.train and note is not None and "[2]" in note and "--val-subjects" in note


def test_val_subjects_by_hand_never_take_a_test_subject():
    split = Split("f", train=("a", "b", "d"), val=("c",), test=("e",))
    assert with_validation(split, ["d"]).val == ("d",)
    with pytest.raises(ConfigError, match="test subjects"):
        with_validation(split, ["e"])
    with pytest.raises(ConfigError, match="no subjects"):
        with_validation(split, ["zz"])
