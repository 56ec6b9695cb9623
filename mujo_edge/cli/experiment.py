"""`mujo-edge experiment ...`: the paper's experiments on real data (results as CSV + markdown + figures)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from mujo_edge.cli.console import comma_list, console, progress_callback

app = typer.Typer(
    help="Experiments: label efficiency (Table 1 / Figure 2) and zero-shot (Table 3).", no_args_is_help=True
)


@app.command("label-efficiency")
def label_efficiency(
    target: Annotated[str, typer.Option("--target", help="Dataset to evaluate on (left out of every pre-training).")],
    out: Annotated[Path, typer.Option("--out", help="Results folder; an interrupted grid resumes from results.csv.")],
    pretrained: Annotated[
        list[str] | None,
        typer.Option(
            "--pretrained", help="METHOD=CHECKPOINT, e.g. mujo=runs/w/best.pt, simclr=runs/s/best.pt; repeatable."
        ),
    ] = None,
    root: Annotated[Path | None, typer.Option("--root", help="Target dataset folder.")] = None,
    sensors: Annotated[str, typer.Option("--sensors", help="Comma list: acc, gyro.")] = "acc",
    placements: Annotated[str | None, typer.Option("--placements", help="Comma list of placements.")] = None,
    grid_name: Annotated[
        str,
        typer.Option(
            "--grid",
            help="full: 1,2,5,10,20,50,100 % x 20 runs x baseline,frozen,"
            "finetuned (paper); reduced: 2,10 % x 5 runs x "
            "baseline,finetuned (under an hour on 2 cores).",
        ),
    ] = "full",
    fractions: Annotated[
        str | None, typer.Option("--fractions", help="Label percentages per class (overrides --grid).")
    ] = None,
    regimes: Annotated[
        str | None, typer.Option("--regimes", help="baseline, frozen, finetuned (overrides --grid).")
    ] = None,
    runs: Annotated[
        int | None,
        typer.Option(
            "--runs",
            help="Runs per cell (fresh labels and initialisation), round-robin over the folds (overrides --grid).",
        ),
    ] = None,
    folds: Annotated[int, typer.Option("--folds", help="Subject-wise folds.")] = 5,
    with_null: Annotated[bool, typer.Option("--null", help="Keep the NULL class (unlabelled / transitions).")] = False,
    epochs: Annotated[int, typer.Option("--epochs")] = 200,
    patience: Annotated[int, typer.Option("--patience")] = 25,
    forest: Annotated[
        bool, typer.Option("--forest/--no-forest", help="Also run the feature + random-forest baseline.")
    ] = True,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    finetune_settings: Annotated[
        list[str] | None,
        typer.Option(
            "--finetune",
            help="KEY=VALUE of the fine-tuning config, e.g. min_batches=16 or weight_decay=0.01; repeatable "
            "(a recipe lever: give it its own --out folder).",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model preset of the random-init baseline (default: the checkpoints' architecture, else wrist).",
        ),
    ] = None,
    executor_name: Annotated[
        str,
        typer.Option(
            "--executor",
            help="local: one run after another in this process; ray: every run a Ray task, on this machine or a "
            'cluster (--address; needs pip install "mujo-edge\\[cluster]"). Same rows for the same seeds.',
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            "--address", help="Ray head HOST:PORT (or auto) to join; default: a Ray instance on this machine."
        ),
    ] = None,
    cpus_per_run: Annotated[float, typer.Option("--cpus-per-run", help="CPUs each Ray task asks for.")] = 1.0,
    threads: Annotated[
        int, typer.Option("--threads", help="torch threads per run (0: local keeps torch's, ray one per CPU).")
    ] = 0,
) -> None:
    """Methods x regimes x label fractions x runs on subject-wise folds; writes results.csv, summary.md, boxplot.png.

    Give --pretrained NAME=CHECKPOINT once per pre-training run: a repeated NAME is one method pre-trained several
    times (rows NAME#1, NAME#2 with their pre-training run in the CSV)."""
    from rich.markup import escape

    from mujo_edge.channels import ChannelSelection
    from mujo_edge.data.prepare import prepare
    from mujo_edge.data.registry import get_loader
    from mujo_edge.errors import ConfigError
    from mujo_edge.training.checkpoints import read_pretrain
    from mujo_edge.training.executors import make_executor
    from mujo_edge.training.experiments import (
        finetune_overrides,
        methods_from,
        named_grid,
        parse_fractions,
        run_label_efficiency,
    )
    from mujo_edge.training.models import load_model_preset
    from mujo_edge.windows import null_labels

    grid = named_grid(
        grid_name,
        target,
        fractions=parse_fractions(fractions) if fractions else None,
        regimes=tuple(comma_list(regimes) or ()) if regimes else None,
        runs=runs,
        folds=folds,
        epochs=epochs,
        patience=patience,
        forest=forest,
        seed=seed,
        finetune=finetune_overrides(finetune_settings or []) or None,
    )
    # before any data is read: a missing ray or a bad option is one line, not a traceback after minutes
    try:
        executor = make_executor(executor_name, address=address, cpus_per_run=cpus_per_run, threads=threads)
    except ConfigError as e:  # the error line is rich markup: keep the [cluster] of the install hint
        raise ConfigError(escape(e.message), field=e.field) from None
    checkpoints = {name: read_pretrain(path) for name, path in methods_from(pretrained or []).items()}
    skipped = [r for r in grid.regimes if r != "baseline"] if not checkpoints else []
    if skipped:  # a valid request (e.g. the forest alone), but say so rather than skip cells silently
        console.print(f"[yellow]no --pretrained checkpoint: regime(s) {', '.join(skipped)} skipped[/]")
    spec = get_loader(target).spec
    windows = prepare(
        target, root, selection=ChannelSelection(placements=comma_list(placements), sensors=comma_list(sensors))
    ).windows
    windows = null_labels(windows, spec.null_classes, with_null)
    arch = load_model_preset(model).arch if model else (None if checkpoints else load_model_preset("wrist").arch)
    failed: list[str] = []

    def _print_failure(job: Any, error: str) -> None:
        failed.append(str(job))
        console.print(f"[red]{job} failed: {escape(error)}[/]", highlight=False)

    with progress_callback(f"label efficiency on {target} ({executor_name})") as progress:
        path = run_label_efficiency(
            windows,
            grid,
            checkpoints,
            out,
            arch=arch,
            progress=progress,
            on_run=_print_run,
            executor=executor,
            on_failure=_print_failure,
        )
    if (out / "summary.md").is_file():
        console.print((out / "summary.md").read_text(), markup=False, highlight=False)
        console.print(f"results: {path}; figure: {out / 'boxplot.png'}")
    if failed:
        console.print(
            f"[red]{len(failed)} run(s) failed (recorded in {out / 'failed.jsonl'}, not in results.csv): "
            "run the same command again to redo them[/]"
        )
        raise typer.Exit(1)


def _print_run(row: Mapping[str, Any]) -> None:
    """One line per finished run, so a log shows the grid as it goes (the bar is transient, on stderr)."""
    val = row.get("val_macro_f1")
    seconds = row.get("seconds")
    console.print(
        f"{row['method']}/{row['regime']} {float(row['fraction']):.0%} fold {row['fold']} run {row['run']} "
        f"(test {row['test_subjects'].replace(' ', ',')}): macro-F1 {float(row['macro_f1']):.3f}"
        + (f", val {float(val):.3f}" if val not in (None, "") else "")
        + (f", {float(seconds):.0f} s" if seconds not in (None, "") else ""),
        highlight=False,
    )


@app.command("zero-shot")
def zero_shot(
    target: Annotated[str, typer.Option("--target", help="Dataset to classify from label descriptions alone.")],
    pretrained: Annotated[
        Path, typer.Option("--pretrained", help="MuJo pre-training checkpoint (left the target out).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Folder for zero-shot.json and confusion.png.")],
    root: Annotated[Path | None, typer.Option("--root", help="Target dataset folder.")] = None,
    stream: Annotated[
        str | None, typer.Option("--stream", help="Sensor stream, e.g. wrist_acc (default: the anchor).")
    ] = None,
    with_null: Annotated[bool, typer.Option("--null", help="Add NULL = mean of the label embeddings.")] = False,
    prompts: Annotated[str, typer.Option("--prompts", help="primary | all (mean over every phrasing).")] = "primary",
) -> None:
    """Zero-shot classification (paper Table 3): top-1/3/5 accuracy and macro-F1, and a confusion matrix."""
    from rich.table import Table

    from mujo_edge.data.prepare import prepare
    from mujo_edge.data.texts import label_texts
    from mujo_edge.metrics import dumps_strict
    from mujo_edge.training.checkpoints import read_pretrain
    from mujo_edge.training.leave_out import check_leave_target_out
    from mujo_edge.training.text import TextEncoder
    from mujo_edge.training.zeroshot import plot_confusion
    from mujo_edge.training.zeroshot import zero_shot as run

    checkpoint = read_pretrain(pretrained)
    check_leave_target_out("pretrained", checkpoint, target)
    prepared = prepare(target, root)
    windows = prepared.windows
    # a user's own labels are described by the mujo-labels.toml next to the data, when there is one
    texts = label_texts(target, list(windows.classes), data_root=prepared.summary.root) if target == "csv" else None
    result = run(
        checkpoint.to_dict(),
        windows,
        target,
        stream=stream,
        text_encoder=TextEncoder(),
        null=with_null,
        prompts=prompts,
        texts=texts,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "zero-shot.json").write_text(dumps_strict(result.to_dict(), indent=2) + "\n")
    png = plot_confusion(result, out / "confusion.png")
    table = Table(
        title=f"zero-shot on {target} ({result.windows:,} windows, stream {result.stream})", title_justify="left"
    )
    for col in ("", "top-1", "top-3", "top-5", "macro-F1"):
        table.add_column(col, justify="right")
    table.add_row("MuJo", f"{result.top1:.3f}", f"{result.top3:.3f}", f"{result.top5:.3f}", f"{result.macro_f1:.3f}")
    table.add_row(
        "chance",
        *(f"{result.chance[k]:.3f}" for k in ("top1", "top3", "top5")),
        f"{result.chance['macro_f1_uniform']:.3f}",
    )
    console.print(table)
    console.print(f"wrote {out / 'zero-shot.json'} and {png}")


@app.command("report")
def report(
    tables: Annotated[
        Path, typer.Option("--tables", help="Tables file (TOML): README blocks and the results folders behind them.")
    ] = Path("benchmarks/results/tables.toml"),
    readme: Annotated[Path, typer.Option("--readme", help="README whose marked blocks are rewritten.")] = Path(
        "README.md"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Only compare: exit 1 when the README differs from the results files.")
    ] = False,
) -> None:
    """Write the README's result tables from committed results folders (no number is copied by hand)."""
    from mujo_edge.training.results_tables import load_tables_file, render_block, update_readme

    text = readme.read_text()
    new = text
    for block in load_tables_file(tables):
        new = update_readme(new, block.name, render_block(block), where=readme)
    if new == text:
        console.print(f"{readme}: every result block agrees with {tables}")
        return
    if check:
        console.print(f"[red]{readme}: result blocks differ from {tables}; run `mujo-edge experiment report`[/]")
        raise typer.Exit(1)
    readme.write_text(new)
    console.print(f"{readme}: result blocks rewritten from {tables}")
