"""What the recipe costs on a laptop: pre-training and one target's reduced grid, timed on this machine.

Issue 14, item 5: the CPU pre-training preset in <= 20 min on 2 cores, the reduced grid of one target in <= 60 min.
Both steps run as the user would run them (`mujo-edge pretrain`, then `mujo-edge experiment label-efficiency
--grid reduced` with the new checkpoint), each in its own process, timed by the wall clock; the machine's cores,
CPU and load are recorded beside the times, because a busy machine makes them longer. Needs the training install
(`pip install -e ".[all]"`); this script itself does not import torch.

    python benchmarks/laptop_costs.py --data ../shared/data --out benchmarks/results --work runs/laptop-costs
    python benchmarks/laptop_costs.py --out benchmarks/results --readme README.md   # only rewrite the README block

Writes `laptop_costs.json` and `laptop_costs.md` to --out; the scratch run folders (checkpoints, 50 MB) stay in
--work, which is not committed. A step whose folder already holds a finished run is not timed again unless
--fresh is given (the JSON keeps the first measurement).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mujo_edge.training import results_tables

PRETRAIN_LIMIT_S = 20 * 60  # issue 14, item 5
GRID_LIMIT_S = 60 * 60
README_BLOCK = "laptop-costs"
GENERATOR = "`python benchmarks/laptop_costs.py --readme README.md`"


def machine() -> dict[str, Any]:
    cpu = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if "model name" in ln), "")
    return {
        "cores": os.cpu_count(),
        "cpu": cpu or platform.processor(),
        "python": platform.python_version(),
    }


def timed(command: list[str], log: Path, threads: int, data: Path) -> float:
    """Run `command` with its output in `log`; the wall-clock seconds (SystemExit naming the log on failure)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "MUJO_EDGE_DATA": str(data)}
    print("$", " ".join(command), flush=True)
    t0 = time.perf_counter()
    with log.open("w") as fh:
        code = subprocess.call(command, stdout=fh, stderr=subprocess.STDOUT, env=env)
    seconds = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"{command[2:4]} failed with exit code {code}: see {log}")
    print(f"  {seconds / 60:.1f} min", flush=True)
    return seconds


def shown(command: list[str]) -> str:
    """The command as a user types it (`mujo-edge ...`, not this interpreter's path)."""
    return " ".join(["mujo-edge", *command[3:]])


def pretrain_step(args: argparse.Namespace, cli: list[str]) -> dict[str, Any]:
    run = args.work / "pretrain"
    command = [*cli, "pretrain", "--preset", args.preset, "--exclude", args.target, "--seed", "0"]
    command += ["--threads", str(args.threads), "--out", str(run)]
    load = os.getloadavg()[0]
    seconds = timed(command, args.work / "pretrain.log", args.threads, args.data)
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    corpus = (
        json.loads((run / "corpus" / "corpus.json").read_text()) if (run / "corpus" / "corpus.json").is_file() else {}
    )
    return {
        "command": shown(command),
        "seconds": round(seconds, 1),
        "threads": args.threads,
        "load_1min_before": round(load, 2),
        "epochs": len(epochs),
        "epoch_seconds": [e.get("seconds") for e in epochs],
        "windows": corpus.get("windows"),
        "limit_seconds": PRETRAIN_LIMIT_S,
        "within_limit": seconds <= PRETRAIN_LIMIT_S,
    }


