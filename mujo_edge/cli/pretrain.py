"""`mujo-edge pretrain`: build the pre-training corpus from a recipe and run MuJo pre-training (or one of the
self-supervised baselines on the same corpus and schedule, `--method`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mujo_edge.cli.console import console, err_console, progress_callback

DEFAULT_DATA = Path("..") / "shared" / "data"


def pretrain(
    out: Path = typer.Option(..., "--out", help="Run folder: corpus, checkpoints, metrics, curves."),
    preset: str = typer.Option("wrist-exercise", "--preset", help="Recipe name or TOML path."),
    exclude: list[str] = typer.Option([], "--exclude", help="Dataset left out of the corpus (the evaluation "
                                                            "target); repeat for several."),
    data: Path = typer.Option(None, "--data", help="Folder holding the datasets (default: $MUJO_EDGE_DATA or "
                                                   "../shared/data)."),
    extra: list[Path] = typer.Option([], "--extra", help="Extra corpus folder in the corpus format (e.g. video or "
                                                         "ada-002 features); repeatable."),
    text_vectors: Path = typer.Option(None, "--text-vectors", help="Precomputed text embeddings (e.g. ada-002) "
                                                                   "for every description, instead of MiniLM: "
                                                                   ".npz with 'texts' and 'embeddings'."),
    epochs: int = typer.Option(None, "--epochs", help="Override the recipe's number of epochs."),
    threads: int = typer.Option(0, "--threads", help="torch threads (0 = default)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    method: str = typer.Option("mujo", "--method", help="mujo | autoencoder | simclr | multitask: the baselines "
                                                       "train the anchor's encoder on the same corpus and schedule."),
    corpus_from: Path = typer.Option(None, "--corpus", help="Reuse a corpus folder built before (e.g. "
                                                            "runs/wrist/corpus) instead of building one, so "
                                                            "methods compare on exactly the same windows."),
) -> None:
    """Pre-train the sensor encoder by aligning every modality (MuJo), leaving --exclude datasets out."""
    import os

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from mujo_edge.data.base import DATA_ENV
    from mujo_edge.errors import ConfigError
    from mujo_edge.training.corpus import Corpus
    from mujo_edge.training.corpus_builders import build_corpus
    from mujo_edge.training.distributed import init_from_env
    from mujo_edge.training.models import load_model_preset
    from mujo_edge.training.plots import plot_pretrain_curves
    from mujo_edge.training.pretrain import pretrain as run
    from mujo_edge.training.recipe import load_pretrain_preset
    from mujo_edge.training.text import PrecomputedTextEncoder, TextEncoder

    from mujo_edge.training.baselines import METHODS, BaselineConfig, pretrain_baseline

    if method != "mujo" and method not in METHODS:
        raise ConfigError(f"must be mujo or one of {METHODS}, got {method!r}", field="--method")
    if method != "mujo" and resume:
        raise ConfigError("only MuJo runs can be resumed; start the baseline again", field="--resume")
    recipe = load_pretrain_preset(preset).excluding(exclude)
    changes: dict[str, Any] = {}
    if epochs is not None:
        changes["epochs"] = epochs
    if threads:
        changes["threads"] = threads
    recipe = recipe.with_train(**changes) if changes else recipe
    data_root = data or (Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else DEFAULT_DATA)
    dist_info = init_from_env()
    corpus_dir = out / "corpus"
    if resume:
        if not (out / "last.pt").is_file():
            raise ConfigError(f"nothing to resume in {out} (no last.pt)", field="--resume")
        corpus = Corpus.load(corpus_dir)
    elif corpus_from is not None:
        corpus = Corpus.load(corpus_from)
        _check_left_out(corpus, recipe.corpus.exclude, corpus_from)
    else:
        if (out / "last.pt").is_file():
            raise ConfigError(f"{out} already holds a run: pass --resume, or choose another --out", field="--out")
        with progress_callback("building corpus") as progress:
            embedder = PrecomputedTextEncoder.from_file(text_vectors) if text_vectors else TextEncoder()
            corpus = build_corpus(recipe.corpus, data_root=data_root, embedder=embedder, extra=extra,
                                  progress=progress)
        if dist_info.is_main:
            corpus.save(corpus_dir)
    _print_corpus(corpus, recipe.corpus.exclude)
    arch = load_model_preset(recipe.model).arch
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err_console) as bar:
        epochs_task = bar.add_task("epochs", total=recipe.train.epochs, info="")
        steps_task = bar.add_task("steps", total=None, info="")

        def progress(event: dict[str, Any]) -> None:
            if event["event"] == "step":
                bar.update(steps_task, completed=event["step"], total=event["steps"],
                           info=f"loss {event['loss']:.3f}  lr {event['lr']:.2e}")
            else:
                bar.update(epochs_task, completed=event["epoch"],
                           info=f"val {event['val_loss']:.3f} (best epoch {event['best_epoch']})")
                bar.console.log(_epoch_line(event))

        if method == "mujo":
            summary = run(corpus, arch, recipe.train, out, resume=resume, dist_info=dist_info, progress=progress)
        else:
            schedule = {k: v for k, v in recipe.train.to_dict().items() if k not in ("anchor", "loss")}
            summary = pretrain_baseline(corpus, arch, BaselineConfig(**schedule, method=method), out,
                                        anchor=recipe.train.anchor, progress=progress)
    if dist_info.is_main:
        png = plot_pretrain_curves(out / "metrics.jsonl", out / "curves.png")
        table = Table(title=f"pre-training done: {out}", title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_row("epochs run", str(summary["epochs_run"]))
        table.add_row("best epoch (validation loss)", f"{summary['best_epoch']} ({summary['best_val_loss']:.4f})")
        for key, value in summary["last"].items():
            if "/" in key and not key.startswith("val_pair"):
                table.add_row(key, f"{value:.3f}")
        console.print(table)
        console.print(f"checkpoints: {out / 'best.pt'}, {out / 'last.pt'}; metrics: {out / 'metrics.jsonl'}; "
                      f"curves: {png}")


def _check_left_out(corpus: Any, exclude: tuple[str, ...], folder: Path) -> None:
    """A reused corpus must not contain a dataset the run is asked to leave out."""
    from mujo_edge.errors import ConfigError

    present = sorted(set(corpus.source.tolist()) & set(exclude))
    if present:
        raise ConfigError(f"the corpus in {folder} contains {present}, which --exclude leaves out", field="--corpus")


def _epoch_line(e: dict[str, Any]) -> str:
    shown = [k for k in e if k.endswith("/balanced_top1")
             or (k.endswith("/top1") and k.replace("/top1", "/balanced_top1") not in e)]
    ret = "  ".join(f"{k.split('/')[0]} {e[k]:.2f}" for k in shown)
    return f"epoch {e['epoch']:3d}  train {e['train_loss']:.4f}  val {e['val_loss']:.4f}  {ret}  ({e['seconds']:.0f} s)"


def _print_corpus(corpus: Any, exclude: tuple[str, ...]) -> None:
    from rich.table import Table

    table = Table(title=f"pre-training corpus: {len(corpus):,} windows"
                        + (f" (left out: {', '.join(exclude)})" if exclude else ""), title_justify="left")
    table.add_column("source")
    table.add_column("windows", justify="right")
    for name in corpus.modalities + ["text"]:
        table.add_column(name, justify="right")
    for source in sorted(set(corpus.source.tolist())):
        sel = corpus.source == source
        cells = [f"{int((corpus.present[m] & sel).sum()):,}" for m in corpus.modalities]
        cells.append(f"{int((corpus.has_text() & sel).sum()):,}")
        table.add_row(source, f"{int(sel.sum()):,}", *cells)
    console.print(table)
