"""`mujo-edge bench ...`: the benchmark suite (JSON + markdown under --out), runnable with the runtime alone.

The measuring is `mujo_edge.bench`; these commands parse, call it, print and write the result files.
Timings are compared within one run on one machine; they are never asserted in tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mujo_edge.cli.console import comma_ints, comma_list, console, err_console

app = typer.Typer(
    help="Benchmarks: format matrix, FLOPs (Table 4), streaming load. Writes JSON + markdown.", no_args_is_help=True
)

DEFAULT_OUT = Path("benchmarks") / "results"


@app.command("formats")
def formats(
    bundle: Annotated[Path, typer.Argument(help="Model bundle (folder or .zip).")],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Dataset name or CSV file/folder (default: the "
            "bundle's training dataset, its held-out test "
            "subjects).",
        ),
    ] = None,
    root: Annotated[Path | None, typer.Option("--root", help="Dataset folder.")] = None,
    subjects: Annotated[
        str | None, typer.Option("--subjects", help="Comma list of subjects (default: the bundle's test split).")
    ] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="classifier.pt of the bundle: adds torch eager fp32 as the reference row (needs the train extra).",
        ),
    ] = None,
    threads: Annotated[str, typer.Option("--threads", help="Thread counts to measure.")] = "1,2",
    runs: Annotated[int, typer.Option("--runs", help="Timed batch-1 calls per artifact and thread count.")] = 300,
    warmup: Annotated[int, typer.Option("--warmup")] = 20,
    batch: Annotated[int, typer.Option("--batch", help="Batch size of the throughput measurement.")] = 64,
    min_f1: Annotated[
        float | None,
        typer.Option("--min-f1", help="Exit 1 if any measured artifact scores below this macro-F1 (a CI floor)."),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for formats.json and formats.md.")] = DEFAULT_OUT,
) -> None:
    """Every artifact of a bundle on its engine, each in a fresh process: size, macro-F1, latency p50/p90/p99,
    batch throughput, peak RSS, time to first inference, XNNPACK share; torch eager as reference."""
    from rich.table import Table

    from mujo_edge.bench.data import labelled_windows
    from mujo_edge.bench.formats import run_matrix
    from mujo_edge.bench.report import machine, matrix_markdown, write
    from mujo_edge.bench.timing import TimingConfig
    from mujo_edge.bundle import read_bundle

    timing = TimingConfig(warmup=warmup, runs=runs, batch=batch, threads=comma_ints(threads, "--threads"))
    manifest = read_bundle(bundle).manifest
    x, y, data_info = labelled_windows(manifest, data, root, comma_list(subjects))
    console.print(
        f"{data_info['windows']:,} labelled windows of {data_info['data']} (subjects "
        f"{', '.join(data_info['subjects'])})"
    )
    with console.status("benchmarking") as status:
        rows = run_matrix(
            bundle,
            x,
            y,
            timing=timing,
            checkpoint=checkpoint,
            progress=lambda name: status.update(f"benchmarking {name}"),
        )
    info = {"bundle": str(bundle), "data": data_info, "machine": machine(), "timing": timing.__dict__}
    j, m = write(out, "formats", {**info, "rows": rows}, matrix_markdown(rows, info))
    table = Table(title=f"format matrix ({machine()['machine']}, {machine()['cpus']} CPUs)", title_justify="left")
    for col in (
        "artifact",
        "threads",
        "status",
        "MB",
        "macro-F1",
        "p50 ms",
        "p99 ms",
        "win/s @64",
        "x torch",
        "RSS MB",
    ):
        table.add_column(col, justify="left" if col in ("artifact", "status") else "right")
    for r in rows:
        lat = r.get("latency", {})
        cells = [
            r.get("size_mb"),
            r.get("macro_f1"),
            lat.get("p50_ms"),
            lat.get("p99_ms"),
            r.get("throughput_wps"),
            r.get("speedup_vs_torch"),
            r.get("peak_rss_mb"),
        ]
        fmts = ["{:.2f}", "{:.3f}", "{:.3f}", "{:.3f}", "{:.0f}", "{:.1f}", "{:.0f}"]
        status_text = r["status"] if r["status"] == "ok" else f"[red]{r['status']}[/]"
        table.add_row(
            r["artifact"],
            str(r.get("threads", "-")),
            status_text,
            *("-" if v is None else f.format(v) for v, f in zip(cells, fmts)),
        )
    console.print(table)
    console.print(f"wrote {j} and {m}")
    if min_f1 is not None:
        low = [r for r in rows if r["status"] == "ok" and r.get("macro_f1", 1.0) < min_f1]
        broken = [r for r in rows if r["status"] != "ok"]
        if low or broken:
            err_console.print(
                f"[bold red]below --min-f1 {min_f1}:[/] "
                + ", ".join(f"{r['artifact']} ({r.get('macro_f1', r['status'])})" for r in low + broken)
            )
            raise typer.Exit(1)


@app.command("flops")
def flops(
    preset: Annotated[str, typer.Option("--preset", help="Model preset (paper = Table 4's architecture).")] = "paper",
    convention: Annotated[str, typer.Option("--convention", help="paper | torch (see `model summary`).")] = "paper",
    out: Annotated[Path, typer.Option("--out", help="Folder for flops-PRESET.json and .md.")] = DEFAULT_OUT,
) -> None:
    """The paper's Table 4 re-measured: encoder / projection FLOPs and parameters per modality, vs the paper."""
    from mujo_edge.bench.report import flops_markdown, machine, write
    from mujo_edge.cli.model import print_table4
    from mujo_edge.training.table4 import measure_preset

    measured = measure_preset(preset, convention)
    print_table4(preset, convention, measured["modalities"], measured["table4"])
    j, m = write(
        out, f"flops-{preset}", {**measured, "machine": machine()}, flops_markdown(preset, convention, measured)
    )
    console.print(f"wrote {j} and {m}")


@app.command("stream")
def stream(
    bundle: Annotated[Path | None, typer.Option("--bundle", help="Bundle (default: the embedded one).")] = None,
    watches: Annotated[str, typer.Option("--watches", help="Watch counts to measure, one run each.")] = "1,2,4,8",
    seconds: Annotated[float, typer.Option("--seconds", min=2.0, help="Real-time seconds per run.")] = 20.0,
    protocol: Annotated[str, typer.Option("--protocol", help="Protocol of the emulated watches.")] = "mujo",
    out: Annotated[Path, typer.Option("--out", help="Folder for stream.json and stream.md.")] = DEFAULT_OUT,
) -> None:
    """N emulated watches at 50 Hz in real time -> BLE -> live recognition: latency, loss, CPU share, and how
    many watches one core carries."""
    from mujo_edge.bench.report import machine, write
    from mujo_edge.bench.stream import bench_stream, stream_markdown
    from mujo_edge.default_model import bundle_path

    path = bundle or bundle_path()
    with console.status("streaming") as status:
        rows = bench_stream(
            path,
            comma_ints(watches, "--watches"),
            seconds,
            protocol,
            progress=lambda what: status.update(f"streaming: {what}"),
        )
    info = {"bundle": str(path), "machine": machine(), "seconds": seconds, "protocol": protocol}
    md = stream_markdown(rows, info)
    j, m = write(out, "stream", {**info, "rows": rows}, md)
    console.print(md, markup=False, highlight=False)
    console.print(f"wrote {j} and {m}")
