"""Batches of one fine-tuning epoch: whole shuffled passes, at least `min_batches` of them."""

import numpy as np

from mujo_edge.training.finetune import epoch_batches


def test_a_small_labelled_set_is_passed_over_until_there_are_enough_batches():
    rng = np.random.default_rng(0)
    batches = epoch_batches(70, 64, 16, rng)
    assert len(batches) >= 16
    # every pass holds each window once (a trailing batch of one is dropped: batch norm needs two)
    flat = np.concatenate(batches)
    counts = np.bincount(flat, minlength=70)
    assert counts.max() - counts.min() <= 1 and counts.min() >= len(batches) // 2 - 1


def test_one_batch_minimum_is_a_plain_epoch():
    a = epoch_batches(129, 64, 1, np.random.default_rng(3))
    order = np.random.default_rng(3).permutation(129)
    assert [len(b) for b in a] == [64, 64] and np.array_equal(np.concatenate(a), order[:128])
