"""`mujo-edge bench ...`: the benchmark suite (JSON + markdown under --out), runnable with the runtime alone.

Timings are compared within one run on one machine; they are never asserted in tests.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mujo_edge.cli.console import console, err_console

app = typer.Typer(help="Benchmarks: format matrix, FLOPs (Table 4), streaming load. Writes JSON + markdown.",
                  no_args_is_help=True)

DEFAULT_OUT = Path("benchmarks") / "results"


def _ints(text: str, field: str) -> tuple[int, ...]:
    from mujo_edge.errors import ConfigError

    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"not a comma list of integers: {text!r}", field=field) from None


@app.command("formats")
def formats(
    bundle: Path = typer.Argument(..., help="Model bundle (folder or .zip)."),
    data: str = typer.Option(None, "--data", help="Dataset name or CSV file/folder (default: the bundle's "
                                                  "training dataset, its held-out test subjects)."),
    root: Path = typer.Option(None, "--root", help="Dataset folder."),
    subjects: str = typer.Option(None, "--subjects", help="Comma list of subjects (default: the bundle's test split)."),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="classifier.pt of the bundle: adds torch eager fp32 "
                                                               "as the reference row (needs the train extra)."),
    threads: str = typer.Option("1,2", "--threads", help="Thread counts to measure."),
    runs: int = typer.Option(300, "--runs", help="Timed batch-1 calls per artifact and thread count."),
    warmup: int = typer.Option(20, "--warmup"),
    batch: int = typer.Option(64, "--batch", help="Batch size of the throughput measurement."),
    min_f1: float = typer.Option(None, "--min-f1", help="Exit 1 if any measured artifact scores below this "
                                                        "macro-F1 (a CI floor)."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Folder for formats.json and formats.md."),
) -> None:
    """Every artifact of a bundle on its engine, each in a fresh process: size, macro-F1, latency p50/p90/p99,
    batch throughput, peak RSS, time to first inference, XNNPACK share; torch eager as reference."""
    from rich.table import Table

    from mujo_edge.bench.data import labelled_windows
    from mujo_edge.bench.formats import run_matrix
    from mujo_edge.bench.report import machine, matrix_markdown, write
    from mujo_edge.bench.timing import TimingConfig
    from mujo_edge.bundle import read_bundle

    timing = TimingConfig(warmup=warmup, runs=runs, batch=batch, threads=_ints(threads, "--threads"))
    manifest = read_bundle(bundle).manifest
    subject_list = tuple(s.strip() for s in subjects.split(",")) if subjects else None
    x, y, data_info = labelled_windows(manifest, data, root, subject_list)
    console.print(f"{data_info['windows']:,} labelled windows of {data_info['data']} (subjects "
                  f"{', '.join(data_info['subjects'])})")
    with console.status("benchmarking") as status:
        rows = run_matrix(bundle, x, y, timing=timing, checkpoint=checkpoint,
                          progress=lambda name: status.update(f"benchmarking {name}"))
    info = {"bundle": str(bundle), "data": data_info, "machine": machine(), "timing": timing.__dict__}
    j, m = write(out, "formats", {**info, "rows": rows}, matrix_markdown(rows, info))
    table = Table(title=f"format matrix ({machine()['machine']}, {machine()['cpus']} CPUs)", title_justify="left")
    for col in ("artifact", "threads", "status", "MB", "macro-F1", "p50 ms", "p99 ms", "win/s @64", "x torch",
                "RSS MB"):
        table.add_column(col, justify="left" if col in ("artifact", "status") else "right")
    for r in rows:
        lat = r.get("latency", {})
        cells = [r.get("size_mb"), r.get("macro_f1"), lat.get("p50_ms"), lat.get("p99_ms"), r.get("throughput_wps"),
                 r.get("speedup_vs_torch"), r.get("peak_rss_mb")]
        fmts = ["{:.2f}", "{:.3f}", "{:.3f}", "{:.3f}", "{:.0f}", "{:.1f}", "{:.0f}"]
        status_text = r["status"] if r["status"] == "ok" else f"[red]{r['status']}[/]"
        table.add_row(r["artifact"], str(r.get("threads", "-")), status_text,
                      *("-" if v is None else f.format(v) for v, f in zip(cells, fmts)))
    console.print(table)
    console.print(f"wrote {j} and {m}")
    if min_f1 is not None:
        low = [r for r in rows if r["status"] == "ok" and r.get("macro_f1", 1.0) < min_f1]
        broken = [r for r in rows if r["status"] != "ok"]
        if low or broken:
            err_console.print(f"[bold red]below --min-f1 {min_f1}:[/] "
                              + ", ".join(f"{r['artifact']} ({r.get('macro_f1', r['status'])})" for r in low + broken))
            raise typer.Exit(1)


@app.command("flops")
def flops(
    preset: str = typer.Option("paper", "--preset", help="Model preset (paper = Table 4's architecture)."),
    convention: str = typer.Option("paper", "--convention", help="paper | torch (see `model summary`)."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Folder for flops-PRESET.json and .md."),
) -> None:
    """The paper's Table 4 re-measured: encoder / projection FLOPs and parameters per modality, vs the paper."""
    from mujo_edge.bench.report import machine, write
    from mujo_edge.cli.model import human, print_table4
    from mujo_edge.training.table4 import measure_preset

    measured = measure_preset(preset, convention)
    print_table4(preset, convention, measured["modalities"], measured["table4"])
    lines = [f"# FLOPs and parameters of preset '{preset}' ({convention} convention)", "",
             "| modality | encoder FLOPs | encoder params | projection FLOPs | projection params | total FLOPs | "
             "total params | Table 4 row | max diff vs paper |", "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    diffs = {c["modality"]: max(abs(v) for v in c["diff_pct"].values()) for c in measured["table4"]}
    for r in measured["modalities"]:
        d = diffs.get(r["modality"])
        lines.append(f"| {r['modality']} | " + " | ".join(human(r[f"{p}_{q}"]) for p in ("encoder", "projection", "total")
                                                         for q in ("flops", "params"))
                     + f" | {r['table4_row'] or '-'} | {'-' if d is None else f'{d:.2f} %'} |")
    j, m = write(out, f"flops-{preset}", {**measured, "machine": machine()}, "\n".join(lines) + "\n")
    console.print(f"wrote {j} and {m}")


@app.command("stream")
def stream(
    bundle: Path = typer.Option(None, "--bundle", help="Bundle (default: the embedded one)."),
    watches: str = typer.Option("1,2,4,8", "--watches", help="Watch counts to measure, one run each."),
    seconds: float = typer.Option(20.0, "--seconds", min=2.0, help="Real-time seconds per run."),
    protocol: str = typer.Option("mujo", "--protocol", help="Protocol of the emulated watches."),
    out: Path = typer.Option(DEFAULT_OUT, "--out", help="Folder for stream.json and stream.md."),
) -> None:
    """N emulated watches at 50 Hz in real time -> BLE -> live recognition: latency, loss, CPU share, and how
    many watches one core carries."""
    from mujo_edge.bench.report import machine, write
    from mujo_edge.bench.stream import bench_stream, stream_markdown
    from mujo_edge.default_model import bundle_path

    path = bundle or bundle_path()
    with console.status("streaming") as status:
        rows = bench_stream(path, _ints(watches, "--watches"), seconds, protocol,
                            progress=lambda what: status.update(f"streaming: {what}"))
    info = {"bundle": str(path), "machine": machine(), "seconds": seconds, "protocol": protocol}
    md = stream_markdown(rows, info)
    j, m = write(out, "stream", {**info, "rows": rows}, md)
    console.print(md, markup=False, highlight=False)
    console.print(f"wrote {j} and {m}")
