"""The format matrix: every artifact of a bundle (and optionally torch eager fp32 from the checkpoint) on the
device path, each in a fresh process so its peak memory and time to first inference are its own.

Per artifact and thread count: status at export, file size, macro-F1 on labelled windows, batch-1 latency
p50/p90/p99 (outliers counted), throughput at batch 64, peak RSS, time to first inference, and the share of
operators XNNPACK runs (LiteRT: read from the interpreter's execution plan; ExecuTorch: recorded at export).
Torch-free except for the `torch-fp32` row, which needs the `train` extra and the checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge.bench.timing import TimingConfig
from mujo_edge.bundle import EngineName, Precision, read_bundle
from mujo_edge.errors import BenchError

log = logging.getLogger(__name__)

TORCH_ROW = "torch-fp32"  # the reference row: the checkpoint's classifier in torch eager mode, fp32
TORCH_ENGINE = "torch-eager"  # not a runtime engine (EngineName): torch never runs on the device
Progress = Callable[[str], None]


def xnnpack_share(model_path: str | Path) -> dict[str, int]:
    """Operators of a .tflite model that LiteRT hands to its default XNNPACK delegate.

    The interpreter lists the model's own ops followed by one DELEGATE node per delegated partition; a
    partition is the ops between the delegate node's input and output tensors, found by walking back from
    its outputs to its inputs.
    """
    from mujo_edge.runtime.engines import ENGINES

    module = ENGINES.get(EngineName.LITERT).import_module()
    interp = module.Interpreter(model_path=str(model_path), num_threads=1)
    interp.allocate_tensors()
    ops = interp._get_ops_details()
    own = [o for o in ops if o["op_name"] != "DELEGATE"]
    producer = {int(t): o["index"] for o in own for t in o["outputs"]}
    delegated: set[int] = set()
    for d in (o for o in ops if o["op_name"] == "DELEGATE"):
        boundary = {int(t) for t in d["inputs"]}
        stack = [int(t) for t in d["outputs"]]
        while stack:
            t = stack.pop()
            op = producer.get(t)
            if t in boundary or op is None or op in delegated:
                continue
            delegated.add(op)
            stack.extend(int(i) for i in ops[op]["inputs"] if i >= 0)
    return {"ops": len(own), "delegated": len(delegated)}


def _write_inputs(folder: Path, x: np.ndarray, y: Sequence[str] | np.ndarray) -> Path:
    path = folder / "inputs.npz"
    np.savez(path, x=x.astype(np.float32), y=np.asarray(y, dtype=str))
    return path


def _run_worker(args: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """Run `python -m mujo_edge.bench.worker` with `args` as JSON; its last stdout line is the result."""
    env = {**os.environ, "OMP_NUM_THREADS": str(max(args["threads"]))}
    proc = subprocess.run(
        [sys.executable, "-m", "mujo_edge.bench.worker", json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise BenchError(f"worker for {args['artifact']} failed (exit {proc.returncode}): {' | '.join(tail)}")
    return json.loads(lines[-1])


def run_matrix(
    bundle_path: str | Path,
    x: np.ndarray,
    y: Sequence[str] | np.ndarray,
    *,
    timing: TimingConfig = TimingConfig(),
    checkpoint: str | Path | None = None,
    artifacts: Sequence[str] | None = None,
    progress: Progress | None = None,
    timeout_s: float = 1800,
) -> list[dict[str, Any]]:
    """One row per (artifact, threads): raw SI windows `x` [W, C, L] with true label names `y` [W].

    `checkpoint` adds torch eager fp32 of the same classifier as the reference row. Export-failed artifacts
    get a row with their status and no measurements; a crashing worker gets status "bench-failed"."""
    bundle = read_bundle(bundle_path)
    names = [a.name for a in bundle.manifest.artifacts if artifacts is None or a.name in artifacts]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mujo-bench-") as tmp:
        inputs = _write_inputs(Path(tmp), x, y)
        todo = ([TORCH_ROW] if checkpoint is not None else []) + names
        for name in todo:
            art = None if name == TORCH_ROW else bundle.manifest.artifact(name)
            base = {
                "artifact": name,
                "format": "torch" if art is None else art.format,
                "precision": Precision.FP32 if art is None else art.precision,
                "engine": TORCH_ENGINE if art is None else art.engine,
                "export_status": "-" if art is None else art.status,
                "size_mb": None if art is None or art.bytes is None else art.bytes / 1e6,
            }
            if art is not None and not art.usable:
                rows.append({**base, "status": art.status, "notes": art.notes})
                continue
            if progress:
                progress(name)
            args = {
                "bundle": str(bundle.folder),
                "artifact": name,
                "inputs": str(inputs),
                "checkpoint": None if checkpoint is None else str(checkpoint),
                "threads": list(timing.threads),
                "timing": asdict(timing),
            }
            try:
                result = _run_worker(args, timeout_s)
            except (BenchError, subprocess.TimeoutExpired) as e:
                rows.append({**base, "status": "bench-failed", "notes": str(e)})
                continue
            if art is None:
                base["size_mb"] = result.pop("size_mb", None)
            for per_thread in result.pop("by_threads"):
                rows.append({**base, **result, **per_thread, "status": "ok"})
    _add_speedups(rows)
    return rows


def _add_speedups(rows: list[dict[str, Any]]) -> None:
    """speedup = torch eager fp32 p50 / this row's p50, at the same thread count (when torch was measured)."""
    ref = {r["threads"]: r["latency"]["p50_ms"] for r in rows if r["artifact"] == TORCH_ROW and "latency" in r}
    for r in rows:
        if "latency" in r and r.get("threads") in ref:
            r["speedup_vs_torch"] = ref[r["threads"]] / r["latency"]["p50_ms"]
