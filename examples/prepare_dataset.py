"""Prepare a dataset the way training will: 50 Hz windows, a subject-wise split, a saved normaliser.

    python examples/prepare_dataset.py spar_watch --root ../shared/data/spar_watch --out runs/prepared

Writes `normaliser.json` (fitted on the training subjects only) and `split.json`, and prints what each part
holds. No subject is ever in two parts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from mujo_edge.channels import ChannelSelection
from mujo_edge.data.prepare import prepare
from mujo_edge.normalise import Normaliser
from mujo_edge.splits import train_val_test


def main(argv: list[str] | None = None) -> dict[str, int]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", help="loader name, see `mujo-edge data list`")
    parser.add_argument("--root", type=Path, default=None, help="dataset folder")
    parser.add_argument("--sensors", default="acc", help="comma list of sensors to keep (default: acc)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/prepared"))
    args = parser.parse_args(argv)

    prepared = prepare(args.dataset, args.root, selection=ChannelSelection(sensors=tuple(args.sensors.split(","))))
    windows = prepared.windows
    labelled = windows.subset(windows.y >= 0)
    split = train_val_test(labelled.subjects(), val=0.2, test=0.2, seed=args.seed)
    parts = {name: labelled.for_subjects(getattr(split, name)) for name in ("train", "val", "test")}
    normaliser = Normaliser.fit(parts["train"])  # statistics of the training subjects only

    args.out.mkdir(parents=True, exist_ok=True)
    normaliser.save(args.out / "normaliser.json")
    (args.out / "split.json").write_text(
        json.dumps({"train": split.train, "val": split.val, "test": split.test}, indent=2) + "\n"
    )
    sizes = {name: len(w) for name, w in parts.items()}
    for name, w in parts.items():
        z = normaliser.apply(w.x) if len(w) else w.x
        print(
            f"{name:5s} {len(w):6d} windows {w.x.shape!s:18s} subjects {','.join(w.subjects())}"
            f"  mean|z| {float(np.abs(z.mean())) if len(w) else 0:.3f}"
        )
    print(f"channels: {', '.join(windows.channels)}; wrote {args.out}/normaliser.json and split.json")
    return sizes


if __name__ == "__main__":
    main()
