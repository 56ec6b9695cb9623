"""Streaming load: N emulated watches at 50 Hz in real time -> BLE client -> live recognition, in one process.

Per N: latency from a window's last sample to its prediction (host clock; p50/p95/p99), samples lost, and the
process's CPU time per wall second (1.0 = one core busy). The emulated watches and the virtual radio run in the
same process, so the CPU share is an upper bound for the host side: on real hardware the radio work is done by
the Bluetooth controller. "One core carries N watches" means CPU share < `CPU_LIMIT`, no sample lost and p95
latency under one window step.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

CPU_LIMIT = 0.8  # of one core: headroom for the app around the recogniser


def _signal(seconds: float, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A wrist-like stream (gravity plus slow movement and noise) of `seconds` at `rate`: content does not
    change the cost of recognising it."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    xyz = np.stack([3 * np.sin(2 * np.pi * 0.5 * t + seed), 2 * np.cos(2 * np.pi * 0.3 * t), 9.0 + np.sin(t)], axis=1)
    return t, xyz + rng.normal(0, 0.2, xyz.shape)


async def _one_load(bundle: Path, watches: int, seconds: float, protocol: str) -> dict[str, Any]:
    from mujo_edge.firmware_bridge.client import WatchClient
    from mujo_edge.firmware_bridge.emulator import VirtualWatch
    from mujo_edge.firmware_bridge.sim import BumbleClientBackend, BumbleScannerBackend
    from mujo_edge.runtime import Recognizer
    from mujo_edge.runtime.live import run_live

    recognizer = Recognizer.from_bundle(bundle, threads=1)
    rate = recognizer.manifest.window.rate_hz
    devices = []
    for i in range(watches):
        t, xyz = _signal(seconds + 5, rate, i)
        name, address = f"bench-watch-{i}", f"F0:00:00:00:{i // 256:02X}:{i % 256:02X}"
        devices.append(
            (
                VirtualWatch(protocol, t, xyz, name=name, address=address, speed=1.0),
                WatchClient(
                    protocol, address=address, scanner_backend=BumbleScannerBackend, client_backend=BumbleClientBackend
                ),
            )
        )
    for watch, _ in devices:
        await watch.start()
    try:
        for _, client in devices:
            await client.start()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        summaries = await asyncio.gather(*(run_live(c, recognizer, duration=seconds) for _, c in devices))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        for _, client in devices:
            await client.stop()
        for watch, _ in devices:
            await watch.stop()
    lat = np.array([v for s in summaries for v in s.latencies_s]) * 1e3
    samples = sum(s.samples for s in summaries)
    missing = sum(s.missing_samples for s in summaries)
    step_ms = 1e3 * recognizer.manifest.window.step / rate
    cpu_share = cpu / wall
    p95 = float(np.percentile(lat, 95)) if lat.size else None
    carried = cpu_share < CPU_LIMIT and missing == 0 and p95 is not None and p95 < step_ms
    return {
        "watches": watches,
        "seconds": round(wall, 1),
        "cpu_share": cpu_share,
        "samples": samples,
        "missing_samples": missing,
        "predictions": int(lat.size),
        "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
        "latency_p95_ms": p95,
        "latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
        "artifact": recognizer.artifact.name,
        "carried": carried,
    }


def bench_stream(
    bundle: str | Path,
    watches: Sequence[int] = (1, 2, 4, 8),
    seconds: float = 20.0,
    protocol: str = "mujo",
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per watch count (each a fresh event loop, link and set of watches)."""
    rows = []
    for n in watches:
        if progress:
            progress(f"{n} watches for {seconds:g} s")
        rows.append(asyncio.run(_one_load(Path(bundle), n, seconds, protocol)))
    return rows


def stream_markdown(rows: Sequence[dict[str, Any]], info: dict[str, Any]) -> str:
    carried = [r["watches"] for r in rows if r["carried"]]
    lines = [
        f"# Streaming load: {info.get('bundle', '')}",
        "",
        f"Machine: {info.get('machine', {})}.",
        "",
        "| watches | CPU (1 = one core) | samples | missing | predictions | latency p50 ms | p95 ms | p99 ms | "
        "carried |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['watches']} | {r['cpu_share']:.2f} | {r['samples']} | {r['missing_samples']} | "
            f"{r['predictions']} | {r['latency_p50_ms'] or 0:.1f} | {r['latency_p95_ms'] or 0:.1f} | "
            f"{r['latency_p99_ms'] or 0:.1f} | {'yes' if r['carried'] else 'no'} |"
        )
    lines += [
        "",
        f"One core carries at least {max(carried) if carried else 0} watches in this run (CPU < "
        f"{CPU_LIMIT:.0%} of a core, nothing lost, p95 latency under one window step). The CPU share "
        "includes the emulated watches and the virtual radio.",
    ]
    return "\n".join(lines) + "\n"
