"""Live recognition with your own callback: sets, repetitions and rest as the runtime's session tracker sees them.

    python examples/count_repetitions.py --speed 10

A virtual watch (no hardware) replays real SPAR exercise sets (20 repetitions each) of a subject the embedded
model never saw; `on_session` receives the tracker's state after every window (the current set's exercise and
repetitions, or rest and its timer), and the run ends with the session log: one row per set and rest, also as
CSV. For a real watch, pass the same callback to
`mujo_edge.runtime.live.run_live(WatchClient("polar"), recognizer, on_session=...)`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from mujo_edge.default_model import bundle_path
from mujo_edge.runtime import Recognizer
from mujo_edge.runtime.demo import demo_stream, run_demo
from mujo_edge.runtime.session import EXERCISE, SessionState, match_sets


class Printer:
    """Prints a line whenever the set or its repetition count changes."""

    def __init__(self) -> None:
        self.shown: tuple[str | None, int] = (None, 0)

    def __call__(self, state: SessionState) -> None:
        now = (state.exercise, state.repetitions) if state.status == EXERCISE else (None, 0)
        if now != self.shown and now[0] is not None:
            print(f"  set {state.set_number}: {state.exercise:<5} {state.repetitions:3d} repetitions")
        elif now != self.shown:
            print(f"  {state.status}")
        self.shown = now


async def run(args: argparse.Namespace) -> dict[str, object]:
    recognizer = Recognizer.from_bundle(args.bundle or bundle_path(), smoothing=5)
    stream = demo_stream(recognizer.manifest, args.data, None, args.sets)
    # the demo's plumbing: a virtual watch on an in-process BLE radio -> WatchClient -> live recognition + sessions
    summary, _ = await run_demo(recognizer, stream, speed=args.speed, on_session=Printer())
    log = summary.session
    if log is None:
        raise SystemExit("no session log: " + "; ".join(summary.warnings))
    print(log.to_csv(), end="")
    matches = match_sets(log, stream.true_sets(float(summary.extra.get("source_offset_s", 0.0))))
    for m in matches:
        counted = "not found" if m.found is None else f"{m.found.exercise} {m.found.repetitions} repetitions counted"
        print(f"did {m.truth.exercise} x {m.truth.repetitions}: {counted}")
    reps: dict[str, int] = {}
    for s in log.sets:
        reps[s.exercise] = reps.get(s.exercise, 0) + s.repetitions
    return {"reps": reps, "predictions": len(summary.predictions), "sets": stream.sets, "log": log.to_dict()}


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=10.0, help="replay speed (1 = real time)")
    parser.add_argument("--sets", type=int, default=2, help="exercise sets to replay")
    parser.add_argument("--bundle", type=Path, default=None, help="bundle (default: the embedded one)")
    parser.add_argument("--data", type=Path, default=None, help="SPAR-watch folder (default: ../shared/data)")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
