"""The label-efficiency experiment (paper Table 1 / Figure 2): methods x regimes x label fractions x runs,
subject-wise folds, plus the feature + random-forest baseline on the very same labelled windows.

Every finished run is appended to `results.csv` at once, so an interrupted grid resumes where it stopped
(rows already present are skipped); its test confusion matrix goes to `confusion.jsonl` beside it. `summary.md`
(macro-F1 mean +- std per cell, and which classes each method confuses most) and `boxplot.png` are rewritten
from these files. A pre-trained checkpoint must have left the target out of its corpus.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge.errors import ConfigError
from mujo_edge.metrics import dumps_strict
from mujo_edge.splits import Split, cover_classes, subject_kfold
from mujo_edge.training.checkpoints import PretrainCheckpoint
from mujo_edge.training.executors import Executor, LocalExecutor
from mujo_edge.training.finetune import REGIMES, FinetuneConfig
from mujo_edge.training.grid_runs import FAILED_FILE, SMOOTHING, GridInputs, Job, append_failure, run_job
from mujo_edge.training.leave_out import check_leave_target_out
from mujo_edge.training.results_tables import FOREST, RUN_SEPARATOR
from mujo_edge.windows import Windows

log = logging.getLogger(__name__)

COLUMNS = (
    "target",
    "method",
    "pretraining_run",
    "regime",
    "fraction",
    "fold",
    "run",
    "seed",
    "macro_f1",
    "accuracy",
    "train_windows",
    "test_windows",
    "best_epoch",
    "seconds",
    "macro_f1_smoothed",
    "val_macro_f1",
    "test_subjects",
    "val_subjects",
)
CONFUSED_PAIRS = 3  # class pairs listed per method in the summary's error section
Progress = Callable[[int, int, str], None]


# Named grids. `full` is the paper's (Table 1: 7 fractions x 20 runs x 3 regimes; about a day on 2 cores for
# SPAR with four methods). `reduced` keeps the cells the targets are judged on (2 % and 10 % labels,
# random init vs fine-tuned) at 5 runs, one per fold: about 30 minutes on 2 cores for SPAR with four methods.
GRIDS: dict[str, dict[str, Any]] = {
    "full": {"fractions": (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0), "runs": 20, "regimes": REGIMES},
    "reduced": {"fractions": (0.02, 0.1), "runs": 5, "regimes": ("baseline", "finetuned")},
}


@dataclass(frozen=True)
class LabelEfficiencyGrid:
    """The grid: `fractions` of labels per class, `runs` repetitions per cell (fresh label draw and
    initialisation), spread round-robin over `folds` subject-wise folds (run r tests fold r mod folds; one
    other subject validates), `regimes` for every pre-trained method. runs = 20 over 5 folds tests every
    subject 4 times."""

    target: str
    fractions: tuple[float, ...] = GRIDS["full"]["fractions"]
    regimes: tuple[str, ...] = GRIDS["full"]["regimes"]
    runs: int = GRIDS["full"]["runs"]
    folds: int = 5
    epochs: int = 200
    patience: int = 25
    forest: bool = True
    seed: int = 0
    # fine-tuning settings other than the grid's own (FinetuneConfig field, value), e.g. (("min_batches", 16),):
    # a recipe lever measured as its own results folder
    finetune: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        for r in self.regimes:
            if r not in REGIMES:
                raise ConfigError(f"unknown regime {r!r} (known: {REGIMES})", field="regimes")
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            raise ConfigError(f"fractions must be in (0, 1], got {self.fractions}", field="fractions")
        if self.runs < 1:
            raise ConfigError("at least one run", field="runs")


GRID_OWNED = ("regime", "fraction", "epochs", "patience", "seed", "smoothing")


def finetune_overrides(items: Sequence[str]) -> tuple[tuple[str, Any], ...]:
    """KEY=VALUE strings -> typed FinetuneConfig overrides (checked by building one), for `--finetune`."""
    types = {f.name: f.type for f in fields(FinetuneConfig)}
    out = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in types or key in GRID_OWNED:
            settable = ", ".join(k for k in types if k not in GRID_OWNED)
            raise ConfigError(f"expected KEY=VALUE with KEY one of {settable}, got {item!r}", field="--finetune")
        kind = {"int": int, "float": float, "str": str}.get(str(types[key]), float)
        try:
            out.append((key, kind(text)))
        except ValueError:
            raise ConfigError(f"{key} takes a {kind.__name__}, got {text!r}", field="--finetune") from None
    FinetuneConfig(**dict(out))  # range checks now, not in the middle of a grid
    return tuple(out)


def named_grid(name: str, target: str, **overrides: Any) -> LabelEfficiencyGrid:
    """The grid `name` (GRIDS) for `target`; `overrides` that are not None replace its settings."""
    if name not in GRIDS:
        raise ConfigError(f"unknown grid {name!r} (known: {', '.join(GRIDS)})", field="--grid")
    settings = {**GRIDS[name], **{k: v for k, v in overrides.items() if v is not None}}
    return LabelEfficiencyGrid(target=target, **settings)


def _key(row: Mapping[str, str]) -> tuple[str, str, str, str, str]:
    return row["method"], row["regime"], row["fraction"], row["fold"], row["run"]


def _done(path: Path) -> set[tuple[str, str, str, str, str]]:
    if not path.is_file():
        return set()
    with path.open(newline="") as fh:
        return {_key(r) for r in csv.DictReader(fh)}


def _append(path: Path, row: Mapping[str, Any]) -> None:
    new = not path.is_file()
    # a folder begun before a column existed keeps its own header, so it stays one readable, resumable table
    columns = COLUMNS if new else next(csv.reader(path.open(newline="")), list(COLUMNS))
    with path.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in columns})


CONFUSION_FILE = "confusion.jsonl"


def _append_confusion(path: Path, key: Mapping[str, Any], classes: Sequence[str], confusion: Any) -> None:
    with path.open("a") as fh:
        fh.write(dumps_strict({**key, "classes": list(classes), "confusion": confusion}) + "\n")


def load_confusions(path: Path) -> dict[tuple[str, str, str, str, str], dict[str, Any]]:
    """(method, regime, fraction, fold, run) -> {"classes", "confusion" [true, predicted]}; a run recorded twice
    (interrupted before its CSV row) keeps its last matrix. A missing file gives {}."""
    out: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
    if not path.is_file():
        return out
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            key = _key({k: str(v) for k, v in rec.items() if k not in ("classes", "confusion")})
            out[key] = {"classes": list(rec["classes"]), "confusion": np.asarray(rec["confusion"], np.int64)}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # AttributeError: not a JSON object
            raise ConfigError(f"{path}:{n}: not a confusion record ({exc})", field="confusion") from None
    return out


def confused_pairs(
    confusion: np.ndarray, classes: Sequence[str], top: int = CONFUSED_PAIRS
) -> tuple[list[tuple[str, str, float]], float]:
    """The `top` (true, predicted, share of the true class's windows) off-diagonal cells of a pooled confusion
    matrix, largest share first, and the fraction of all errors that they account for."""
    cm = np.asarray(confusion, np.float64)
    errors = cm.sum() - np.trace(cm)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    np.fill_diagonal(rates, 0)
    order = [i for i in np.argsort(rates, axis=None)[::-1][:top] if rates.flat[i] > 0]
    cells = [np.unravel_index(i, cm.shape) for i in order]
    pairs = [(classes[t], classes[p], float(rates[t, p])) for t, p in cells]
    covered = sum(cm[t, p] for t, p in cells) / errors if errors else 0.0
    return pairs, float(covered)


def _shared_arch(checkpoints: Mapping[str, PretrainCheckpoint], needed: bool) -> Any:
    """The architecture random initialisation uses: the pre-trained one, so `baseline` differs from the
    pre-trained regimes only in its weights. None (the default preset) when no checkpoint is given."""
    archs = {name: c.model_config.arch for name, c in checkpoints.items()}
    if len(set(archs.values())) > 1 and needed:
        raise ConfigError(
            f"the checkpoints have different architectures ({', '.join(archs)}): run the baseline regime with one "
            "of them, or pass the baseline's model preset",
            field="--model",
        )
    return next(iter(archs.values()), None)


def run_label_efficiency(
    windows: Windows,
    grid: LabelEfficiencyGrid,
    checkpoints: Mapping[str, PretrainCheckpoint],
    out: Path,
    *,
    arch: Any = None,
    progress: Progress | None = None,
    on_run: Callable[[Mapping[str, Any]], None] | None = None,
    executor: Executor | None = None,
    on_failure: Callable[[Job, str], None] | None = None,
) -> Path:
    """Run every missing cell of the grid on labelled `windows` and write results.csv, summary.md, boxplot.png.

    `progress(done, total, what)` counts the runs this call makes (the ones a resumed folder still lacks);
    `on_run(row)` receives each results.csv row as it is written.

    `executor` computes the runs (`executors.LocalExecutor`, the default: in this process, in grid order;
    `RayExecutor`: as Ray tasks, finishing in any order); this function alone writes the folder, as runs finish.
    A run the executor gives up on goes to failed.jsonl (`on_failure(job, error)`), not results.csv, so the next
    invocation redoes it.

    `checkpoints` maps a method name ("mujo", "autoencoder", ...) to its pre-training checkpoint; the
    `baseline` regime (random initialisation) runs once per cell, not once per method."""
    for name, ckpt in checkpoints.items():
        check_leave_target_out(name, ckpt, grid.target)
    arch = arch if arch is not None else _shared_arch(checkpoints, "baseline" in grid.regimes)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.csv"
    done = _done(path)
    cells: list[tuple[str, str]] = [("none", "baseline")] if "baseline" in grid.regimes else []
    cells += [(m, r) for m in checkpoints for r in grid.regimes if r != "baseline"]
    if grid.forest:
        cells.append((FOREST, "-"))
    splits = _splits(windows, grid, path)
    jobs = [Job(m, r, f, run % len(splits), run) for f in grid.fractions for run in range(grid.runs) for m, r in cells]
    todo = [j for j in jobs if j.key() not in done]
    if progress:
        progress(0, len(todo), f"{len(jobs) - len(todo)} of {len(jobs)} runs already in {path}" if done else "")
    inputs = GridInputs(windows, grid, tuple(splits), dict(checkpoints), arch)
    outcomes = (executor or LocalExecutor()).map(run_job, inputs, todo) if todo else iter(())
    for i, outcome in enumerate(outcomes):
        job = outcome.job
        if outcome.result is None:  # failed for good: not a results row, so tables skip it and a rerun redoes it
            append_failure(out / FAILED_FILE, job, outcome.error or "")
            if on_failure:
                on_failure(job, outcome.error or "")
        else:
            # the confusion first: a run whose CSV row is missing is redone, and the reader keeps its last matrix
            _append_confusion(out / CONFUSION_FILE, job.ident(), windows.classes, outcome.result.confusion)
            _append(path, outcome.result.row)
            if on_run:
                on_run(outcome.result.row)
        if progress:
            progress(i + 1, len(todo), f"{job}" + (" FAILED" if outcome.result is None else ""))
    if path.is_file():  # not when every run so far has failed
        write_summary(path, out / "summary.md", grid)
        plot_boxes(path, out / "boxplot.png", grid.target)
    return path


def _splits(windows: Windows, grid: LabelEfficiencyGrid, path: Path) -> list[Split]:
    """The grid's folds, each validated on subjects that hold every class (`splits.cover_classes`). A folder begun
    before validation subjects were chosen that way (its header lacks `val_subjects`) keeps the seeded choice its
    rows were made with, so a resumed table stays one comparable experiment."""
    splits = subject_kfold(windows.subjects(), grid.folds, seed=grid.seed, n_val=1)
    if path.is_file() and "val_subjects" not in next(csv.reader(path.open(newline="")), []):
        log.info("%s: validation subjects as seeded when this folder was begun (no val_subjects column)", path)
        return splits
    classes_of = windows.classes_by_subject()
    out = []
    for split in splits:
        covered, note = cover_classes(split, classes_of)
        if note:
            log.warning(note)
        out.append(covered)
    return out


def load_results(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_summary(path: Path, md: Path, grid: LabelEfficiencyGrid) -> Path:
    """Macro-F1 mean +- std (over runs) per method/regime (rows) and label fraction (columns): per window, and
    with the causal majority over the last SMOOTHING windows that a live view shows."""
    rows = load_results(path)
    fractions = sorted({float(r["fraction"]) for r in rows})
    cells = sorted({(r["method"], r["regime"]) for r in rows}, key=lambda c: (c[0] != "none", c))
    lines = [
        f"# Label efficiency on {grid.target}: test macro-F1, mean +- std over runs (round-robin over "
        f"subject-wise folds)",
        "",
        f"Grid: {asdict(grid)}",
    ]
    for column, title in (
        ("macro_f1", "per window"),
        ("macro_f1_smoothed", f"causal majority over the last {SMOOTHING} windows"),
    ):
        lines += [
            "",
            f"## {title}",
            "",
            "| method | regime | " + " | ".join(f"{f:.0%}" for f in fractions) + " |",
            "|---|---|" + "---:|" * len(fractions),
        ]
        for method, regime in cells:
            vals = []
            for f in fractions:
                v = [
                    float(r[column])
                    for r in rows
                    if r["method"] == method
                    and r["regime"] == regime
                    and float(r["fraction"]) == f
                    and r.get(column) not in (None, "")
                ]
                vals.append(f"{np.mean(v):.3f} +- {np.std(v):.3f} (n={len(v)})" if v else "-")
            lines.append(f"| {method} | {regime} | " + " | ".join(vals) + " |")
    confusions = load_confusions(path.parent / CONFUSION_FILE)
    recorded = [float(r["fraction"]) for r in rows if _key(r) in confusions]  # older folders lack some matrices
    if recorded:
        lines += _error_section(rows, confusions, cells, max(recorded))
    md.write_text("\n".join(lines) + "\n")
    return md


def _error_section(
    rows: Sequence[Mapping[str, str]],
    confusions: Mapping[tuple[str, str, str, str, str], Mapping[str, Any]],
    cells: Sequence[tuple[str, str]],
    fraction: float,
) -> list[str]:
    """Per method/regime, the class pairs it confuses most, pooled over the runs at `fraction` (the largest
    with recorded matrices): where the remaining errors are, which a mean macro-F1 does not show."""
    title = (
        f"## most confused classes at {fraction:.0%} (true -> predicted, share of the true class's windows; "
        "pooled over runs)"
    )
    lines = ["", title, "", "| method | regime | pairs | share of all errors |", "|---|---|---|---:|"]
    listed = False
    for method, regime in cells:
        recorded = [
            c
            for r in rows
            if r["method"] == method and r["regime"] == regime and float(r["fraction"]) == fraction
            if (c := confusions.get(_key(r))) is not None
        ]
        found = [c for c in recorded if c["classes"] == recorded[0]["classes"]]  # one class set per folder
        if not found:
            continue
        pooled = np.sum([c["confusion"] for c in found], axis=0)
        pairs, covered = confused_pairs(pooled, found[0]["classes"])
        text = ", ".join(f"{t} -> {p} {share:.2f}" for t, p, share in pairs) or "no errors"
        lines.append(f"| {method} | {regime} | {text} | {f'{covered:.2f}' if pairs else '-'} |")
        listed = True
    return lines if listed else []


def plot_boxes(path: Path, png: Path, target: str) -> Path:
    """Figure-2-style box plot: macro-F1 per label fraction, one box per method/regime."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = load_results(path)
    fractions = sorted({float(r["fraction"]) for r in rows})
    cells = sorted({(r["method"], r["regime"]) for r in rows}, key=lambda c: (c[0] != "none", c))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(fractions) * max(1, len(cells)) / 2), 4))
    width = 0.8 / max(1, len(cells))
    for j, (method, regime) in enumerate(cells):
        data = [
            [
                float(r["macro_f1"])
                for r in rows
                if r["method"] == method and r["regime"] == regime and float(r["fraction"]) == f
            ]
            for f in fractions
        ]
        pos = [i + (j - (len(cells) - 1) / 2) * width for i in range(len(fractions))]
        box = ax.boxplot(data, positions=pos, widths=width * 0.9, patch_artist=True, manage_ticks=False)
        colour = plt.cm.tab10(j % 10)
        for patch in box["boxes"]:
            patch.set_facecolor(colour)
        label = regime if method == "none" else method if regime == "-" else f"{method} / {regime}"
        ax.plot([], [], color=colour, linewidth=8, label=label)
    ax.set_xticks(range(len(fractions)), [f"{f:.0%}" for f in fractions])
    ax.set(xlabel="labelled training windows per class", ylabel="test macro-F1", title=f"{target}", ylim=(0, 1))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def parse_fractions(text: str) -> tuple[float, ...]:
    """ "1,2,5,100" (percent) -> (0.01, 0.02, 0.05, 1.0)."""
    try:
        return tuple(float(v) / 100 for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"not a comma list of percentages: {text!r}", field="--fractions") from None


