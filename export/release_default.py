"""How the embedded default bundle (`mujo_edge/default_model/`) is made, so anyone can rebuild it.

    mujo-edge pretrain --preset wrist-exercise --exclude spar_watch --out runs/wrist
    mujo-edge finetune --dataset spar_watch --sensors acc --pretrained runs/wrist/best.pt --regime finetuned \
        --fold 1 --out runs/default-ft
    mujo-edge experiment label-efficiency --target spar_watch --pretrained mujo=runs/wrist/best.pt \
        --regimes baseline,finetuned --fractions 100 --runs 5 --out results/spar-100-acc
    python -m mujo_edge.export.release_default --classifier runs/default-ft/classifier.pt \
        --cv results/spar-100-acc/results.csv --out mujo_edge/default_model

The classifier of one fold is exported to int8 TFLite (calibrated on its training subjects, parity measured
on its two test subjects, whom the demo replays); only the int8 model ships, to stay under 6 MB. The
cross-validated macro-F1 of the same recipe over all five folds goes into `metrics.cross_validated`, so the
bundle states the accuracy to expect on a new person, not the one fold it was trained on.

Export layer: it reads a training checkpoint and runs the export pipeline, which training itself may never do.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge.bundle import ArtifactStatus, Manifest, read_bundle, write_manifest
from mujo_edge.default_model import PATH
from mujo_edge.errors import ConfigError

SHIPPED = "tflite-int8"
MAX_BYTES = 6_000_000


def cross_validated(
    results_csv: Path, method: str = "mujo", regime: str = "finetuned", fraction: float = 1.0
) -> dict[str, Any]:
    """Mean +- std of one cell of a label-efficiency results.csv (per window and smoothed)."""
    with results_csv.open(newline="") as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if r["method"] == method and r["regime"] == regime and float(r["fraction"]) == fraction
        ]
    if not rows:
        raise ConfigError(f"{results_csv} has no {method}/{regime} row at {fraction:.0%} labels", field="--cv")
    f1 = np.array([float(r["macro_f1"]) for r in rows])
    smoothed = np.array([float(r["macro_f1_smoothed"]) for r in rows if r.get("macro_f1_smoothed")])
    out = {
        "protocol": f"subject-wise {len({r['fold'] for r in rows})}-fold, {len(rows)} runs, {method} {regime}, "
        f"{fraction:.0%} labels",
        "macro_f1_mean": float(f1.mean()),
        "macro_f1_std": float(f1.std()),
        "runs": len(rows),
        "source": str(results_csv),
    }
    if len(smoothed):
        out.update({"macro_f1_smoothed5_mean": float(smoothed.mean()), "macro_f1_smoothed5_std": float(smoothed.std())})
    return out


def check_shippable(classifier: Path) -> None:
    """The default bundle ships in the wheel: refuse a classifier fine-tuned or pre-trained on data whose licence
    forbids redistribution (e.g. HMP). Its pre-training sources are the ones the checkpoint records, or, for a
    checkpoint written before it recorded them, those of the pre-training checkpoint it names."""
    from mujo_edge.data.registry import research_only
    from mujo_edge.training.checkpoints import read_classifier, read_pretrain

    ckpt = read_classifier(classifier)
    sources = list(ckpt.pretraining_sources)
    if not sources and ckpt.pretrained_from and Path(ckpt.pretrained_from).is_file():
        corpus = read_pretrain(ckpt.pretrained_from).corpus
        sources = list(corpus.sources) if corpus is not None else []
    restricted = research_only([ckpt.dataset, *sources])
    if restricted:
        raise ConfigError(
            f"{classifier} was trained with {', '.join(restricted)}, whose licence forbids redistribution: the "
            "default bundle ships in the wheel (pre-train with --exclude for each of them)",
            field="--classifier",
        )


def build_default(classifier: Path, out: Path, cv_results: Path, data_root: Path | None = None) -> Manifest:
    """Export `classifier` to int8 TFLite, keep only that artifact, add the cross-validated scores, write `out`."""
    from mujo_edge.export.pipeline import export_checkpoint

    check_shippable(classifier)
    cv = cross_validated(cv_results)
    with tempfile.TemporaryDirectory(prefix="mujo-default-") as tmp:
        report = export_checkpoint(
            classifier, Path(tmp) / "bundle", formats=("tflite",), int8=True, calib="dataset", data_root=data_root
        )
        bundle = read_bundle(report.bundle)
        art = bundle.manifest.artifact(SHIPPED)
        if not art.usable or art.status != ArtifactStatus.PASS:
            raise ConfigError(f"{SHIPPED} did not pass parity ({art.status}: {dict(art.parity)})", field=SHIPPED)
        if (art.bytes or 0) > MAX_BYTES:
            raise ConfigError(f"{SHIPPED} has {art.bytes} bytes, more than {MAX_BYTES}", field=SHIPPED)
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("model-*"):
            old.unlink()
        shutil.copy2(bundle.path_of(art), out / str(art.file))
        metrics = {**bundle.manifest.metrics, "cross_validated": cv}
        manifest = replace(bundle.manifest.with_artifacts([art]), metrics=metrics)
    write_manifest(out, manifest)
    return read_bundle(out).manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classifier", type=Path, required=True, help="classifier.pt of `mujo-edge finetune`")
    parser.add_argument("--cv", type=Path, required=True, help="results.csv of the 100 %% label-efficiency grid")
    parser.add_argument("--out", type=Path, default=PATH, help="bundle folder (default: the package's own)")
    parser.add_argument("--root", type=Path, default=None, help="SPAR-watch folder (default: ../shared/data)")
    args = parser.parse_args(argv)
    m = build_default(args.classifier, args.out, args.cv, args.root)
    art = m.artifact(SHIPPED)
    print(
        f"wrote {args.out}: {(art.bytes or 0) / 1e6:.2f} MB, held-out macro-F1 {art.parity['macro_f1']:.3f}, "
        f"cross-validated {m.metrics['cross_validated']['macro_f1_mean']:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
