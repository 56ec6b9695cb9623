"""The real datasets in ../shared/data load with their true shapes, units and labels."""

import numpy as np
import pytest

from mujo_edge.channels import ChannelSelection
from mujo_edge.config import WindowConfig
from mujo_edge.data.prepare import load_recordings, prepare
from mujo_edge.data.registry import get_loader
from mujo_edge.units import STANDARD_GRAVITY


def recordings(name, root, selection=ChannelSelection()):
    return load_recordings(get_loader(name), root, selection, WindowConfig())


def test_spar_watch_shape_units_and_sign(shared_data):
    recs = recordings("spar_watch", shared_data / "spar_watch")
    assert len(recs) == 140
    assert sum(r.n_samples for r in recs) == 244_102
    assert len({r.subject for r in recs}) == 10
    assert {r.classes[r.labels[0]] for r in recs} == {"PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW"}
    assert recs[0].channel_names == (
        "wrist_acc_x",
        "wrist_acc_y",
        "wrist_acc_z",
        "wrist_gyro_x",
        "wrist_gyro_y",
        "wrist_gyro_z",
    )
    assert [c.source_unit for c in recs[0].channels] == ["g"] * 3 + ["rad/s"] * 3
    acc = np.concatenate([r.x[:, :3] for r in recs])
    assert np.median(np.linalg.norm(acc, axis=1)) == pytest.approx(STANDARD_GRAVITY, rel=0.1)
    # specific force: with the arm hanging (pendulum) the left wrist's x axis points to the hand, so it
    # reads -1 g after the iOS sign is converted, and the right wrist +1 g
    for r in recs:
        if r.classes[r.labels[0]] == "PEN":
            sign = -1 if r.meta["side"] == "left" else 1
            assert sign * r.x[:, 0].mean() > 0.6 * STANDARD_GRAVITY


def test_spar_watch_windows(shared_data):
    p = prepare("spar_watch", shared_data / "spar_watch", cache=False)
    assert p.windows.x.shape == (4677, 6, 100)
    assert p.summary.subjects == tuple(str(i) for i in range(1, 11))
    assert p.summary.native_rate_hz[1] == pytest.approx(50.0)
    assert sum(p.summary.class_windows.values()) == 4677 and not p.summary.dropped


def test_hapt_keeps_unlabelled_and_transitions_distinct(shared_data):
    recs = recordings("hapt", shared_data / "hapt")
    assert len(recs) == 61 and sum(r.n_samples for r in recs) == 1_122_772
    assert len({r.subject for r in recs}) == 30
    labels = np.concatenate([r.labels for r in recs])
    assert set(np.unique(labels).tolist()) == set(range(-1, 12))
    spec = get_loader("hapt").spec
    assert spec.classes[:6] == ("WALKING", "WALKING_UPSTAIRS", "WALKING_DOWNSTAIRS", "SITTING", "STANDING", "LAYING")
    assert spec.null_classes == spec.classes[6:] and spec.has_null
    # the waist phone stands upright: gravity on +x in specific force
    assert np.median(np.concatenate([r.x[:, 0] for r in recs])) == pytest.approx(STANDARD_GRAVITY, rel=0.15)


def test_sp_sw_har_watch_phone_and_aligned(shared_data):
    root = shared_data / "sp_sw_har"
    watch = recordings("sp_sw_har", root, ChannelSelection(placements=("wrist",)))
    phone = recordings("sp_sw_har", root, ChannelSelection(placements=("pocket",)))
    assert len(watch) == len(phone) == 223 and len({r.subject for r in watch}) == 23
    assert watch[0].channel_names[0] == "wrist_acc_x" and phone[0].channel_names[0] == "pocket_acc_x"
    assert np.median([r.native_rate_hz() for r in watch]) == pytest.approx(100, rel=0.05)
    assert sum(int(r.meta["merged_duplicates"]) for r in phone) > 0  # the phone batches samples
    both = recordings("sp_sw_har", root)
    assert len(both) == 223 and len(both[0].channels) == 12
    # aligned on the window grid (UNIX seconds in float64 resolve ~0.2 us)
    np.testing.assert_allclose(np.diff(both[0].t), 1 / 50, atol=1e-6)
    assert both[0].t[0] >= max(watch[0].t[0], phone[0].t[0])
    assert both[0].classes == ("SEATED", "STANDING_UP", "WALKING", "TURNING", "SITTING_DOWN")


def test_windows_are_cached_and_rebuilt_when_data_changes(tmp_path, shared_data):
    src = shared_data / "spar_watch" / "spar_watch.npz"
    root = tmp_path / "spar"
    root.mkdir()
    (root / "spar_watch.npz").write_bytes(src.read_bytes())
    first = prepare("spar_watch", root, cache_dir=tmp_path / "c")
    second = prepare("spar_watch", root, cache_dir=tmp_path / "c")
    assert not first.from_cache and second.from_cache
    np.testing.assert_array_equal(first.windows.x, second.windows.x)
    assert second.summary == first.summary
    other_config = prepare("spar_watch", root, cache_dir=tmp_path / "c", config=WindowConfig(step=100))
    assert not other_config.from_cache and len(other_config.windows) < len(first.windows)
    import os

    os.utime(root / "spar_watch.npz", ns=(1, 1))  # the cache keys on content: a touch alone is no change
    assert prepare("spar_watch", root, cache_dir=tmp_path / "c").from_cache
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["samples"][0, 0] += 1.0  # the content changed -> rebuilt
    np.savez(root / "spar_watch.npz", **arrays)
    assert not prepare("spar_watch", root, cache_dir=tmp_path / "c").from_cache
    for entry in (tmp_path / "c" / "windows").glob("*.npz"):
        entry.write_bytes(b"corrupt")
    rebuilt = prepare("spar_watch", root, cache_dir=tmp_path / "c")
    assert not rebuilt.from_cache and len(rebuilt.windows) == len(first.windows)