def methods_from(specs: Sequence[str]) -> dict[str, Path]:
    """["mujo=runs/a/best.pt", "simclr=runs/b/best.pt"] -> {"mujo": Path(...), ...}. A name given several times
    names several pre-training runs of one method: "recipe#1", "recipe#2", ... (the CSV's pretraining_run).
    "recipe#2=..." names the run explicitly, so a folder can get its second run in a later invocation."""
    pairs = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        base, hashed, run = name.partition(RUN_SEPARATOR)
        if (
            not sep
            or not base
            or not path
            or base in ("none", FOREST)
            or (hashed and not (run.isdigit() and int(run) >= 1))
        ):
            raise ConfigError(
                f"expected NAME=CHECKPOINT or NAME{RUN_SEPARATOR}RUN=CHECKPOINT (RUN a positive integer) with a NAME "
                f"other than none/forest, got {spec!r}",
                field="--pretrained",
            )
        pairs.append((name, Path(path)))
    names = [n for n, _ in pairs]
    out: dict[str, Path] = {}
    for name, checkpoint in pairs:
        if RUN_SEPARATOR in name:
            key = name
        else:
            key = f"{name}{RUN_SEPARATOR}{sum(k.partition(RUN_SEPARATOR)[0] == name for k in out) + 1}"
            key = key if names.count(name) > 1 else name
        if key in out:
            raise ConfigError(f"pre-training run {key!r} given twice", field="--pretrained")
        out[key] = checkpoint
    return out
