"""SPAR-watch from the seglearn wheel (the demo's fallback): the pinned file only, no code can run while
unpickling, and the converted recordings equal the shared data's."""

import pickle

import numpy as np
import pytest

from mujo_edge.channels import ChannelSelection
from mujo_edge.data import seglearn_source
from mujo_edge.data.prepare import load_recordings
from mujo_edge.data.registry import get_loader
from mujo_edge.errors import LayoutError


@pytest.fixture(scope="module")
def installed():
    path = seglearn_source.seglearn_file()
    if path is None:
        pytest.fail("seglearn (the demo extra) is not installed")
    return path


def test_converted_copy_equals_the_shared_data(installed, tmp_path, shared_data):
    folder = seglearn_source.spar_from_seglearn(tmp_path)
    loader, everything = get_loader("spar_watch"), ChannelSelection()
    ours = load_recordings(loader, folder, everything)
    ref = load_recordings(loader, shared_data / "spar_watch", everything)
    assert len(ours) == len(ref) == 140
    for a, b in zip(ours, ref):
        assert a.subject == b.subject and a.meta["side"] == b.meta["side"]
        np.testing.assert_allclose(a.x, b.x, atol=1e-5)
        assert (a.labels == b.labels).all()
    assert seglearn_source.spar_from_seglearn(tmp_path) == folder  # made once


def test_a_different_file_is_never_unpickled(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('executed')",))

    evil = tmp_path / "watch_dataset.npy"
    np.save(evil, np.array(Boom(), dtype=object), allow_pickle=True)
    with pytest.raises(LayoutError, match="sha256"):
        seglearn_source.read_watch_pickle(evil)


def test_the_allow_list_refuses_other_globals(monkeypatch, tmp_path):
    evil = tmp_path / "x.npy"
    np.save(evil, np.array({"X": print}, dtype=object), allow_pickle=True)
    monkeypatch.setattr(seglearn_source, "SHA256", seglearn_source.hashlib.sha256(evil.read_bytes()).hexdigest())
    with pytest.raises(LayoutError, match=r"refusing global builtins\.print"):
        seglearn_source.read_watch_pickle(evil)
    assert pickle  # the module under test uses pickle only through the restricted unpickler
