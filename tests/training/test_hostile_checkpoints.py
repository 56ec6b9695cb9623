"""Hostile and damaged checkpoints (issue 15): a malicious pickle, an empty file, a wrong version, a truncated or
torn `last.pt` are each one CheckpointError line naming the file, never advising unsafe loading; and
`atomic_save` makes a checkpoint durable (file fsynced before the rename, folder after)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mujo_edge.errors import CheckpointError
from mujo_edge.training import checkpoints
from mujo_edge.training.checkpoints import atomic_save, read_classifier, read_pretrain
from mujo_edge.training.classifier import Classifier
from mujo_edge.training.models import ArchConfig, ModalityConfig, ModelConfig, MujoModel

TINY = ArchConfig(sensor_channels=(4, 4, 4), sensor_dim=32, proj_dim=32)
CHANNELS = ["wrist_acc_x", "wrist_acc_y", "wrist_acc_z"]
READERS = [read_pretrain, read_classifier]


def _model() -> MujoModel:
    return MujoModel(ModelConfig(TINY, (ModalityConfig("wrist_acc", "sensor", 3),)), seed=0)


def pretrain_dict() -> dict:
    """A current (version 2) pre-training checkpoint, as `write_pretrain` stores it."""
    model = _model()
    return {
        "version": 2,
        "kind": "pretrain",
        "model": model.state_dict(),
        "loss": {},
        "optimizer": torch.optim.AdamW(model.parameters()).state_dict(),
        "model_config": model.config.to_dict(),
        "train_config": {"epochs": 3, "anchor": "wrist_acc"},
        "normaliser": {"wrist_acc": {"mean": [0.1, -0.2, 9.8], "std": [1.0, 2.0, 0.5]}},
        "corpus": {"sources": ["synthetic"], "exclude": []},
        "torch_rng": torch.get_rng_state(),
        "state": {"epoch": 2, "best_val": 1.5, "best_epoch": 1, "bad_epochs": 1},
        "metrics": {},
    }


def classifier_dict() -> dict:
    model = _model()
    clf = Classifier(model, {"wrist_acc": [0, 1, 2]}, {"wrist_acc": "wrist_acc"}, 2, 16, 0.1)
    return {
        "version": 1,
        "kind": "classifier",
        "state": clf.state_dict(),
        "model_config": model.config.to_dict(),
        "streams": clf.streams,
        "branch_of": clf.branch_of,
        "head": {"hidden": 16, "dropout": 0.1},
        "channels": CHANNELS,
        "window": {"rate_hz": 50.0, "length": 100, "step": 50},
        "normaliser": {"kind": "zscore", "channels": CHANNELS, "mean": [0.0] * 3, "std": [1.0] * 3},
        "classes": ["a", "b"],
        "dataset": "toy",
    }


def _one_clear_line(e: CheckpointError, path: Path) -> str:
    text = str(e)
    assert str(path) in text and e.path == str(path)
    assert "\n" not in text and "weights_only" not in text.replace("weights_only=True", "")
    assert "False" not in text
    assert e.__context__ is None or e.__suppress_context__  # torch's error (and its advice) is not chained
    return text


class _Payload:
    """Pickles to a call of os.mkdir: code that would run on load."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("read", READERS)
def test_a_malicious_pickle_is_refused_in_one_line_and_never_runs(tmp_path, read):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    torch.save({"version": 2, "kind": "pretrain", "model": _Payload(marker)}, evil)
    with pytest.raises(CheckpointError) as e:
        read(evil)
    assert "refused" in _one_clear_line(e.value, evil) and not marker.exists()


@pytest.mark.parametrize("read", READERS)
def test_an_empty_file_says_so(tmp_path, read):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty file") as e:
        read(empty)
    _one_clear_line(e.value, empty)


@pytest.mark.parametrize("version", [99, "2", "", True, 2.0, None])
def test_a_wrong_pretrain_version_is_named(tmp_path, version):
    data = pretrain_dict()
    data["version"] = version
    path = tmp_path / "last.pt"
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="unknown pre-training checkpoint version") as e:
        read_pretrain(path)
    assert e.value.field == "version" and e.value.version == version
    _one_clear_line(e.value, path)


