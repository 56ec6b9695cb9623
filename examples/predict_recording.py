"""Predict a recording with a bundle: exercises over time, and F1 when the recording has labels.

    python examples/predict_recording.py --data my_recording.csv            # the embedded default bundle
    python examples/predict_recording.py --bundle runs/ft/bundle --data spar_watch --subjects 5

`--data` is a CSV file/folder in the bring-your-own layout (`mujo_edge.data.csv_layout`) or a dataset name.
Runs with the runtime alone (no torch): the bundle's own windowing and normaliser are applied.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mujo_edge.channels import Channel, ChannelSelection
from mujo_edge.data.base import resolve_root
from mujo_edge.data.prepare import load_recordings
from mujo_edge.data.registry import get_loader
from mujo_edge.default_model import bundle_path
from mujo_edge.metrics import macro_f1
from mujo_edge.runtime import Recognizer


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CSV file or folder, or a dataset name")
    parser.add_argument("--bundle", type=Path, default=None, help="bundle folder or .zip (default: embedded)")
    parser.add_argument("--root", type=Path, default=None, help="dataset folder when --data is a name")
    parser.add_argument("--subjects", default=None, help="comma list of subjects to keep")
    parser.add_argument("--smoothing", type=int, default=5, help="majority over the last K windows")
    args = parser.parse_args(argv)

    recognizer = Recognizer.from_bundle(args.bundle or bundle_path(), smoothing=args.smoothing)
    parsed = [Channel.parse(c) for c in recognizer.channels]
    selection = ChannelSelection(
        placements=tuple({c.placement for c in parsed}), sensors=tuple({c.sensor for c in parsed})
    )
    is_file = Path(args.data).exists()
    loader = get_loader("csv" if is_file else args.data)
    root = Path(args.data) if is_file else resolve_root(loader.spec, args.root)
    recordings = load_recordings(loader, root, selection, recognizer.manifest.window)
    if args.subjects:
        recordings = [r for r in recordings if r.subject in args.subjects.split(",")]
    truth, predicted = [], []
    for rec in recordings:
        preds = recognizer.predict_recording(rec)
        labels = recognizer.true_labels(rec, preds)
        print(f"{rec.source} (subject {rec.subject}): {len(preds)} windows")
        current = None
        for p, y in zip(preds, labels):
            if p.smoothed_label != current:  # print only where the recognised exercise changes
                current = p.smoothed_label
                true = f"  (true {y})" if y else ""
                print(f"  {p.start_s - rec.t[0]:7.1f} s  {current:<8} {p.confidence:.2f}{true}")
            if y is not None:
                truth.append(y)
                predicted.append(p.smoothed_label)
    result: dict[str, object] = {"windows": len(truth), "artifact": recognizer.artifact.name}
    if truth:
        result["macro_f1"] = macro_f1(truth, predicted)
        print(
            f"macro-F1 {result['macro_f1']:.3f} over {len(truth)} labelled windows "
            f"({recognizer.artifact.name}, majority of {args.smoothing})"
        )
    return result


if __name__ == "__main__":
    main()
