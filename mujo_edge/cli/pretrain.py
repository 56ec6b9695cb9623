"""`mujo-edge pretrain`: build the pre-training corpus from a recipe and run MuJo pre-training (or one of the
self-supervised baselines on the same corpus and schedule, `--method`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from mujo_edge.cli.console import console, err_console, progress_callback


def pretrain(
    out: Annotated[Path, typer.Option("--out", help="Run folder: corpus, checkpoints, metrics, curves.")],
    preset: Annotated[str, typer.Option("--preset", help="Recipe name or TOML path.")] = "wrist-exercise",
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Dataset left out of the corpus (the evaluation target); repeat for several."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Folder holding the datasets (default: $MUJO_EDGE_DATA or ../shared/data)."),
    ] = None,
    extra: Annotated[
        list[Path] | None,
        typer.Option(
            "--extra", help="Extra corpus folder in the corpus format (e.g. video or ada-002 features); repeatable."
        ),
    ] = None,
    text_vectors: Annotated[
        Path | None,
        typer.Option(
            "--text-vectors",
            help="Precomputed text embeddings (e.g. "
            "ada-002) for every description, instead of MiniLM: .npz "
            "with 'texts' and 'embeddings'.",
        ),
    ] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="Override the recipe's number of epochs.")] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Override the recipe's training seed (weights and batch order; corpus unchanged)."),
    ] = None,
    threads: Annotated[int, typer.Option("--threads", help="torch threads (0 = default).")] = 0,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from its last checkpoint.")
    ] = False,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="mujo | autoencoder | simclr | multitask: the baselines "
            "train the anchor's encoder on the same corpus and schedule.",
        ),
    ] = "mujo",
    corpus_from: Annotated[
        Path | None,
        typer.Option(
            "--corpus",
            help="Reuse a corpus folder built before (e.g. "
            "runs/wrist/corpus) instead of building one, so methods "
            "compare on exactly the same windows.",
        ),
    ] = None,
) -> None:
    """Pre-train the sensor encoder by aligning every modality (MuJo), leaving --exclude datasets out."""
    quiet_library_load()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from mujo_edge.training.distributed import init_from_env
    from mujo_edge.training.loop import EpochEnd, Event, StepEnd
    from mujo_edge.training.plots import plot_pretrain_curves
    from mujo_edge.training.pretrain_job import PretrainJob, job_corpus, run_job

    job = PretrainJob(
        out=out,
        preset=preset,
        exclude=tuple(exclude or ()),
        data_dir=data,
        extra=tuple(extra or ()),
        text_vectors=text_vectors,
        epochs=epochs,
        seed=seed,
        threads=threads,
        resume=resume,
        method=method,
        corpus_from=corpus_from,
    )
    recipe = job.recipe()
    dist_info = init_from_env()
    with progress_callback("building corpus") as building:
        corpus = job_corpus(job, recipe, dist_info, building)
    _print_corpus(corpus, recipe.corpus.exclude)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=err_console,
    ) as bar:
        epochs_task = bar.add_task("epochs", total=recipe.train.epochs, info="")
        steps_task = bar.add_task("steps", total=None, info="")

        def progress(event: Event) -> None:
            if isinstance(event, StepEnd):
                bar.update(
                    steps_task,
                    completed=event.step,
                    total=event.steps,
                    info=f"loss {event.loss:.3f}  lr {event.lr:.2e}",
                )
            elif isinstance(event, EpochEnd):
                bar.update(
                    epochs_task, completed=event.epoch, info=f"val {event.val_loss:.3f} (best epoch {event.best_epoch})"
                )
                bar.console.log(_epoch_line(event.metrics))

        summary = run_job(job, recipe, corpus, dist_info, progress)
    if dist_info.is_main:
        png = plot_pretrain_curves(out / "metrics.jsonl", out / "curves.png")
        table = Table(title=f"pre-training done: {out}", title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_row("epochs run", str(summary.epochs_run))
        table.add_row("best epoch (validation loss)", f"{summary.best_epoch} ({summary.best_val_loss:.4f})")
        for key, value in summary.last.items():
            if "/" in key and not key.startswith("val_pair"):
                table.add_row(key, f"{value:.3f}")
        console.print(table)
        console.print(
            f"checkpoints: {out / 'best.pt'}, {out / 'last.pt'}; metrics: {out / 'metrics.jsonl'}; curves: {png}"
        )


def _epoch_line(e: Mapping[str, Any]) -> str:
    shown = [
        k
        for k in e
        if k.endswith("/balanced_top1") or (k.endswith("/top1") and k.replace("/top1", "/balanced_top1") not in e)
    ]
    ret = "  ".join(f"{k.split('/')[0]} {e[k]:.2f}" for k in shown)
    return f"epoch {e['epoch']:3d}  train {e['train_loss']:.4f}  val {e['val_loss']:.4f}  {ret}  ({e['seconds']:.0f} s)"


def _print_corpus(corpus: Any, exclude: tuple[str, ...]) -> None:
    from rich.table import Table

    table = Table(
        title=f"pre-training corpus: {len(corpus):,} windows"
        + (f" (left out: {', '.join(exclude)})" if exclude else ""),
        title_justify="left",
    )
    table.add_column("source")
    table.add_column("windows", justify="right")
    for name in [*corpus.modalities, "text"]:
        table.add_column(name, justify="right")
    for source in sorted(set(corpus.source.tolist())):
        sel = corpus.source == source
        cells = [f"{int((corpus.present[m] & sel).sum()):,}" for m in corpus.modalities]
        cells.append(f"{int((corpus.has_text() & sel).sum()):,}")
        table.add_row(source, f"{int(sel.sum()):,}", *cells)
    console.print(table)


# Logged while the text encoder imports sentence-transformers, which imports torchao: torchao tries to load its
# optional CUDA kernel libraries (mxfp8, cutlass) and warns for each it cannot load on this CPU or torch build,
# and registers enums torch now warns about. mujo-edge uses none of those kernels, so the lines say nothing a
# user can act on, yet open every pretrain run. Only these messages are dropped, on their own loggers; any
# other warning of torchao or torch still shows.
LIBRARY_LOAD_NOISE = {
    "torchao": ("Failed to load ", "Skipping import of cpp extensions"),
    "torch.utils._pytree": ("is an Enum subclass and is now natively supported",),
}


class _DropMessages(logging.Filter):
    def __init__(self, fragments: tuple[str, ...]) -> None:
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(f in message for f in self.fragments)


def quiet_library_load() -> None:
    """Drop `LIBRARY_LOAD_NOISE` (idempotent: a logger holds one such filter, however often this runs)."""
    for name, fragments in LIBRARY_LOAD_NOISE.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages(fragments))
