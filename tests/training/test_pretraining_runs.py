"""Several pre-training runs of one method in one results folder, and folders begun before the column existed."""

import csv

import pytest

from mujo_edge.errors import ConfigError
from mujo_edge.training.experiments import COLUMNS, _append, methods_from


def test_a_repeated_name_numbers_its_pretraining_runs():
    assert list(methods_from(["recipe=a.pt", "simclr=s.pt", "recipe=b.pt"])) == ["recipe#1", "simclr", "recipe#2"]
    assert methods_from(["recipe=a.pt"]) == {"recipe": methods_from(["recipe=a.pt"])["recipe"]}
    for bad in ("recipe#0=a.pt", "recipe#x=a.pt", "random_forest=a.pt", "none=a.pt", "recipe", "=a.pt"):
        with pytest.raises(ConfigError):
            methods_from([bad])
    with pytest.raises(ConfigError, match="twice"):
        methods_from(["recipe#2=a.pt", "recipe=b.pt", "recipe=c.pt"])


def test_a_run_named_explicitly_keeps_its_number_across_invocations():
    """A folder filled with run 1 today gets run 2 tomorrow without redoing run 1."""
    assert list(methods_from(["recipe#1=a.pt"])) == ["recipe#1"]
    assert list(methods_from(["recipe#2=b.pt", "recipe#1=a.pt"])) == ["recipe#2", "recipe#1"]


def test_rows_carry_the_pretraining_run_and_old_folders_keep_their_header(tmp_path):
    row = {c: "x" for c in COLUMNS} | {"method": "recipe#2", "pretraining_run": "2"}
    _append(tmp_path / "new.csv", row)
    (got,) = csv.DictReader((tmp_path / "new.csv").open())
    assert got["method"] == "recipe#2" and got["pretraining_run"] == "2"
    old = [c for c in COLUMNS if c != "pretraining_run"]
    (tmp_path / "old.csv").write_text(",".join(old) + "\n")
    _append(tmp_path / "old.csv", row)
    rows = list(csv.DictReader((tmp_path / "old.csv").open()))
    assert list(rows[0]) == old and rows[0]["method"] == "recipe#2"