def grid_step(args: argparse.Namespace, cli: list[str]) -> dict[str, Any]:
    out = args.work / "grid"
    command = [*cli, "experiment", "label-efficiency", "--target", args.target, "--grid", "reduced"]
    command += ["--pretrained", f"recipe={args.checkpoint}", "--threads", str(args.threads)]
    command += [f"--finetune={s}" for s in args.finetune] + ["--out", str(out)]
    load = os.getloadavg()[0]
    seconds = timed(command, args.work / "grid.log", args.threads, args.data)
    with (out / "results.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    per_method: dict[str, float] = {}
    for r in rows:
        key = f"{r['method']} ({r['regime']})"
        per_method[key] = per_method.get(key, 0.0) + float(r["seconds"] or 0)
    step: dict[str, Any] = {
        "command": shown(command),
        "seconds": round(seconds, 1),
        "threads": args.threads,
        "load_1min_before": round(load, 2),
        "runs": len(rows),
        "run_seconds_by_method": {k: round(v, 1) for k, v in sorted(per_method.items())},
        "limit_seconds": GRID_LIMIT_S,
        "within_limit": seconds <= GRID_LIMIT_S,
    }
    return step


RUN_KEY = ("regime", "fraction", "fold", "run", "seed")


def reproduces(rows: list[dict[str, str]], folders: list[Path], recipe_as: str) -> dict[str, Any]:
    """The timed runs against committed runs of the same cells (the checkpoint named `recipe_as` there): how many
    share a cell and seed, and the largest macro-F1 difference (0 = the timed grid reproduced them exactly). A run
    in several folders is taken from the first one given."""
    committed: dict[tuple[str, ...], float] = {}
    for folder in folders:
        with (folder / "results.csv").open(newline="") as fh:
            for r in csv.DictReader(fh):
                committed.setdefault((r["method"], *(r[k] for k in RUN_KEY)), float(r["macro_f1"]))
    diffs = []
    for r in rows:
        method = recipe_as if r["method"] == "recipe" else r["method"]
        key = (method, *(r[k] for k in RUN_KEY))
        if key in committed:
            diffs.append(abs(float(r["macro_f1"]) - committed[key]))
    return {
        "folders": [str(f) for f in folders],
        "matched_runs": len(diffs),
        "max_abs_macro_f1_difference": max(diffs) if diffs else None,
    }


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# What the recipe costs on a laptop",
        "",
        f"Measured on a {m['cores']}-core machine ({m['cpu']}); load = the 1-minute load average when the step "
        "began (another job on the machine makes a step slower).",
        "",
        "| step | torch threads | load | wall clock | limit (issue 14) | within |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, label in (("pretrain", "pre-training"), ("grid", "reduced grid of one target")):
        step = results.get(name)
        if step:
            lines.append(
                f"| {label} | {step['threads']} | {step['load_1min_before']:.1f} | {step['seconds'] / 60:.1f} min | "
                f"{step['limit_seconds'] / 60:.0f} min | "
                f"{'yes' if step['within_limit'] else '**no**'} |"
            )
    if results.get("pretrain"):
        p = results["pretrain"]
        per = [s for s in p["epoch_seconds"] if s is not None]
        lines += [
            "",
            f"Pre-training (`{p['invocation']}`) ran `{p['command']}`: {p['epochs']} epochs"
            + (f", {p['windows']} windows" if p.get("windows") else "")
            + (f", {min(per):.0f}-{max(per):.0f} s per epoch" if per else "")
            + "; the rest is building the corpus and the text embeddings.",
        ]
    if results.get("grid"):
        g = results["grid"]
        split = ", ".join(f"{k} {v / 60:.1f} min" for k, v in g["run_seconds_by_method"].items())
        lines += ["", f"Reduced grid (`{g['invocation']}`) ran `{g['command']}`: {g['runs']} runs ({split})."]
        if rep := g.get("reproduces"):
            same = rep["max_abs_macro_f1_difference"]
            lines.append(
                f"{rep['matched_runs']} of them are cells committed in {', '.join(f'`{f}`' for f in rep['folders'])}"
                + (f"; largest macro-F1 difference {same:.6f}." if same is not None else ".")
            )
    return "\n".join(lines) + "\n"


def update_readme(readme: str, results: dict[str, Any]) -> str:
    """`readme` with its cost block rewritten from `results` (the markdown without its title)."""
    body = markdown(results).split("\n", 2)[2].strip()
    return results_tables.update_readme(readme, README_BLOCK, body, generator=GENERATOR)


def main(argv: list[str] | None = None, cli: list[str] | None = None) -> dict[str, Any]:
    """`cli`: the three words that start mujo-edge (default: this interpreter's `-m mujo_edge`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="folder of the shared datasets")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--work", type=Path, default=Path("runs/laptop-costs"), help="scratch run folders")
    parser.add_argument("--preset", default="wrist-real", help="pre-training preset (the recipe's)")
    parser.add_argument("--target", default="spar_watch", help="left out of pre-training, then evaluated")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of both steps")
    parser.add_argument(
        "--finetune",
        action="append",
        default=None,
        help="fine-tuning KEY=VALUE (default: the recipe's min_batches=16)",
    )
    parser.add_argument(
        "--steps", default="pretrain,grid", help="comma list: pretrain, grid ('' = only --reproduces and the files)"
    )
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="the grid's pre-training checkpoint (default: --work's pretrain)"
    )
    parser.add_argument(
        "--reproduces",
        type=Path,
        action="append",
        default=[],
        help="committed results folder of the same cells: the timed runs are compared with its runs",
    )
    parser.add_argument("--recipe-as", default="recipe", help="the grid checkpoint's method name in --reproduces")
    parser.add_argument("--fresh", action="store_true", help="delete --work's earlier runs first")
    parser.add_argument("--readme", type=Path, default=None, help="only rewrite this README's block from --out")
    args = parser.parse_args(argv)
    args.finetune = args.finetune or ["min_batches=16"]
    args.data = args.data.resolve()  # both steps read the datasets through MUJO_EDGE_DATA
    path = args.out / "laptop_costs.json"
    if args.readme is not None:
        saved = json.loads(path.read_text())
        args.readme.write_text(update_readme(args.readme.read_text(), saved))
        return dict(saved)
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    if unknown := set(steps) - {"pretrain", "grid"}:
        raise SystemExit(f"--steps: unknown {sorted(unknown)} (known: pretrain, grid)")
    if args.fresh and args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True, exist_ok=True)
    previous = json.loads(path.read_text()) if path.is_file() and not args.fresh else {}
    results: dict[str, Any] = {
        "machine": previous.get("machine") or machine(),
        **{k: previous[k] for k in ("pretrain", "grid") if k in previous},
    }
    cli = cli or [sys.executable, "-m", "mujo_edge"]
    invocation = "python benchmarks/laptop_costs.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if "pretrain" in steps:
        results["pretrain"] = {"invocation": invocation, **pretrain_step(args, cli)}
    if "grid" in steps:
        args.checkpoint = args.checkpoint or args.work / "pretrain" / "best.pt"
        if not args.checkpoint.is_file():
            raise SystemExit(f"no pre-training checkpoint {args.checkpoint}: run the pretrain step first")
        results["grid"] = {"invocation": invocation, **grid_step(args, cli)}
    if args.reproduces and "grid" in results:  # also after the timing: the check reads --work's grid folder
        timed_rows = args.work / "grid" / "results.csv"
        if not timed_rows.is_file():
            raise SystemExit(f"--reproduces: no timed grid in {timed_rows.parent} (give the --work it ran in)")
        with timed_rows.open(newline="") as fh:
            results["grid"]["reproduces"] = reproduces(list(csv.DictReader(fh)), args.reproduces, args.recipe_as)
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "laptop_costs.md").write_text(markdown(results))
    print(f"wrote {path} and {args.out / 'laptop_costs.md'}")
    return results


if __name__ == "__main__":
    main()
