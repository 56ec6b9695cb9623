"""The label-efficiency grid on Ray: scaling from one worker to two, scheduling overhead, and the full grid's time.

    python benchmarks/ray_scaling.py --out benchmarks/results/ray_scaling.json

1. Measured: the same small grid (SPAR watch, wrist accelerometer, random-init fine-tuning with a small encoder,
   12 runs) with the local executor, then on a Ray cluster started here with one worker node (1 CPU), then with a
   second worker node added (2 x 1 CPU); torch runs one thread per run in all three. Each Ray wall time includes
   joining the cluster, putting the windows into the object store and the workers' first import of torch, as a
   real grid's does. The rows of the three are compared (same seeds, same metrics).
2. Measured: scheduling overhead per run, from 200 no-op tasks that each receive the grid's windows through the
   object store (the ray executor's path without the training).
3. Computed: the paper's full grid (7 fractions x 20 runs x (random init + 4 methods x frozen/fine-tuned)) on N
   nodes of M cores, one CPU per run, from the per-run `seconds` of committed results (`--results`): a line per
   regime of seconds against labelled training windows, a greedy longest-first schedule over N x M slots, plus
   the measured overhead per run.

Needs the train and cluster extras. The machine this ran on has 2 cores that other jobs were using at the same
time: read the ratio, not the absolute times, and expect a dedicated core per run to be faster.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ISSUE14 = REPO / "benchmarks" / "results" / "issue14"
FULL_FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
FULL_RUNS = 20
PAPER_METHODS = 4  # MuJo and the three pre-training baselines, each frozen and fine-tuned
NODES = (1, 2, 4, 8, 16)
CORES = (2, 8, 32)
COMPARED = ("method", "regime", "fraction", "fold", "run", "seed", "macro_f1", "accuracy", "best_epoch")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _timed_grid(windows: Any, out: Path, executor: Any) -> tuple[float, list[dict[str, str]]]:
    from mujo_edge.training.experiments import LabelEfficiencyGrid, run_label_efficiency
    from mujo_edge.training.models import ArchConfig

    # small on purpose: the ratio between executors is the point, and the machine is shared
    grid = LabelEfficiencyGrid(
        target="spar_watch", fractions=(0.2, 0.5), regimes=("baseline",), runs=6, epochs=40, patience=40, forest=False
    )
    arch = ArchConfig(sensor_channels=(8, 8, 8), sensor_dim=32, proj_dim=32)
    started = time.perf_counter()
    path = run_label_efficiency(windows, grid, {}, out, arch=arch, executor=executor)
    return time.perf_counter() - started, _rows(path)


def _noop_overhead(address: str, windows: Any, tasks: int = 200) -> float:
    """Seconds per task between the first and the last of `tasks` no-op tasks on a warm cluster."""
    from mujo_edge.training.executors import RayExecutor

    # getattr(shared, "config") is a builtin that reads the (object-store) windows and returns at once
    stamps = [time.perf_counter() for _ in RayExecutor(address=address).map(getattr, windows, ["config"] * tasks)]
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def measure(root: str | None) -> dict[str, Any]:
    from ray.cluster_utils import Cluster

    from mujo_edge.channels import ChannelSelection
    from mujo_edge.data.prepare import prepare
    from mujo_edge.training.executors import LocalExecutor, RayExecutor

    windows = prepare("spar_watch", root, selection=ChannelSelection(placements=None, sensors=("acc",))).windows
    out: dict[str, Any] = {"windows": len(windows), "load_average_at_start": [round(v, 1) for v in os.getloadavg()]}
    with tempfile.TemporaryDirectory() as tmp:
        t_local, local_rows = _timed_grid(windows, Path(tmp) / "local", LocalExecutor(threads=1))
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            ray_executor = RayExecutor(address=cluster.address, threads_per_run=1)
            t1, rows1 = _timed_grid(windows, Path(tmp) / "ray1", ray_executor)
            cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            t2, rows2 = _timed_grid(windows, Path(tmp) / "ray2", ray_executor)
            overhead = _noop_overhead(cluster.address, windows)
        finally:
            cluster.shutdown()

    def table(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
        return sorted(tuple(r[c] for c in COMPARED) for r in rows)

    runs = len(local_rows)
    out.update(
        runs=runs,
        local_s=round(t_local, 1),
        ray_1_worker_s=round(t1, 1),
        ray_2_workers_s=round(t2, 1),
        speedup_2_over_1=round(t1 / t2, 2),
        ray_1_minus_local_per_run_s=round((t1 - t_local) / runs, 2),
        noop_task_overhead_s=round(overhead, 4),
        # a run's own time in each setting: it grows when the runs compete for the same cores
        run_seconds_mean={
            name: round(float(np.mean([float(r["seconds"]) for r in rows])), 2)
            for name, rows in (("local", local_rows), ("ray_1_worker", rows1), ("ray_2_workers", rows2))
        },
        rows_equal=table(local_rows) == table(rows1) == table(rows2),
    )
    return out


def _fit(rows: list[dict[str, str]]) -> dict[str, tuple[float, float]]:
    """regime -> (intercept, slope) of seconds against labelled training windows (least squares)."""
    by: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        if r.get("seconds") and r.get("train_windows") and r["regime"] in ("baseline", "frozen", "finetuned"):
            by[r["regime"]].append((float(r["train_windows"]), float(r["seconds"])))
    fits = {}
    for regime, points in by.items():
        x, y = np.array(points).T
        slope, intercept = np.polyfit(x, y, 1) if len(set(x)) > 1 else (0.0, float(y.mean()))
        fits[regime] = (float(intercept), float(slope))
    return fits


def estimate(folders: list[Path], overhead_s: float) -> dict[str, Any]:
    """The full grid's serial hours and its wall time on N nodes x M cores (one run per core), per target."""
    rows = [r for f in folders if (f / "results.csv").is_file() for r in _rows(f / "results.csv")]
    out: dict[str, Any] = {"folders": sorted(str(f.relative_to(REPO)) for f in folders), "targets": {}}
    for target in sorted({r["target"] for r in rows}):
        mine = [r for r in rows if r["target"] == target]
        fits = _fit(mine)
        if set(fits) != {"baseline", "frozen", "finetuned"}:
            continue
        # labelled windows per unit of label fraction (per class rounding aside, proportional)
        per_fraction = float(np.median([float(r["train_windows"]) / float(r["fraction"]) for r in mine]))
        measured = sorted({float(r["fraction"]) for r in mine})

        def seconds(regime: str, fraction: float, fits: Any = fits, per_fraction: float = per_fraction) -> float:
            a, b = fits[regime]
            return max(1.0, a + b * per_fraction * fraction) + overhead_s

        jobs = [
            seconds(regime, f)
            for f in FULL_FRACTIONS
            for _ in range(FULL_RUNS)
            for regime in ("baseline", *(("frozen", "finetuned") * PAPER_METHODS))
        ]
        walls = {}
        for nodes in NODES:
            for cores in CORES:
                slots = [0.0] * (nodes * cores)
                for t in sorted(jobs, reverse=True):  # longest first onto the least loaded core
                    heapq.heapreplace(slots, slots[0] + t)
                walls[f"{nodes}x{cores}"] = round(max(slots) / 3600, 2)
        out["targets"][target] = {
            "runs": len(jobs),
            "fits_s_per_labelled_window": {k: [round(a, 2), round(b, 4)] for k, (a, b) in sorted(fits.items())},
            "labelled_windows_at_100pct": round(per_fraction),
            "measured_fractions": measured,
            "longest_run_s": round(max(jobs)),
            "serial_hours": round(sum(jobs) / 3600, 1),
            "wall_hours": walls,
        }
    return out


