"""Latency and throughput measurement with warm-up, enough runs, and outliers reported rather than hidden."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mujo_edge.errors import ConfigError


@dataclass(frozen=True)
class TimingConfig:
    """warmup: calls discarded first (caches, lazy allocation, thread pools); runs: timed batch-1 calls;
    batch / batch_runs: the throughput measurement; threads: engine thread counts to measure."""

    warmup: int = 20
    runs: int = 300
    batch: int = 64
    batch_runs: int = 20
    threads: tuple[int, ...] = (1, 2)

    def __post_init__(self) -> None:
        for name in ("runs", "batch", "batch_runs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be >= 1, got {getattr(self, name)}", field=name)
        if self.warmup < 0 or not self.threads or min(self.threads) < 1:
            raise ConfigError("warmup must be >= 0 and threads a non-empty list of counts >= 1", field="threads")


def latency_stats(seconds: np.ndarray) -> dict[str, float | int]:
    """Percentiles in milliseconds, and the outliers: calls slower than the upper Tukey fence
    (q3 + 3 * IQR), counted and their worst value shown, so a noisy machine is visible, not averaged away."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    q1, q3 = np.percentile(ms, [25, 75])
    fence = q3 + 3 * (q3 - q1)
    outliers = ms[ms > fence]
    return {
        "n": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "min_ms": float(ms.min()),
        "mean_ms": float(ms.mean()),
        "outliers": len(outliers),
        "worst_ms": float(ms.max()),
    }


def time_calls(fn: Callable[[np.ndarray], object], x: np.ndarray, runs: int, warmup: int) -> np.ndarray:
    """Wall-clock seconds of `runs` calls of fn(x) after `warmup` untimed ones."""
    for _ in range(warmup):
        fn(x)
    out = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        fn(x)
        out[i] = time.perf_counter() - t0
    return out


def measure(fn: Callable[[np.ndarray], object], windows: np.ndarray, config: TimingConfig) -> dict[str, object]:
    """Batch-1 latency over distinct windows in turn, and throughput (windows/s) at `config.batch`."""
    if len(windows) == 0:
        raise ConfigError("no windows to time", field="windows")
    singles = [windows[i % len(windows)][None] for i in range(config.runs + config.warmup)]
    it = iter(singles)
    seconds = time_calls(lambda _: fn(next(it)), windows[:1], config.runs, config.warmup)
    batch = np.resize(windows, (config.batch, *windows.shape[1:])).astype(np.float32)
    batch_s = time_calls(fn, batch, config.batch_runs, warmup=2)
    return {
        "latency": latency_stats(seconds),
        "throughput_wps": float(config.batch / np.median(batch_s)),
        "batch": config.batch,
    }
