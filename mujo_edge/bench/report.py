"""Benchmark results as JSON (everything) and markdown (the table a README quotes)."""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mujo_edge.metrics import dumps_strict


def machine() -> dict[str, Any]:
    """Where the numbers were measured (timings only compare within one run on one machine)."""
    import os

    return {
        "machine": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or "",
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }


def human(n: float) -> str:
    """A count in the paper's units: 2.1521 M, 619.5140 K."""
    if abs(n) >= 1e6:
        return f"{n / 1e6:.4f} M"
    if abs(n) >= 1e3:
        return f"{n / 1e3:.4f} K"
    return f"{n:g}"


def _f(v: Any, fmt: str = "{:.3f}") -> str:
    return "-" if v is None else fmt.format(v)


def matrix_markdown(rows: Sequence[Mapping[str, Any]], info: Mapping[str, Any]) -> str:
    lines = [
        f"# Format matrix: {info.get('bundle', '')}",
        "",
        f"Data: {info.get('data', {})}. Machine: {info.get('machine', {})}.",
        "",
        "| artifact | engine | threads | status | size MB | macro-F1 | p50 ms | p90 ms | p99 ms | outliers | "
        "batch-64 win/s | x torch | peak RSS MB | first inference s | XNNPACK ops |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lat = r.get("latency", {})
        x = r.get("xnnpack")
        lines.append(
            " | ".join(
                [
                    f"| {r['artifact']}",
                    r.get("engine", "-"),
                    str(r.get("threads", "-")),
                    r["status"],
                    _f(r.get("size_mb"), "{:.2f}"),
                    _f(r.get("macro_f1")),
                    _f(lat.get("p50_ms")),
                    _f(lat.get("p90_ms")),
                    _f(lat.get("p99_ms")),
                    str(lat.get("outliers", "-")),
                    _f(r.get("throughput_wps"), "{:.0f}"),
                    _f(r.get("speedup_vs_torch"), "{:.1f}"),
                    _f(r.get("peak_rss_mb"), "{:.0f}"),
                    _f(r.get("first_inference_s"), "{:.2f}"),
                    f"{x['delegated']}/{x['ops']}" if x else "-",
                ]
            )
            + " |"
        )
    failed = [r for r in rows if r["status"] not in ("ok",)]
    for r in failed:
        lines.append(f"\n{r['artifact']}: {r['status']} {r.get('notes', '')}".rstrip())
    return "\n".join(lines) + "\n"


def flops_markdown(preset: str, convention: str, measured: Mapping[str, Any]) -> str:
    """The Table 4 re-measurement (`training.table4.measure_preset`) as a markdown table per modality."""
    lines = [
        f"# FLOPs and parameters of preset '{preset}' ({convention} convention)",
        "",
        "| modality | encoder FLOPs | encoder params | projection FLOPs | projection params | total FLOPs | "
        "total params | Table 4 row | max diff vs paper |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    diffs = {c["modality"]: max(abs(v) for v in c["diff_pct"].values()) for c in measured["table4"]}
    for r in measured["modalities"]:
        d = diffs.get(r["modality"])
        parts = ("encoder", "projection", "total")
        cells = " | ".join(human(r[f"{p}_{q}"]) for p in parts for q in ("flops", "params"))
        lines.append(f"| {r['modality']} | {cells} | {r['table4_row'] or '-'} | {'-' if d is None else f'{d:.2f} %'} |")
    return "\n".join(lines) + "\n"


def write(out: Path, stem: str, payload: Mapping[str, Any], markdown: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    j, m = out / f"{stem}.json", out / f"{stem}.md"
    j.write_text(dumps_strict(payload, indent=2, default=str) + "\n")
    m.write_text(markdown)
    return j, m
