"""The rule that scores a session log against the sets done (benchmark and demo share it)."""

from mujo_edge.runtime.session import SessionLog, SetEntry, TrueSet, match_sets


def entry(number, exercise, start, end, reps):
    return SetEntry(number, exercise, start, end, reps, 0.9, int(end - start), 2.0, False)


def test_found_exercise_reps_and_boundaries():
    truth = [TrueSet("curl", 10.0, 40.0, 15), TrueSet("raise", 60.0, 90.0, 12), TrueSet("row", 120.0, 150.0, 10)]
    log = SessionLog((entry(1, "curl", 11.0, 41.5, 16), entry(2, "curl", 62.0, 95.0, 12)), (), 0.0, 160.0, 160)
    first, second, third = match_sets(log, truth)
    assert first.found is log.sets[0] and first.all_right and first.boundaries_right
    assert first.start_error_s == 1.0 and first.end_error_s == 1.5
    assert second.found is log.sets[1] and not second.exercise_right and second.reps_right
    assert not second.boundaries_right and not second.all_right  # ends 5 s late, wrong exercise
    assert third.found is None and not third.reps_right and third.to_dict()["found"] is False


def test_a_detected_set_matches_one_true_set_at_most():
    truth = [TrueSet("curl", 0.0, 30.0, 20), TrueSet("curl", 32.0, 70.0, 20)]
    merged = SessionLog((entry(1, "curl", 0.0, 70.0, 40),), (), 0.0, 70.0, 70)
    first, second = match_sets(merged, truth)
    assert second.found is merged.sets[0] and first.found is None  # it covers the second set more
    assert not second.reps_right


def test_less_than_half_covered_is_not_found():
    truth = [TrueSet("curl", 0.0, 30.0, 20)]
    log = SessionLog((entry(1, "curl", 16.0, 40.0, 9),), (), 0.0, 40.0, 40)
    assert match_sets(log, truth)[0].found is None
