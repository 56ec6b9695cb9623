"""The label-efficiency runner: grid, leave-target-out check, resumable CSV, summary and figure."""

import csv

import pytest
import torch

from mujo_edge.errors import ConfigError
from mujo_edge.normalise import StreamNormaliser
from mujo_edge.training.checkpoints import CorpusProvenance, PretrainCheckpoint, TrainState
from mujo_edge.training.experiments import (
    LabelEfficiencyGrid,
    confused_pairs,
    load_confusions,
    methods_from,
    named_grid,
    parse_fractions,
    run_label_efficiency,
    write_summary,
)
from mujo_edge.training.leave_out import check_leave_target_out
from mujo_edge.training.models import ArchConfig, ModalityConfig, ModelConfig, MujoModel

TINY = ArchConfig(sensor_channels=(4, 4, 4), sensor_dim=32, proj_dim=32)


def checkpoint(exclude=("toy",), sources=("synthetic",), recorded=True):
    model = MujoModel(ModelConfig(TINY, (ModalityConfig("wrist_acc", "sensor", 3),)), seed=1)
    return PretrainCheckpoint(
        model=model.state_dict(),
        model_config=model.config,
        train_config={"anchor": "wrist_acc"},
        normaliser=StreamNormaliser({}),
        corpus=CorpusProvenance(tuple(sources), tuple(exclude)) if recorded else None,
        state=TrainState(),
        optimizer={},
        torch_rng=torch.get_rng_state(),
    )


def test_grid_runs_resumes_and_summarises(tmp_path, make_toy):
    w = make_toy()
    grid = LabelEfficiencyGrid(
        target="toy", fractions=(0.1, 1.0), regimes=("baseline", "finetuned"), runs=3, folds=2, epochs=2, patience=2
    )
    path = run_label_efficiency(w, grid, {"mujo": checkpoint()}, tmp_path, arch=TINY)
    rows = list(csv.DictReader(path.open()))
    # (baseline + mujo/finetuned + forest) x 2 fractions x 3 runs, round-robin over the 2 folds
    assert len(rows) == 3 * 2 * 3
    assert [(r["run"], r["fold"]) for r in rows if r["method"] == "none" and r["fraction"] == "0.1"] == [
        ("1", "1"),
        ("2", "2"),
        ("3", "1"),
    ]
    assert {(r["method"], r["regime"]) for r in rows} == {
        ("none", "baseline"),
        ("mujo", "finetuned"),
        ("random_forest", "-"),
    }
    assert all(0 <= float(r["macro_f1"]) <= 1 for r in rows)
    summary = (tmp_path / "summary.md").read_text()
    assert "| mujo | finetuned |" in summary and "10%" in summary and (tmp_path / "boxplot.png").is_file()
    # every run's test confusion matrix is kept, and the summary says where the errors are at 100 %
    confusions = load_confusions(tmp_path / "confusion.jsonl")
    assert set(confusions) == {(r["method"], r["regime"], r["fraction"], r["fold"], r["run"]) for r in rows}
    for r in rows:
        cm = confusions[(r["method"], r["regime"], r["fraction"], r["fold"], r["run"])]["confusion"]
        assert cm.sum() == int(r["test_windows"])
        assert abs(cm.trace() / cm.sum() - float(r["accuracy"])) < 1e-9
    assert "## most confused classes at 100%" in summary
    before = path.read_text(), (tmp_path / "confusion.jsonl").read_text()
    run_label_efficiency(w, grid, {"mujo": checkpoint()}, tmp_path, arch=TINY)  # nothing left to do
    assert (path.read_text(), (tmp_path / "confusion.jsonl").read_text()) == before


def test_checkpoint_that_saw_the_target_is_refused():
    check_leave_target_out("mujo", checkpoint(), "toy")
    check_leave_target_out("mujo", checkpoint(exclude=()), "toy")  # never in the corpus: left out as well
    with pytest.raises(ConfigError, match="saw 'toy'"):
        check_leave_target_out("mujo", checkpoint(exclude=(), sources=("toy",)), "toy")
    with pytest.raises(ConfigError, match="does not record"):
        check_leave_target_out("mujo", checkpoint(recorded=False), "toy")


def test_option_parsing():
    assert parse_fractions("1,2,100") == (0.01, 0.02, 1.0)
    assert methods_from(["mujo=a/b.pt"])["mujo"].name == "b.pt"
    with pytest.raises(ConfigError):
        methods_from(["mujo"])
    with pytest.raises(ConfigError):
        parse_fractions("a,b")
    with pytest.raises(ConfigError):
        LabelEfficiencyGrid(target="x", regimes=("nope",))


def test_named_grids_and_overrides():
    full = named_grid("full", "spar_watch")
    assert full == LabelEfficiencyGrid(target="spar_watch")  # the dataclass defaults are the paper's grid
    assert (len(full.fractions), full.runs, full.regimes) == (7, 20, ("baseline", "frozen", "finetuned"))
    reduced = named_grid("reduced", "hapt", runs=None, fractions=(1.0,))
    assert (reduced.fractions, reduced.runs, reduced.regimes) == ((1.0,), 5, ("baseline", "finetuned"))
    with pytest.raises(ConfigError, match="unknown grid 'tiny'"):
        named_grid("tiny", "hapt")


