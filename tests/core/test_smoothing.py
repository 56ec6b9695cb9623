"""Causal majority smoothing: only the past of the same recording, no look-ahead, gaps restart it."""

import numpy as np
import pytest

from mujo_edge.errors import ConfigError
from mujo_edge.smoothing import causal_majority


def test_majority_over_the_last_k_windows_of_one_recording():
    pred = np.array([0, 0, 1, 0, 1, 1, 1])
    rec = np.array(["a"] * 7)
    start = np.arange(7) * 1.0
    out = causal_majority(pred, rec, start, k=3, step_s=1.0)
    # window 2: {0,0,1} -> 0; window 4: {1,0,1} -> 1; window 3: {0,1,0} -> 0
    assert out.tolist() == [0, 0, 0, 0, 1, 1, 1]


def test_tie_goes_to_the_most_recent_label_and_k1_is_identity():
    pred = np.array([0, 1])
    rec = np.array(["a", "a"])
    assert causal_majority(pred, rec, np.array([0.0, 1.0]), k=2, step_s=1.0).tolist() == [0, 1]
    assert causal_majority(pred, rec, np.array([0.0, 1.0]), k=1, step_s=1.0).tolist() == [0, 1]


def test_recordings_and_gaps_do_not_leak_and_input_order_is_kept():
    pred = np.array([1, 1, 0, 0, 1, 0])
    rec = np.array(["a", "a", "b", "a", "b", "a"])
    start = np.array([0.0, 1.0, 0.0, 5.0, 1.0, 6.0])  # recording a has a gap between 1 s and 5 s
    out = causal_majority(pred, rec, start, k=5, step_s=1.0)
    # a@5 starts afresh after the gap (0), a@6 sees {0, 0}; b@1 sees {0, 1} -> tie -> most recent (1)
    assert out.tolist() == [1, 1, 0, 0, 1, 0]
    shuffled = np.array([5, 3, 1, 4, 0, 2])
    again = causal_majority(pred[shuffled], rec[shuffled], start[shuffled], k=5, step_s=1.0)
    assert again.tolist() == out[shuffled].tolist()


def test_k_must_be_positive():
    with pytest.raises(ConfigError):
        causal_majority(np.array([0]), np.array(["a"]), np.array([0.0]), k=0, step_s=1.0)
