"""Your own recordings end to end: bring-your-own CSV -> fine-tune -> export -> predict.

    python examples/csv_finetune_export_predict.py --csv my_recordings/ --out runs/mine \
        [--pretrained runs/wrist/best.pt] [--epochs 200]

`my_recordings/` holds one CSV per recording in the layout of `mujo_edge.data.csv_layout` (what
`mujo-edge live --record` writes), with `label` and `subject` columns and at least 3 subjects. The same three
commands work from a shell:

    mujo-edge finetune --dataset csv --root my_recordings --out runs/mine/ft [--pretrained ... --regime finetuned]
    mujo-edge export runs/mine/ft/classifier.pt --root my_recordings --format tflite --int8
    mujo-edge predict runs/mine/ft/bundle --data my_recordings/SOMEONE.csv
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def cli(*args: object) -> int:
    """Run one mujo-edge command exactly as the shell does (`python -m mujo_edge` is the console entry point),
    echo what it prints, and return its exit code."""
    proc = subprocess.run(
        [sys.executable, "-m", "mujo_edge", *(str(a) for a in args)], stdout=subprocess.PIPE, text=True
    )
    print(proc.stdout, end="")
    return proc.returncode


def must(*args: object) -> None:
    """`cli`, stopping the example with the command's exit code when it fails (its error is already printed)."""
    code = cli(*args)
    if code != 0:
        raise SystemExit(code)


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, required=True, help="folder of CSV recordings")
    parser.add_argument("--out", type=Path, default=Path("runs/mine"))
    parser.add_argument("--pretrained", type=Path, default=None, help="MuJo checkpoint (fine-tunes it if given)")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--folds", type=int, default=3, help="subject-wise folds (fold 1 tests)")
    parser.add_argument("--format", default="tflite", help="tflite | executorch | onnx | all")
    args = parser.parse_args(argv)

    ft = args.out / "ft"
    regime = ["--pretrained", args.pretrained, "--regime", "finetuned"] if args.pretrained else ["--regime", "baseline"]
    must(
        "finetune",
        "--dataset",
        "csv",
        "--root",
        args.csv,
        "--out",
        ft,
        "--folds",
        args.folds,
        "--epochs",
        args.epochs,
        *regime,
    )
    bundle = ft / "bundle"
    code = cli(
        "export",
        ft / "classifier.pt",
        "--root",
        args.csv,
        "--format",
        args.format,
        "--int8",
        "--out",
        bundle,
        "--max-f1-drop",
        "1",
    )  # report parity, never fail the example on it
    if code != 0:  # a failed parity check still leaves the bundle to inspect
        print(f"export finished with exit code {code}; see {bundle / 'mujo.json'}")
    test_subjects = json.loads((bundle / "mujo.json").read_text())["training"]["split"]["test"]
    must("predict", bundle, "--data", args.csv, "--subjects", ",".join(test_subjects), "--smoothing", "3")
    manifest = json.loads((bundle / "mujo.json").read_text())
    return {
        "bundle": str(bundle),
        "artifacts": [a["name"] for a in manifest["artifacts"]],
        "test_subjects": test_subjects,
    }


if __name__ == "__main__":
    main()