def test_confused_pairs_rank_by_share_of_the_true_class():
    cm = [
        [8, 2, 0],  # a: 20 % -> b
        [0, 10, 0],
        [1, 5, 4],
    ]  # c: 50 % -> b, 10 % -> a
    pairs, covered = confused_pairs(cm, ["a", "b", "c"], top=2)
    assert pairs == [("c", "b", 0.5), ("a", "b", 0.2)]
    assert covered == 7 / 8
    assert confused_pairs([[3, 0], [0, 3]], ["a", "b"]) == ([], 0.0)


def test_bad_confusion_record_names_file_and_line(tmp_path):
    path = tmp_path / "confusion.jsonl"
    path.write_text(
        '{"method": "none", "regime": "baseline", "fraction": "1.0", "fold": 1, "run": 1, '
        '"classes": ["a"], "confusion": [[1]]}\n{"method": "none"}\n'
    )
    with pytest.raises(ConfigError, match=r"confusion\.jsonl:2"):
        load_confusions(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(ConfigError, match=r"confusion\.jsonl:1"):
        load_confusions(path)
    assert load_confusions(tmp_path / "absent.jsonl") == {}


def test_summary_of_a_folder_from_before_confusions_were_kept(tmp_path):
    """Rows without a matrix (older runs) still count in the tables; the error section uses the largest
    fraction that has matrices, and is left out when none has."""
    path = tmp_path / "results.csv"
    header = (
        "target,method,regime,fraction,fold,run,seed,macro_f1,accuracy,train_windows,test_windows,"
        "best_epoch,seconds,macro_f1_smoothed\n"
    )
    path.write_text(
        header + "toy,none,baseline,0.1,1,1,0,0.5,0.5,4,4,1,1,0.5\n"
        "toy,none,baseline,1.0,1,1,0,0.75,0.75,40,4,1,1,0.75\n"
    )
    grid = LabelEfficiencyGrid(target="toy", fractions=(0.1, 1.0), runs=1)
    summary = write_summary(path, tmp_path / "summary.md", grid).read_text()
    assert "0.750 +- 0.000" in summary and "most confused" not in summary
    (tmp_path / "confusion.jsonl").write_text(
        '{"method": "none", "regime": "baseline", "fraction": "0.1", '
        '"fold": 1, "run": 1, "classes": ["a", "b"], '
        '"confusion": [[2, 0], [2, 0]]}\n'
    )
    summary = write_summary(path, tmp_path / "summary.md", grid).read_text()
    assert "## most confused classes at 10%" in summary and "| none | baseline | b -> a 1.00 | 1.00 |" in summary


def _without_class(w, subject, cls):
    import numpy as np

    return w.subset(np.flatnonzero(~((w.subject == subject) & (w.y == cls))))


def test_validation_subjects_hold_every_class_and_each_row_names_them(tmp_path, make_toy):
    """subject_kfold(5 subjects, 2 folds, seed 0) validates fold 2 on subject 3: without class c it is replaced."""
    from mujo_edge.splits import subject_kfold

    seeded = subject_kfold(["1", "2", "3", "4", "5"], 2, seed=0, n_val=1)[1]
    w = _without_class(make_toy(), seeded.val[0], 2)
    grid = LabelEfficiencyGrid(target="toy", fractions=(1.0,), regimes=("baseline",), runs=2, folds=2, epochs=1)
    lines = []
    path = run_label_efficiency(w, grid, {}, tmp_path / "new", arch=TINY, on_run=lines.append)
    rows = list(csv.DictReader(path.open()))
    fold2 = {r["val_subjects"] for r in rows if r["fold"] == "2"}
    assert len(fold2) == 1 and fold2 != {seeded.val[0]}
    assert all(r["val_subjects"] and r["val_subjects"] not in r["test_subjects"].split() for r in rows)
    assert [line["method"] for line in lines] == [r["method"] for r in rows]  # one callback per written row
    assert all(r["seconds"] for r in rows)  # the forest's time too


def test_a_folder_begun_before_the_val_subjects_column_keeps_its_seeded_validation(tmp_path, make_toy):
    from mujo_edge.splits import subject_kfold
    from mujo_edge.training.experiments import COLUMNS

    seeded = subject_kfold(["1", "2", "3", "4", "5"], 2, seed=0, n_val=1)[1]
    w = _without_class(make_toy(), seeded.val[0], 2)
    old = tmp_path / "old"
    old.mkdir()
    legacy = [c for c in COLUMNS if c != "val_subjects"]
    (old / "results.csv").write_text(",".join(legacy) + "\n")
    grid = LabelEfficiencyGrid(target="toy", fractions=(1.0,), regimes=("baseline",), runs=2, folds=2, epochs=1)
    lines = []
    run_label_efficiency(w, grid, {}, old, arch=TINY, on_run=lines.append)
    rows = list(csv.DictReader((old / "results.csv").open()))
    assert "val_subjects" not in rows[0]  # its own header, still one table
    assert {line["val_subjects"] for line in lines if line["fold"] == 2} == {seeded.val[0]}


def test_finetune_levers_are_typed_checked_and_reach_the_grid():
    from mujo_edge.training.experiments import finetune_overrides

    assert finetune_overrides(["min_batches=16", "weight-decay=0.01"]) == (("min_batches", 16), ("weight_decay", 0.01))
    for bad, match in (("epochs=3", "KEY one of"), ("min_batches=x", "takes a int"), ("min_batches=0", ">= 1")):
        with pytest.raises(ConfigError, match=match):
            finetune_overrides([bad])
    grid = named_grid("reduced", "toy", finetune=finetune_overrides(["min_batches=16"]))
    assert dict(grid.finetune) == {"min_batches": 16}
