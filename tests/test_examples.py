"""Every example runs (smoke test) and does what its docstring says."""

import json
from pathlib import Path

import pytest

from mujo_edge.errors import UnknownNameError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_every_example_has_a_main(load_script):
    for path in EXAMPLES.glob("*.py"):
        assert callable(getattr(load_script(f"examples/{path.name}"), "main", None)), path


def test_prepare_dataset(tmp_path, shared_data, capsys, load_script):
    sizes = load_script("examples/prepare_dataset.py").main(
        ["spar_watch", "--root", str(shared_data / "spar_watch"), "--out", str(tmp_path)])
    assert sizes["train"] > sizes["test"] > 0 and sizes["val"] > 0
    split = json.loads((tmp_path / "split.json").read_text())
    assert not set(split["train"]) & set(split["test"])
    assert json.loads((tmp_path / "normaliser.json").read_text())["channels"] == [
        "wrist_acc_x", "wrist_acc_y", "wrist_acc_z"]
    assert "train" in capsys.readouterr().out


def test_prepare_dataset_unknown_dataset_is_a_clear_error(tmp_path, load_script):
    with pytest.raises(UnknownNameError):
        load_script("examples/prepare_dataset.py").main(["nope", "--out", str(tmp_path)])
