import numpy as np
import pytest

from mujo_edge.channels import triaxial
from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError
from mujo_edge.recording import Recording
from mujo_edge.windows import DROP_GAP, DROP_MIXED, concat, window_labels, window_recording


def rec(n, rate=50.0, labels=None, classes=("a", "b"), subject="7", t=None):
    t = np.arange(n) / rate if t is None else t
    x = np.stack([np.arange(len(t)), -np.arange(len(t)), np.zeros(len(t))], axis=1).astype(np.float32)
    return Recording.create(
        t,
        x,
        triaxial("wrist", "acc", "m/s^2"),
        subject=subject,
        source="r.csv",
        recording_id=f"r{subject}",
        classes=classes,
        labels=labels,
    )


def test_window_count_shape_layout_and_start_times():
    w = window_recording(rec(1000), WindowConfig())
    assert w.x.shape == ((1000 - 100) // 50 + 1, 3, 100) and w.x.dtype == np.float32
    np.testing.assert_array_equal(w.x[1, 0], np.arange(50, 150))  # channels first, step 50
    np.testing.assert_array_equal(w.x[1, 1], -np.arange(50, 150))
    np.testing.assert_allclose(w.start, np.arange(len(w)) * 1.0)
    assert set(w.subject) == {"7"} and set(w.recording) == {"r7"}
    assert w.channels == ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")


def test_configurable_length_and_step():
    w = window_recording(rec(1000), WindowConfig(length=200, step=20))
    assert w.x.shape == ((1000 - 200) // 20 + 1, 3, 200)


def test_recording_shorter_than_a_window_gives_no_windows():
    w = window_recording(rec(99), WindowConfig())
    assert len(w) == 0 and w.x.shape == (0, 3, 100)


def test_majority_label_with_purity_threshold():
    labels = np.zeros(300, np.int16)
    labels[150:] = 1
    w = window_recording(rec(300, labels=labels), WindowConfig(min_purity=0.6))
    # windows start at samples 0, 50, 100, 150, 200: the one at 100 is 50/50 -> dropped as mixed
    np.testing.assert_array_equal(w.start * 50, [0, 50, 150, 200])
    np.testing.assert_array_equal(w.y, [0, 0, 1, 1])
    assert w.dropped == {DROP_MIXED: 1}


def test_unlabelled_majority_is_kept_as_minus_one():
    labels = np.full(200, -1, np.int16)
    labels[:30] = 0
    w = window_recording(rec(200, labels=labels), WindowConfig())
    assert w.y.tolist() == [-1, -1, -1]
    assert w.class_counts() == {"a": 0, "b": 0, "(no label)": 3}


def test_window_labels_majority_purity_and_ends():
    labels = np.array([0, 0, 0, 1, 1, -1, -1, -1])
    majority, pure = window_labels(labels, [0, 2, 4, 6, -1], 4, 0.75)
    # [0 0 0 1] 3/4 pure; [0 1 1 -1] 2/4 mixed; [1 -1 -1 -1] 3/4 pure (no label); past the end; before the start
    assert majority[:3].tolist() == [0, 1, -1]
    assert pure.tolist() == [True, False, True, False, False]


def test_window_labels_ties_go_to_the_smallest_label_names_too():
    majority, pure = window_labels(np.array([-1, -1, 0, 0, 1, 1, 1, 1]), [0, 2], 4, 0.5)
    assert majority.tolist() == [-1, 0] and pure.tolist() == [True, True]
    majority, pure = window_labels(np.array(["b", "b", "a", "a", "a"]), [0, 1], 4, 0.75)
    assert majority.tolist() == ["a", "a"] and pure.tolist() == [False, True]
    majority, pure = window_labels(np.zeros(0, np.int16), [0], 4, 0.5)
    assert pure.tolist() == [False]


def test_window_recording_labels_by_window_labels():
    labels = np.repeat(np.array([0, 1, -1, 1], np.int16), 75)
    w = window_recording(rec(300, labels=labels), WindowConfig(min_purity=0.5))
    # windows at 0, 50, 100, 150, 200: 75 % a, 75 % b, 50/50 b and no label (a tie: no label wins), 75 % none, 75 % b
    assert w.y.tolist() == [0, 1, -1, -1, 1]


def test_windows_touching_a_gap_are_dropped_and_counted():
    t = np.concatenate([np.arange(0, 10, 0.02), np.arange(11, 20, 0.02)])  # 1 s gap at 10 s
    w = window_recording(rec(0, t=t), WindowConfig())
    assert w.dropped[DROP_GAP] > 0
    for s in w.start:  # no kept window overlaps (9.98, 11)
        assert s + 2.0 <= 10.0 or s >= 11.0 - 1e-9
    assert np.isfinite(w.x).all()


def test_concat_checks_channels_and_classes():
    a = window_recording(rec(500, subject="1"), WindowConfig())
    b = window_recording(rec(500, subject="2"), WindowConfig())
    both = concat([a, b])
    assert len(both) == len(a) + len(b) and both.subjects() == ["1", "2"]
    assert len(both.for_subjects(["2"])) == len(b)
    c = window_recording(rec(500, classes=("a", "c")), WindowConfig())
    with pytest.raises(ConfigError, match="classes differ"):
        concat([a, c])
