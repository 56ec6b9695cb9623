"""`mujo-edge export`: a classifier checkpoint -> a model bundle (TFLite, ExecuTorch, ONNX) with measured parity."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mujo_edge.cli.console import STATUS_STYLE, console, progress_callback

FORMAT_CHOICES = ("tflite", "executorch", "onnx", "all")


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def export(
    checkpoint: Annotated[
        Path, typer.Argument(help="Classifier checkpoint (classifier.pt from `mujo-edge finetune`).")
    ],
    format: Annotated[str, typer.Option("--format", help="tflite | executorch | onnx | all.")] = "all",
    int8: Annotated[
        bool, typer.Option("--int8/--no-int8", help="Also write int8 models, calibrated on --calib.")
    ] = False,
    int8_io: Annotated[
        bool, typer.Option("--int8-io", help="TFLite int8 with int8 input/output (full integer).")
    ] = False,
    int8_activations: Annotated[
        str,
        typer.Option(
            "--int8-activations",
            help="static: int8 activations, ranges calibrated on --calib (fastest on integer-only hardware); "
            "dynamic (TFLite): int8 weights, activations quantised per inference (no calibration error, float I/O).",
        ),
    ] = "static",
    calib: Annotated[
        str,
        typer.Option(
            "--calib",
            help="'dataset': 300 windows of the checkpoint's training "
            "subjects, prepared as in training (the dataset must be "
            "found); or a .npy/.npz FILE of raw windows [N, C, "
            "100].",
        ),
    ] = "dataset",
    root: Annotated[
        Path | None, typer.Option("--root", help="Dataset folder (held-out test windows, --calib dataset).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Bundle folder (default: <checkpoint folder>/bundle).")
    ] = None,
    max_f1_drop: Annotated[
        float, typer.Option("--max-f1-drop", help="Largest macro-F1 drop vs torch fp32 that passes (0.01 = one point).")
    ] = 0.01,
    layers: Annotated[int, typer.Option("--layers", help="Worst int8 layers (SQNR) to show.")] = 10,
) -> None:
    """Export a classifier into a model bundle and check every model file against torch on held-out subjects.

    Exit code 1 when any artifact failed to export or lost more than --max-f1-drop macro-F1."""
    from rich import box
    from rich.table import Table

    from mujo_edge.bundle import ArtifactStatus
    from mujo_edge.errors import ConfigError
    from mujo_edge.export.pipeline import ALL_FORMATS, export_checkpoint

    if format not in FORMAT_CHOICES:
        raise ConfigError(f"must be one of {', '.join(FORMAT_CHOICES)}, got {format!r}", field="--format")
    if layers < 0:
        raise ConfigError(f"must be >= 0, got {layers}", field="--layers")
    formats = ALL_FORMATS if format == "all" else (format,)
    target = out or checkpoint.parent / "bundle"
    with progress_callback("export") as progress:
        report = export_checkpoint(
            checkpoint,
            target,
            formats=formats,
            int8=int8,
            int8_io=int8_io,
            calib=calib,
            data_root=root,
            max_f1_drop=max_f1_drop,
            int8_activations=int8_activations,
            progress=progress,
        )

    base = report.torch_fp32
    # short headers, no borders, nothing wrapped: the table fits an 80-column terminal even with "executorch"
    table = Table(
        title=f"{report.bundle}: {report.test_windows} held-out windows, torch fp32 macro-F1 "
        f"{base['macro_f1']:.3f}; calibration {report.calibration_count} windows",
        title_justify="left",
        box=None,
        padding=(0, 1),
        pad_edge=False,
    )
    for col, just in (
        ("format", "left"),
        ("prec", "left"),
        ("status", "left"),
        ("MB", "right"),
        ("max|Δlogit|", "right"),
        ("agree", "right"),
        ("F1", "right"),
        ("ΔF1", "right"),
    ):
        table.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for r in report.rows:
        style = STATUS_STYLE[ArtifactStatus(r.status)]
        agree = None if r.top1_agreement is None else 100 * r.top1_agreement
        table.add_row(
            r.format,
            r.precision,
            f"[{style}]{r.status}[/]",
            _num(None if r.bytes is None else r.bytes / 1e6, ".2f"),
            _num(r.max_abs_logit_diff, ".1e"),
            _num(agree, ".1f") + ("%" if agree is not None else ""),
            _num(r.macro_f1, ".3f"),
            _num(r.delta_macro_f1, "+.3f"),
        )
    console.print(table)
    for r in report.rows:
        if r.status == ArtifactStatus.EXPORT_FAILED:
            console.print(f"[red]{r.name}[/]: {r.notes}", highlight=False, soft_wrap=True)
    if report.sqnr and layers:
        worst = Table(
            title="int8 per-layer error (ONNX QDQ vs fp32 ONNX), worst first", title_justify="left", box=box.SIMPLE_HEAD
        )
        worst.add_column("layer")
        worst.add_column("op")
        worst.add_column("SQNR dB", justify="right")
        for e in report.sqnr[:layers]:
            worst.add_row(e.layer, e.op, f"{e.sqnr_db:.1f}")
        console.print(worst)
    console.print(f"wrote {report.bundle} in {report.seconds:.0f} s")
    if report.failed:
        console.print(
            f"[bold red]export failed[/]: an artifact did not export or lost more than "
            f"{report.max_f1_drop:.3f} macro-F1",
            highlight=False,
        )
        raise typer.Exit(code=1)
