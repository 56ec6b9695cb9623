"""The repetition counter on real SPAR sets (20 repetitions each) of the subjects the embedded bundle never saw.

The counter's defaults were chosen on the other subjects (benchmarks/session_tracking.py), so this is held out.
"""

import numpy as np

from mujo_edge.bundle import read_bundle
from mujo_edge.channels import ChannelSelection
from mujo_edge.config import WindowConfig
from mujo_edge.data.prepare import load_recordings
from mujo_edge.data.registry import get_loader
from mujo_edge.default_model import bundle_path
from mujo_edge.runtime.repetitions import count_repetitions


def test_counter_is_within_one_on_most_held_out_spar_sets(shared_data):
    held_out = set(read_bundle(bundle_path()).manifest.training.held_out)
    recordings = load_recordings(
        get_loader("spar_watch"),
        shared_data / "spar_watch",
        ChannelSelection(placements=("wrist",), sensors=("acc",)),
        WindowConfig(),
    )
    mine = [r for r in recordings if r.subject in held_out]
    assert len(mine) == 28  # 2 subjects x 7 exercises x 2 arms
    errors = np.array([count_repetitions(r.x).count - 20 for r in mine])
    assert (np.abs(errors) <= 1).mean() >= 0.85, errors
    assert np.abs(errors).mean() <= 1.0, errors
