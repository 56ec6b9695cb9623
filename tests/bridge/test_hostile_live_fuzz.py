"""Issue 15: fuzzed frames through the whole live path (decoder -> clock -> windower -> recognizer) on every
protocol: no exception ends the session, the pipeline never sees a batch it cannot use, the model recognises
again after every storm, and the loss the session reports is the truth. The long run is
`benchmarks/fuzz_protocols.py`; this is its smoke size, on a seed of its own."""

from __future__ import annotations

import pytest

from mujo_edge.errors import MujoEdgeError
from mujo_edge.firmware_bridge.protocols import PROTOCOLS


@pytest.fixture(scope="module")
def fuzz(load_script):
    return load_script("benchmarks/fuzz_protocols.py")


@pytest.fixture(scope="module")
def recognizer(fuzz):
    try:
        return fuzz._recognizer(None)
    except MujoEdgeError as e:
        pytest.skip(f"no engine for the default bundle: {e}")


@pytest.mark.parametrize(("name", "spare_time"), [(n, False) for n in PROTOCOLS.names()] + [("polar", True)])
def test_fuzzed_live_session_survives_and_counts_true_loss(fuzz, recognizer, name: str, spare_time: bool) -> None:
    s = fuzz.fuzz_live(name, 3000, 4242, recognizer, spare_time=spare_time)
    assert s["unexpected"] == 0, s["unexpected_examples"]
    assert s["session_ending"] == 0 and s["pipeline_rejected"] == 0
    assert s["kinds"]["mutated"] > 500 and s["kinds"]["random"] > 500 and s["kinds"]["lost_on_air"] > 100
    assert s["predictions"] > 0 and s["reported_samples"] == s["samples_through"] + s["phantom_samples"]
    if name == "polar" and not spare_time:
        assert s["loss_check"] in ("exact", "within phantom", "not checked")
    elif PROTOCOLS.get(name).has_sequence_numbers:
        assert s["loss_check"] == "exact" and s["phantom_samples"] == 0, (s["reported_missing"], s["true_missing"])
    else:
        assert s["loss_check"] in ("exact", "within phantom", "not observable"), s
