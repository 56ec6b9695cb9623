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
from pathlib import Path

from mujo_edge.cli import app


def cli(*args: object) -> None:
    """Run one mujo-edge command in this process (exactly what the shell command does)."""
    app([str(a) for a in args], standalone_mode=False)


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
    cli("finetune", "--dataset", "csv", "--root", args.csv, "--out", ft, "--folds", args.folds,
        "--epochs", args.epochs, *regime)
    bundle = ft / "bundle"
    try:
        cli("export", ft / "classifier.pt", "--root", args.csv, "--format", args.format, "--int8", "--out", bundle,
            "--max-f1-drop", "1")  # report parity, never fail the example on it
    except SystemExit as e:  # typer.Exit on a failed parity check still leaves the bundle to inspect
        if e.code not in (0, None):
            print(f"export finished with exit code {e.code}; see {bundle / 'mujo.json'}")
    test_subjects = json.loads((bundle / "mujo.json").read_text())["training"]["split"]["test"]
    cli("predict", bundle, "--data", args.csv, "--subjects", ",".join(test_subjects), "--smoothing", "3")
    manifest = json.loads((bundle / "mujo.json").read_text())
    return {"bundle": str(bundle), "artifacts": [a["name"] for a in manifest["artifacts"]],
            "test_subjects": test_subjects}


if __name__ == "__main__":
    main()
