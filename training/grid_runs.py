"""One run of the label-efficiency grid as a pure function, and the record of runs that failed.

`run_job(inputs, job)` reads nothing from disk and writes nothing: the same call gives the same row in this
process (the `local` executor) or in a Ray worker on another machine (the `ray` executor), so only the driver
ever writes a results folder. A run that failed (its worker died twice, or it raised) is appended to
`failed.jsonl` instead of `results.csv`: tables and summaries, which read `results.csv` alone, never see it,
and a later invocation of the same grid redoes it, because its key is not among the finished rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mujo_edge.metrics import dumps_strict, scores
from mujo_edge.smoothing import causal_majority
from mujo_edge.splits import Split, label_fraction
from mujo_edge.training.checkpoints import PretrainCheckpoint
from mujo_edge.training.features import FeatureForest
from mujo_edge.training.finetune import FinetuneConfig, finetune
from mujo_edge.training.results_tables import FOREST, split_method
from mujo_edge.windows import Windows

if TYPE_CHECKING:
    from mujo_edge.training.experiments import LabelEfficiencyGrid

SMOOTHING = 5  # windows in the causal majority of the smoothed column (the live view's --smoothing)
FAILED_FILE = "failed.jsonl"
Key = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class Job:
    """One cell of the grid: `fold` and `run` count from 0 here and from 1 in results.csv."""

    method: str
    regime: str
    fraction: float
    fold: int
    run: int

    def ident(self) -> dict[str, Any]:
        """The columns that name the run in results.csv and confusion.jsonl."""
        return {
            "method": self.method,
            "regime": self.regime,
            "fraction": repr(self.fraction),
            "fold": self.fold + 1,
            "run": self.run + 1,
        }

    def key(self) -> Key:
        """(method, regime, fraction, fold, run) as results.csv spells them: what resuming compares."""
        return self.method, self.regime, repr(self.fraction), str(self.fold + 1), str(self.run + 1)

    def __str__(self) -> str:
        return f"{self.method}/{self.regime} {self.fraction:.0%} fold {self.fold + 1} run {self.run + 1}"


@dataclass(frozen=True)
class GridInputs:
    """Everything a run reads: sent once to every machine (Ray's object store), shared by all runs there."""

    windows: Windows
    grid: LabelEfficiencyGrid
    splits: tuple[Split, ...]
    checkpoints: Mapping[str, PretrainCheckpoint]
    arch: Any


@dataclass(frozen=True)
class RunResult:
    """A finished run: its results.csv row and its test confusion matrix [true, predicted]."""

    row: dict[str, Any]
    confusion: Any


def seed_of(grid: LabelEfficiencyGrid, job: Job) -> int:
    return grid.seed * 100_003 + job.run * 1_009 + job.fold  # fresh labels and initialisation per run and fold


def run_job(inputs: GridInputs, job: Job) -> RunResult:
    """Fine-tune (or fit the feature forest) for one cell of the grid and score it on the fold's test subject."""
    windows, grid, split = inputs.windows, inputs.grid, inputs.splits[job.fold]
    seed = seed_of(grid, job)
    train, val, test = (windows.for_subjects(p) for p in (split.train, split.val, split.test))
    started = time.perf_counter()
    n_classes = len(windows.classes)
    if job.method == FOREST:
        labelled = train.subset(label_fraction(train.y, job.fraction, seed=seed))
        forest = FeatureForest(seed=seed, channels=windows.channels).fit(labelled.x, labelled.y)
        pred = forest.predict(test.x)
        s = scores(test.y, pred, n_classes)
        val_f1 = scores(val.y, forest.predict(val.x), n_classes)["macro_f1"] if len(val) else ""
        confusion = s["confusion"]
        smoothed = causal_majority(pred, test.recording, test.start, SMOOTHING, test.config.step / test.config.rate_hz)
        metrics = {
            "macro_f1": s["macro_f1"],
            "accuracy": s["accuracy"],
            "train_windows": len(labelled),
            "best_epoch": "",
            "seconds": round(time.perf_counter() - started, 1),
            "macro_f1_smoothed": scores(test.y, smoothed, n_classes)["macro_f1"],
            "val_macro_f1": val_f1,
        }
    else:
        cfg = FinetuneConfig(
            regime=job.regime,
            fraction=job.fraction,
            epochs=grid.epochs,
            patience=grid.patience,
            seed=seed,
            smoothing=SMOOTHING,
            **dict(grid.finetune),
        )
        r = finetune(train, val, test, cfg, pretrained=inputs.checkpoints.get(job.method), arch=inputs.arch)
        confusion = r.metrics["test"]["confusion"]
        metrics = {
            "macro_f1": r.metrics["test"]["macro_f1"],
            "accuracy": r.metrics["test"]["accuracy"],
            "train_windows": r.metrics["train_windows"],
            "best_epoch": r.metrics["best_epoch"],
            "seconds": r.metrics["seconds"],
            "macro_f1_smoothed": r.metrics["test_smoothed"]["macro_f1"],
            # the score recipe choices are made on: the validation subject's, at the kept epoch
            "val_macro_f1": r.metrics["val_macro_f1"],
        }
    row = {
        "target": grid.target,
        **job.ident(),
        "pretraining_run": split_method(job.method)[1],
        "seed": seed,
        "test_windows": len(test),
        "test_subjects": " ".join(split.test),
        "val_subjects": " ".join(split.val),
        **metrics,
    }
    return RunResult(row=row, confusion=confusion)


def append_failure(path: Path, job: Job, error: str) -> None:
    """One line per failed attempt of a run (the executor's retries already spent): its key and the error."""
    with path.open("a") as fh:
        fh.write(dumps_strict({**job.ident(), "error": error, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")


def unresolved_failures(folder: Path, done: set[Key]) -> dict[Key, str]:
    """The runs of `folder` whose last recorded failure has no results.csv row (`done`) yet: key -> error."""
    path = folder / FAILED_FILE
    out: dict[Key, str] = {}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            key: Key = (str(rec["method"]), str(rec["regime"]), str(rec["fraction"]), str(rec["fold"]), str(rec["run"]))
            out[key] = str(rec.get("error", ""))
    return {k: v for k, v in out.items() if k not in done}
