"""`mujo-edge finetune`: train a classifier on a dataset's labelled windows and write the checkpoint export reads."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mujo_edge.cli.console import comma_list, console, err_console
from mujo_edge.metrics import dumps_strict

if TYPE_CHECKING:
    from mujo_edge.splits import Split
    from mujo_edge.windows import Windows


def finetune(
    dataset: Annotated[str, typer.Option("--dataset", help="Dataset loader name (see `mujo-edge data list`).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for classifier.pt, metrics.json and history.jsonl.")],
    root: Annotated[Path | None, typer.Option("--root", help="Dataset folder.")] = None,
    sensors: Annotated[
        str, typer.Option("--sensors", help="Comma list: acc, gyro (several streams = multimodal).")
    ] = "acc",
    placements: Annotated[
        str | None, typer.Option("--placements", help="Comma list of placements, e.g. wrist,pocket.")
    ] = None,
    pretrained: Annotated[
        Path | None,
        typer.Option("--pretrained", help="Pre-training checkpoint (best.pt); needed unless --regime baseline."),
    ] = None,
    regime: Annotated[str, typer.Option("--regime", help="baseline | frozen | finetuned.")] = "finetuned",
    fraction: Annotated[float, typer.Option("--fraction", help="Share of labelled training windows per class.")] = 1.0,
    folds: Annotated[int, typer.Option("--folds", help="Subject-wise folds.")] = 5,
    fold: Annotated[int, typer.Option("--fold", help="Which fold tests (1-based); one other subject validates.")] = 1,
    val_subjects: Annotated[
        str | None,
        typer.Option(
            "--val-subjects",
            help="Comma list of subjects that validate (early stopping). Default: one subject that holds every "
            "class, chosen by the seed.",
        ),
    ] = None,
    split_by: Annotated[
        str,
        typer.Option(
            "--split-by",
            help="subject (default) | recording: folds of recordings, for data of one or two subjects (the score "
            "is optimistic: the test subject's other recordings are in training).",
        ),
    ] = "subject",
    with_null: Annotated[
        bool, typer.Option("--null", help="Keep unlabelled / transition windows as a NULL class.")
    ] = False,
    epochs: Annotated[int, typer.Option("--epochs")] = 200,
    patience: Annotated[int, typer.Option("--patience")] = 25,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the split, the label draw and the initialisation.")] = 0,
) -> None:
    """Fine-tune (or train from scratch) a classifier, subject-wise, and save everything export needs."""
    from rich.table import Table

    from mujo_edge.channels import ChannelSelection
    from mujo_edge.data.prepare import prepare
    from mujo_edge.data.registry import get_loader
    from mujo_edge.data.texts import label_texts
    from mujo_edge.training.checkpoints import read_pretrain, write_classifier
    from mujo_edge.training.finetune import FinetuneConfig, FinetuneEpoch, classifier_checkpoint
    from mujo_edge.training.finetune import finetune as run
    from mujo_edge.training.leave_out import check_leave_target_out
    from mujo_edge.training.models import load_model_preset
    from mujo_edge.windows import NULL_CLASS, null_labels

    config = FinetuneConfig(regime=regime, fraction=fraction, epochs=epochs, patience=patience, seed=seed)
    spec = get_loader(dataset).spec
    prepared = prepare(
        dataset, root, selection=ChannelSelection(placements=comma_list(placements), sensors=comma_list(sensors))
    )
    windows = null_labels(prepared.windows, spec.null_classes, with_null)
    windows, split = choose_split(windows, split_by, folds, fold, seed, comma_list(val_subjects))
    ckpt = read_pretrain(pretrained) if pretrained else None
    if ckpt is not None:
        check_leave_target_out(str(pretrained), ckpt, dataset)
    arch = None if ckpt else load_model_preset("wrist").arch
    history: list[dict[str, Any]] = []

    def progress(event: FinetuneEpoch) -> None:
        history.append({"event": "epoch", **event.to_dict()})  # the history.jsonl layout of earlier versions
        err_console.print(
            f"epoch {event.epoch:3d}  loss {event.train_loss:.4f}  val macro-F1 {event.val_macro_f1:.3f}",
            highlight=False,
        )

    result = run(
        windows.for_subjects(split.train),
        windows.for_subjects(split.val),
        windows.for_subjects(split.test),
        config,
        pretrained=ckpt,
        arch=arch,
        progress=progress,
    )
    # a user's own labels keep the descriptions in the mujo-labels.toml next to the data (the bundle's label texts)
    classes = [c for c in windows.classes if c != NULL_CLASS]
    texts = {c: t.primary for c, t in label_texts(dataset, classes, data_root=prepared.summary.root).items()}
    out.mkdir(parents=True, exist_ok=True)
    write_classifier(
        classifier_checkpoint(
            result,
            channels=windows.channels,
            window=windows.config.to_dict(),
            dataset=dataset,
            label_texts=texts,
            config=config,
            split={"train": split.train, "val": split.val, "test": split.test},
            split_by=split_by,
            pretrained_from=str(pretrained) if pretrained else None,
            pretraining_sources=ckpt.corpus.sources if ckpt is not None and ckpt.corpus is not None else (),
            data=prepared.provenance,
        ),
        out / "classifier.pt",
    )
    (out / "metrics.json").write_text(dumps_strict(result.metrics, indent=2) + "\n")
    (out / "history.jsonl").write_text("".join(dumps_strict(h) + "\n" for h in history))
    test = result.metrics["test"]
    table = Table(
        title=f"{dataset} {split.name}, {regime}, {fraction:.0%} labels: test subjects {', '.join(split.test)}",
        title_justify="left",
    )
    table.add_column("class")
    table.add_column("F1", justify="right")
    for cls, f1 in zip(result.classes, test["f1_per_class"]):
        table.add_row(cls, "-" if f1 is None or f1 != f1 else f"{f1:.3f}")
    table.add_row("[bold]macro-F1[/]", f"[bold]{test['macro_f1']:.3f}[/]")
    table.add_row("accuracy", f"{test['accuracy']:.3f}")
    smoothed = result.metrics.get("test_smoothed")
    if smoothed:
        table.add_row(f"macro-F1, majority of {smoothed['windows']} windows", f"{smoothed['macro_f1']:.3f}")
    console.print(table)
    console.print(f"best epoch {result.metrics['best_epoch']} of {result.metrics['epochs_run']}; wrote {out}")


def choose_split(
    windows: Windows, split_by: str, folds: int, fold: int, seed: int, val: Sequence[str] | None
) -> tuple[Windows, Split]:
    """The fold that tests, validated on `val` or on subjects holding every class (a warning when none can), and
    the windows it splits (with `--split-by recording`, each recording stands for a subject)."""
    from dataclasses import replace

    from mujo_edge.errors import ConfigError
    from mujo_edge.splits import cover_classes, subject_kfold, with_validation

    if split_by not in ("subject", "recording"):
        raise ConfigError(f"must be subject or recording, got {split_by!r}", field="--split-by")
    if split_by == "recording":
        err_console.print(
            "[yellow]warning:[/] folds of recordings: the test recordings' subjects are also in training, so "
            "the score is optimistic (it does not measure a new wearer)",
            highlight=False,
        )
        windows = replace(windows, subject=windows.recording.copy())
    units = windows.subjects()
    what = "subjects" if split_by == "subject" else "recordings"
    if len(units) < 3:
        hint = (
            "record more subjects, or pass --split-by recording (folds of recordings; the score is then optimistic)"
            if split_by == "subject"
            else "record more sets"
        )
        raise ConfigError(
            f"the data has {len(units)} {what} ({', '.join(units)}); folds need at least 3 (one to test, one to "
            f"validate, one to train): {hint}",
            field="--split-by" if split_by == "recording" else "data",
        )
    # a fold tests on ceil(n / k) units and needs one more to validate and one to train
    usable = [k for k in range(2, len(units) + 1) if len(units) - math.ceil(len(units) / k) >= 2]
    if folds not in usable:
        raise ConfigError(
            f"{folds} folds do not fit {len(units)} {what} (each fold tests on some, one validates, the rest "
            f"train): pass --folds between {usable[0]} and {usable[-1]}",
            field="--folds",
        )
    splits = subject_kfold(units, folds, seed=seed, n_val=1)
    if not 1 <= fold <= len(splits):
        raise ConfigError(f"must be in 1..{len(splits)}", field="--fold")
    split = splits[fold - 1]
    if val:
        return windows, with_validation(split, val)
    split, note = cover_classes(split, windows.classes_by_subject())
    if note:
        err_console.print(f"[yellow]warning:[/] {note}", highlight=False)
    return windows, split
