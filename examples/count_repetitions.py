"""Live recognition with your own per-prediction callback: count exercise repetitions while recognising.

    python examples/count_repetitions.py --speed 10

A virtual watch (no hardware) replays a real SPAR exercise set of a subject the embedded model never saw; the
callback receives every `Prediction` as the live runtime makes it, and a second callback every batch of raw
samples, which this example uses to count repetitions (peaks of the smoothed acceleration magnitude) of the
exercise currently recognised. For a real watch, pass the same callbacks to
`mujo_edge.runtime.live.run_live(WatchClient("polar"), recognizer, ...)`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from pathlib import Path

import numpy as np

from mujo_edge.default_model import bundle_path
from mujo_edge.firmware_bridge.client import DeviceSamples
from mujo_edge.runtime import Prediction, Recognizer
from mujo_edge.runtime.demo import demo_stream, run_demo


class RepCounter:
    """Repetitions = upward crossings of the band-limited magnitude through its running mean, with hysteresis."""

    def __init__(self, rate_hz: float = 50.0, hysteresis: float = 0.6) -> None:
        self.alpha = 1.0 / (0.8 * rate_hz)  # the running mean follows ~0.8 s
        self.mean: float | None = None
        self.smooth: float | None = None
        self.hysteresis = hysteresis
        self.armed = False
        self.reps: Counter[str] = Counter()
        self.exercise: str | None = None

    def on_prediction(self, p: Prediction, latency_s: float) -> None:
        self.exercise = p.smoothed_label

    def on_batch(self, batch: DeviceSamples) -> None:
        for m in np.linalg.norm(batch.xyz, axis=1):
            self.smooth = m if self.smooth is None else 0.8 * self.smooth + 0.2 * m
            self.mean = self.smooth if self.mean is None else (1 - self.alpha) * self.mean + self.alpha * self.smooth
            if self.smooth < self.mean - self.hysteresis:
                self.armed = True
            elif self.armed and self.smooth > self.mean + self.hysteresis and self.exercise:
                self.reps[self.exercise] += 1
                self.armed = False


async def run(args: argparse.Namespace) -> dict[str, object]:
    recognizer = Recognizer.from_bundle(args.bundle or bundle_path(), smoothing=5)
    stream = demo_stream(recognizer.manifest, args.data, None, args.sets)
    counter = RepCounter(recognizer.manifest.window.rate_hz)
    # the demo's plumbing: a virtual watch on an in-process BLE radio -> WatchClient -> live recognition
    summary, _ = await run_demo(
        recognizer, stream, speed=args.speed, on_prediction=counter.on_prediction, on_batch=counter.on_batch
    )
    truth = Counter(str(v) for v in stream.labels)
    for exercise, reps in counter.reps.most_common():
        print(f"{exercise:<6} {reps:3d} repetitions counted")
    print(
        f"{len(summary.predictions)} predictions; the recording holds {stream.sets} sets of 20 repetitions "
        f"({', '.join(sorted(truth))})"
    )
    return {"reps": dict(counter.reps), "predictions": len(summary.predictions), "sets": stream.sets}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=10.0, help="replay speed (1 = real time)")
    parser.add_argument("--sets", type=int, default=2, help="exercise sets to replay")
    parser.add_argument("--bundle", type=Path, default=None, help="bundle (default: the embedded one)")
    parser.add_argument("--data", type=Path, default=None, help="SPAR-watch folder (default: ../shared/data)")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
