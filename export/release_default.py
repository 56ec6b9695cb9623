"""How the embedded default bundle (`mujo_edge/default_model/`) is made, so anyone can rebuild it.

    mujo-edge pretrain --preset wrist-exercise --exclude spar_watch --out runs/exercise-nospar-s0
    mujo-edge finetune --dataset spar_watch --sensors acc --pretrained runs/exercise-nospar-s0/best.pt \
        --regime finetuned --fold 1 --out runs/default-ft
    mujo-edge experiment label-efficiency --target spar_watch --pretrained exercise=runs/exercise-nospar-s0/best.pt \
        --regimes finetuned --fractions 100,10 --runs 5 --no-forest --out benchmarks/results/issue14/spar-exercise
    python -m mujo_edge.export.release_default --classifier runs/default-ft/classifier.pt \
        --cv benchmarks/results/issue14/spar-exercise/results.csv --method exercise \
        --forest-cv benchmarks/results/issue14/spar-exercise/results.csv --int8-activations dynamic \
        --out mujo_edge/default_model

`wrist-exercise` is the recipe without research-only data (HMP); the forest's rows come from the recipe's own
grid, which runs the same folds, runs and seeds.
The classifier of one fold is exported to int8 TFLite (calibrated on its training subjects, parity measured
on its two test subjects, whom the demo replays); only the int8 model ships, to stay under 6 MB, and only
when it loses at most half a macro-F1 point (MAX_F1_DROP). With static int8 activations the pooled encoder lost
1.4-4.3 points on those subjects (the range of the magnitude's squares and the spectrum's logarithm is wide for
8 bits), so the default ships int8 weights with activations quantised per inference (`--int8-activations
dynamic`): the same size and speed, no measurable loss. The
cross-validated macro-F1 of the same recipe over all five folds goes into `metrics.cross_validated`, so the
bundle states the accuracy to expect on a new person, not the one fold it was trained on.

Export layer: it reads a training checkpoint and runs the export pipeline, which training itself may never do.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge.bundle import ArtifactStatus, Manifest, read_bundle, write_manifest
from mujo_edge.default_model import PATH
from mujo_edge.errors import ConfigError, MujoEdgeError
from mujo_edge.training.results_tables import FOREST

SHIPPED = "tflite-int8"
MAX_BYTES = 6_000_000
MAX_F1_DROP = 0.005  # int8 parity: half a macro-F1 point at most


def _cell(results_csv: Path, method: str, regime: str, fraction: float) -> list[dict[str, str]]:
    with results_csv.open(newline="") as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if r["method"] == method and r["regime"] == regime and float(r["fraction"]) == fraction
        ]
    if not rows:
        raise ConfigError(f"{results_csv} has no {method}/{regime} row at {fraction:.0%} labels", field="--cv")
    return rows


def _mean_std(rows: list[dict[str, str]], column: str) -> tuple[float, float] | None:
    values = np.array([float(r[column]) for r in rows if r.get(column)])
    return (float(values.mean()), float(values.std())) if len(values) else None


def cross_validated(
    results_csv: Path,
    method: str = "mujo",
    regime: str = "finetuned",
    fraction: float = 1.0,
    forest_csv: Path | None = None,
) -> dict[str, Any]:
    """Mean +- std of one cell of a label-efficiency results.csv (per window and smoothed), and with `forest_csv`
    the feature forest's on the same folds and runs (same subjects, label draws and seeds), so the bundle states
    what the model gains over the baseline a user could train instead."""
    rows = _cell(results_csv, method, regime, fraction)
    f1 = _mean_std(rows, "macro_f1")
    assert f1 is not None  # every row has a macro_f1
    out: dict[str, Any] = {
        "protocol": f"subject-wise {len({r['fold'] for r in rows})}-fold, {len(rows)} runs, {method} {regime}, "
        f"{fraction:.0%} labels",
        "macro_f1_mean": f1[0],
        "macro_f1_std": f1[1],
        "runs": len(rows),
        "source": str(results_csv),
    }
    if smoothed := _mean_std(rows, "macro_f1_smoothed"):
        out.update({"macro_f1_smoothed5_mean": smoothed[0], "macro_f1_smoothed5_std": smoothed[1]})
    if forest_csv is not None:
        forest = _cell(forest_csv, FOREST, "-", fraction)
        runs = {(r["fold"], r["run"], r["seed"]) for r in rows}
        if {(r["fold"], r["run"], r["seed"]) for r in forest} != runs:
            raise ConfigError(
                f"the forest rows of {forest_csv} are not the same folds, runs and seeds as {results_csv}",
                field="--forest-cv",
            )
        forest_f1 = _mean_std(forest, "macro_f1")
        assert forest_f1 is not None
        out["forest"] = {
            "macro_f1_mean": forest_f1[0],
            "macro_f1_std": forest_f1[1],
            "runs": len(forest),
            "source": str(forest_csv),
        }
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


def build_default(
    classifier: Path,
    out: Path,
    cv_results: Path,
    data_root: Path | None = None,
    *,
    method: str = "mujo",
    forest_results: Path | None = None,
    int8_activations: str = "static",
) -> Manifest:
    """Export `classifier` to int8 TFLite, keep only that artifact, add the cross-validated scores (and the
    forest's on the same folds), write `out`."""
    from mujo_edge.export.pipeline import export_checkpoint

    check_shippable(classifier)
    cv = cross_validated(cv_results, method, forest_csv=forest_results)
    with tempfile.TemporaryDirectory(prefix="mujo-default-") as tmp:
        report = export_checkpoint(
            classifier,
            Path(tmp) / "bundle",
            formats=("tflite",),
            int8=True,
            calib="dataset",
            data_root=data_root,
            max_f1_drop=MAX_F1_DROP,
            int8_activations=int8_activations,
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
    parser.add_argument("--method", default="mujo", help="the method name of the recipe's rows in --cv")
    parser.add_argument(
        "--forest-cv", type=Path, default=None, help="results.csv holding the forest's rows of the same folds"
    )
    parser.add_argument("--out", type=Path, default=PATH, help="bundle folder (default: the package's own)")
    parser.add_argument("--root", type=Path, default=None, help="SPAR-watch folder (default: ../shared/data)")
    parser.add_argument(
        "--int8-activations", choices=("static", "dynamic"), default="static", help="see `mujo-edge export --help`"
    )
    args = parser.parse_args(argv)
    try:
        m = build_default(
            args.classifier,
            args.out,
            args.cv,
            args.root,
            method=args.method,
            forest_results=args.forest_cv,
            int8_activations=args.int8_activations,
        )
    except MujoEdgeError as e:  # a refusal (parity, size, licence) is one line; the bundle in --out is untouched
        print(f"not released: {e}", file=sys.stderr)
        return 1
    art = m.artifact(SHIPPED)
    cv = m.metrics["cross_validated"]
    forest = f" (forest on the same folds {cv['forest']['macro_f1_mean']:.3f})" if "forest" in cv else ""
    print(
        f"wrote {args.out}: {(art.bytes or 0) / 1e6:.2f} MB, held-out macro-F1 {art.parity['macro_f1']:.3f}, "
        f"cross-validated {cv['macro_f1_mean']:.3f}{forest}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