@pytest.mark.parametrize("version", [2, "1", "", True, 1.0])
def test_a_wrong_classifier_version_is_named(tmp_path, version):
    data = classifier_dict()
    data["version"] = version
    path = tmp_path / "classifier.pt"
    torch.save(data, path)
    with pytest.raises(CheckpointError, match="unknown classifier checkpoint version") as e:
        read_classifier(path)
    assert e.value.field == "version"


@pytest.mark.parametrize("dataset", ["", None, 3])
def test_a_classifier_without_a_dataset_name_is_refused_on_read(tmp_path, dataset):
    data = classifier_dict()
    data["dataset"] = dataset
    path = tmp_path / "classifier.pt"
    torch.save(data, path)
    with pytest.raises(CheckpointError) as e:
        read_classifier(path)
    assert e.value.field == "dataset"


@pytest.fixture(scope="module")
def last_pt(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("run") / "last.pt"
    atomic_save(pretrain_dict(), path)
    assert read_pretrain(path).version == 2
    return path.read_bytes()


@pytest.mark.parametrize("keep", [0.001, 0.1, 0.5, 0.9, 0.999])
def test_a_truncated_last_pt_is_one_line(tmp_path, last_pt, keep):
    path = tmp_path / "last.pt"
    path.write_bytes(last_pt[: max(1, int(len(last_pt) * keep))])
    with pytest.raises(CheckpointError, match="truncated, corrupt") as e:
        read_pretrain(path)
    assert "miniz" not in _one_clear_line(e.value, path)


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_a_torn_last_pt_zero_filled_after_a_crash_is_one_line(tmp_path, last_pt, keep):
    torn = bytearray(last_pt)
    cut = int(len(torn) * keep)
    torn[cut:] = bytes(len(torn) - cut)
    path = tmp_path / "last.pt"
    path.write_bytes(bytes(torn))
    with pytest.raises(CheckpointError) as e:
        read_pretrain(path)
    _one_clear_line(e.value, path)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("model", {"w": [1.0, 2.0]}),
        ("model", [torch.zeros(2)]),
        ("torch_rng", torch.zeros(5)),
        ("torch_rng", "state"),
        ("optimizer", {}),
        ("optimizer", [1, 2]),
    ],
)
def test_resume_state_of_the_wrong_type_is_refused_on_read(tmp_path, key, value):
    data = pretrain_dict()
    data[key] = value
    path = tmp_path / "last.pt"
    torch.save(data, path)
    with pytest.raises(CheckpointError) as e:
        read_pretrain(path)
    assert e.value.field == key


def test_atomic_save_fsyncs_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to name a descriptor's file")
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "last.pt"
    atomic_save({"x": torch.ones(3)}, target)
    assert events == [("fsync", str(target) + ".tmp"), ("replace", str(target)), ("fsync", str(tmp_path))]
    assert torch.equal(torch.load(target, weights_only=True)["x"], torch.ones(3))


def test_a_failed_save_keeps_the_previous_checkpoint_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "last.pt"
    atomic_save({"x": torch.ones(3)}, target)

    def broken(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoints.torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"x": torch.zeros(3)}, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    assert torch.equal(torch.load(target, weights_only=True)["x"], torch.ones(3))


@pytest.mark.parametrize("kind", ["evil", "empty"])
def test_the_cli_prints_one_red_line_for_a_bad_checkpoint(tmp_path, kind):
    path = tmp_path / f"{kind}.pt"
    if kind == "evil":
        torch.save({"model": _Payload(tmp_path / "ran")}, path)
    else:
        path.write_bytes(b"")
    out = subprocess.run(
        [sys.executable, "-m", "mujo_edge", "export", str(path), "--out", str(tmp_path / "bundle")],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and len(lines) == 1, out.stderr
    assert lines[0].startswith("error:") and str(path) in lines[0] and "weights_only" not in lines[0]
    assert not (tmp_path / "ran").exists()
