"""`mujo-edge model ...`: inspect model architectures (parameters and FLOPs per modality, as the paper's Table 4)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mujo_edge.bench.report import human
from mujo_edge.cli.console import console
from mujo_edge.metrics import dumps_strict

app = typer.Typer(help="Models: architecture presets, parameters and FLOPs per modality.", no_args_is_help=True)

_PARTS = ("encoder", "projection", "total")


@app.command("summary")
def summary(
    preset: Annotated[
        str, typer.Option("--preset", help="Model preset name (see `--list`) or a TOML file path.")
    ] = "wrist",
    convention: Annotated[
        str,
        typer.Option(
            "--convention",
            help="FLOP counting: 'torch' (matmul/conv multiply-adds x 2, "
            "torch.utils.flop_counter) or 'paper' (plus the bias, ReLU, pooling "
            "and LayerNorm ops Table 4 counts).",
        ),
    ] = "torch",
    as_json: Annotated[bool, typer.Option("--json", help="Print the measurements as JSON instead of tables.")] = False,
    list_presets: Annotated[bool, typer.Option("--list", help="List the model presets and exit.")] = False,
) -> None:
    """Encoder / projection / total FLOPs (one window, batch 1) and parameters per modality, vs the paper's Table 4."""
    from mujo_edge.training.models import available_model_presets
    from mujo_edge.training.table4 import measure_preset

    if list_presets:
        console.print("\n".join(available_model_presets()))
        return
    measured = measure_preset(preset, convention)
    rows, comparison = measured["modalities"], measured["table4"]
    if as_json:
        console.print_json(dumps_strict(measured))
        return
    print_table4(preset, convention, rows, comparison)


def print_table4(preset: str, convention: str, rows: list[dict[str, Any]], comparison: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(
        title=f"model preset '{preset}': FLOPs (forward, one window, {convention} convention) and parameters",
        title_justify="left",
    )
    table.add_column("modality", style="bold")
    table.add_column("input")
    for col in (
        "encoder FLOPs",
        "encoder params",
        "projection FLOPs",
        "projection params",
        "total FLOPs",
        "total params",
    ):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            f"{r['modality']} ({r['kind']})",
            " x ".join(map(str, r["input"])),
            *(human(r[f"{part}_{q}"]) for part in _PARTS for q in ("flops", "params")),
        )
    console.print(table)
    if not comparison:
        console.print("[dim]no modality corresponds to a row of the paper's Table 4[/]")
        return
    cmp = Table(title="vs the paper's Table 4 (difference = ours / paper - 1)", title_justify="left")
    for col in ("modality", "Table 4 row", "part"):
        cmp.add_column(col)
    for col in ("params", "paper", "diff", "FLOPs", "paper", "diff"):
        cmp.add_column(col, justify="right")
    for c in comparison:
        for part in _PARTS:
            cells = []
            for q in ("params", "flops"):
                k = f"{part}_{q}"
                d = c["diff_pct"][k]
                cells += [human(c["ours"][k]), human(c["paper"][k]), "0.00 %" if abs(d) < 0.005 else f"{d:+.2f} %"]
            cmp.add_row(
                c["modality"] if part == "encoder" else "",
                c["table4_row"] if part == "encoder" else "",
                part,
                *cells,
                end_section=part == "total",
            )
    console.print(cmp)