def markdown(results: dict[str, Any]) -> str:
    m = results.get("measured")
    lines = [
        "# The label-efficiency grid on Ray",
        "",
        f"Command: `{results['command']}` (ray {results['ray']}, Python {results['python']}, "
        f"{results['cpus']} cores shared with other jobs running at the same time: compare ratios, not seconds).",
        "",
    ]
    if m:
        lines += [
            f"## Small grid: {m['runs']} runs (SPAR watch, {m['windows']:,} windows, random-init fine-tuning, "
            "small encoder, 1 torch thread per run)",
            "",
            "| executor | wall s |",
            "|---|---:|",
            f"| local (in process) | {m['local_s']} |",
            f"| ray, 1 worker node x 1 CPU | {m['ray_1_worker_s']} |",
            f"| ray, 2 worker nodes x 1 CPU | {m['ray_2_workers_s']} |",
            "",
            f"Speed-up from 1 to 2 workers: {m['speedup_2_over_1']}x. Rows equal across the three: {m['rows_equal']}. "
            f"Load average when it started: {', '.join(map(str, m['load_average_at_start']))} (1, 5, 15 min). "
            "Mean seconds of one run: "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in m["run_seconds_mean"].items())
            + f" (a run's own time grows when runs compete for busy cores). Ray (1 worker) minus local, per run: "
            f"{m['ray_1_minus_local_per_run_s']} s (joining the cluster and the worker's first torch import "
            f"included); no-op task through the object store: {m['noop_task_overhead_s'] * 1000:.1f} ms per run.",
            "",
        ]
    e = results["estimate"]
    lines += [
        "## The paper's full grid (7 fractions x 20 runs x (random init + 4 methods x frozen/fine-tuned)), hours",
        "",
        f"From the per-run seconds of {', '.join(e['folders'])} (measured on this 2-core machine under load), a "
        "line per regime of seconds against labelled windows (fractions above the measured ones are extrapolated), "
        f"{e['overhead_s']} s overhead per run, one run per core, longest runs first. The feature forest is not "
        "included (seconds per run, no measured times here).",
        "",
    ]
    for target, t in e["targets"].items():
        lines += [
            f"**{target}**: {t['runs']} runs, {t['serial_hours']} h on one core (measured fractions "
            f"{', '.join(f'{f:.0%}' for f in t['measured_fractions'])}; longest run {t['longest_run_s']} s)",
            "",
            "| nodes | " + " | ".join(f"{c} cores each" for c in CORES) + " |",
            "|---:|" + "---:|" * len(CORES),
        ]
        for n in NODES:
            lines.append(f"| {n} | " + " | ".join(f"{t['wall_hours'][f'{n}x{c}']}" for c in CORES) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="SPAR watch folder (default: the data root's)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ray_scaling.json"))
    parser.add_argument("--results", type=Path, nargs="*", default=None, help="results folders with per-run seconds")
    parser.add_argument(
        "--estimate-only", action="store_true", help="skip the measurement; overhead from the existing --out"
    )
    args = parser.parse_args(argv)
    import ray

    results: dict[str, Any] = {
        "command": "python benchmarks/ray_scaling.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "ray": ray.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    if args.estimate_only:
        previous = json.loads(args.out.read_text())
        results["measured"] = previous.get("measured")
        results["command"] = previous["command"]
    else:
        results["measured"] = measure(args.root)
    overhead = results["measured"]["noop_task_overhead_s"] if results["measured"] else 0.0
    folders = args.results or sorted(p for p in ISSUE14.iterdir() if (p / "results.csv").is_file())
    results["estimate"] = {**estimate(folders, overhead), "overhead_s": overhead}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(results) + "\n")
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
