"""Data-pipeline benchmark: how fast recordings become 50 Hz windows, cold and from the cache.

    python benchmarks/bench_data.py --data ../shared/data --out benchmarks/results

Writes `data.json` and `data.md` into --out. Needs only the runtime install (numpy, scipy), so it runs on
a Raspberry Pi as it is. Times are medians over --repeats runs, with min and max reported, never hidden.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge import __version__
from mujo_edge.channels import triaxial
from mujo_edge.config import WindowConfig
from mujo_edge.data.prepare import prepare
from mujo_edge.recording import Recording
from mujo_edge.resample import resample
from mujo_edge.windows import window_recording

REAL = ("spar_watch", "hapt", "sp_sw_har")


def timed(fn: Callable[[], Any], repeats: int) -> tuple[dict[str, float], Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}, out


def synthetic(hours: float, rate: float, seed: int = 0) -> Recording:
    """A jittered `rate` Hz, 6-channel stream of `hours` hours (timestamps irregular like a real phone)."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * rate)
    t = np.cumsum(rng.uniform(0.5, 1.5, n) / rate)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    chans = (*triaxial("wrist", "acc", "m/s^2"), *triaxial("wrist", "gyro", "rad/s"))
    return Recording.create(t, x, chans, subject="bench", source="synthetic")


def run(data: Path | None, repeats: int, hours: float) -> dict[str, Any]:
    results: dict[str, Any] = {
        "version": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "repeats": repeats,
        "datasets": {},
        "synthetic": {},
    }
    config = WindowConfig()
    for rate in (10.0, 100.0):
        rec = synthetic(hours, rate)
        # timed() calls each lambda before the loop moves on; the defaults bind this iteration's values anyway
        stats, grid = timed(lambda rec=rec: resample(rec, config), repeats)
        wstats, windows = timed(lambda rec=rec: window_recording(rec, config), repeats)
        results["synthetic"][f"{rate:g}Hz"] = {
            "source_samples": rec.n_samples,
            "grid_samples": grid.n_samples,
            "resample": stats,
            "resample_msamples_per_s": rec.n_samples / stats["median_s"] / 1e6,
            "resample_and_window": wstats,
            "windows": len(windows),
        }
    for name in REAL:
        root = data / name if data else None
        if root is None or not root.exists():
            results["datasets"][name] = {"status": "skipped: no data"}
            continue
        with tempfile.TemporaryDirectory() as cache:
            cold, prepared = timed(lambda name=name, root=root: prepare(name, root, cache=False), repeats)
            prepare(name, root, cache_dir=Path(cache))
            warm, _ = timed(lambda name=name, root=root: prepare(name, root, cache_dir=Path(cache)), repeats)
        s = prepared.summary
        results["datasets"][name] = {
            "status": "ok",
            "recordings": s.recordings,
            "samples": s.samples,
            "windows": s.windows,
            "cold": cold,
            "cached": warm,
            "speedup_from_cache": cold["median_s"] / warm["median_s"],
        }
    return results


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"# Data pipeline benchmark (mujo-edge {r['version']}, Python {r['python']}, {r['machine']})",
        "",
        f"Median of {r['repeats']} runs (min-max in brackets).",
        "",
        "| dataset | recordings | samples | windows | cold prepare | from cache | speed-up |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, d in r["datasets"].items():
        if d["status"] != "ok":
            lines.append(f"| {name} | {d['status']} | | | | | |")
            continue
        c, w = d["cold"], d["cached"]
        lines.append(
            f"| {name} | {d['recordings']} | {d['samples']:,} | {d['windows']:,} | "
            f"{c['median_s']:.2f} s ({c['min_s']:.2f}-{c['max_s']:.2f}) | "
            f"{w['median_s'] * 1000:.0f} ms ({w['min_s'] * 1000:.0f}-{w['max_s'] * 1000:.0f}) | "
            f"{d['speedup_from_cache']:.0f}x |"
        )
    lines += [
        "",
        "| synthetic stream | source samples | resample | Msamples/s | resample + window | windows |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, d in r["synthetic"].items():
        lines.append(
            f"| {name}, 6 channels, jittered | {d['source_samples']:,} | "
            f"{d['resample']['median_s'] * 1000:.0f} ms | {d['resample_msamples_per_s']:.1f} | "
            f"{d['resample_and_window']['median_s'] * 1000:.0f} ms | {d['windows']:,} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder holding the datasets")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hours", type=float, default=1.0, help="length of the synthetic streams")
    args = parser.parse_args(argv)
    results = run(args.data, args.repeats, args.hours)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "data.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "data.md").write_text(markdown(results))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
