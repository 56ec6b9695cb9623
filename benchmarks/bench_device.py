"""The device benchmarks in one go, runnable with the runtime install alone (on a Raspberry Pi too):

    python benchmarks/bench_device.py --out benchmarks/results                  # the embedded bundle
    python benchmarks/bench_device.py --bundle runs/ft/bundle --checkpoint runs/ft/classifier.pt

1. `mujo-edge bench formats`: every artifact of the bundle on its engine (size, macro-F1 on the bundle's
   held-out subjects, latency p50/p90/p99 at batch 1, throughput at batch 64, 1 and 2 threads, peak RSS, time
   to first inference, XNNPACK share); with `--checkpoint`, torch eager fp32 as the reference row.
2. `mujo-edge bench stream`: N emulated watches streaming at 50 Hz into live recognition (needs the `sim`
   and `ble` extras).
3. `mujo-edge bench flops` (needs torch): the paper's Table 4 re-measured.
Each writes JSON + markdown into --out. `--min-f1` fails the run (exit 1) below a macro-F1 floor.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path


def _cli(*args: object) -> None:
    """Run one `mujo-edge` command through the console entry point (`python -m mujo_edge`), as from a shell; a
    failing command (e.g. below --min-f1) ends the run with its exit code."""
    code = subprocess.run([sys.executable, "-m", "mujo_edge", *(str(a) for a in args)]).returncode
    if code != 0:
        raise SystemExit(code)


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=None, help="bundle (default: the embedded one)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="classifier.pt: adds torch eager fp32")
    parser.add_argument("--data", default=None, help="labelled data (default: the bundle's dataset)")
    parser.add_argument("--root", type=Path, default=None, help="dataset folder")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--watches", default="1,2,4,8")
    parser.add_argument("--seconds", type=float, default=20.0, help="real-time seconds per streaming run")
    parser.add_argument("--min-f1", type=float, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)

    from mujo_edge.default_model import bundle_path

    bundle = args.bundle or bundle_path()
    done = []
    formats = ["bench", "formats", bundle, "--runs", args.runs, "--threads", args.threads, "--out", args.out]
    formats += ["--checkpoint", args.checkpoint] if args.checkpoint else []
    formats += ["--data", args.data] if args.data else []
    formats += ["--root", args.root] if args.root else []
    formats += ["--min-f1", args.min_f1] if args.min_f1 is not None else []
    _cli(*formats)
    done.append("formats")
    if importlib.util.find_spec("bumble") and importlib.util.find_spec("bleak"):
        _cli(
            "bench",
            "stream",
            "--bundle",
            bundle,
            "--watches",
            args.watches,
            "--seconds",
            args.seconds,
            "--out",
            args.out,
        )
        done.append("stream")
    else:
        print("skipping the streaming benchmark: install the sim and ble extras (bumble, bleak)")
    if importlib.util.find_spec("torch"):
        _cli("bench", "flops", "--out", args.out)
        done.append("flops")
    else:
        print("skipping bench flops: it needs torch (the train extra)")
    return done


if __name__ == "__main__":
    main()
