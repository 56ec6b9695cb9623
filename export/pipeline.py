"""Checkpoint -> model bundle with measured parity.

`export_classifier` works on an in-memory `ClassifierCheckpoint` and windows you give it (tests, notebooks);
`export_checkpoint` reads a checkpoint file, prepares its dataset exactly as in training (calibration from the
training subjects or a file, parity on the test subjects) and calls it. Both write model files and `mujo.json`
(via `write_manifest`, which hashes every file) into `out_dir` and return an `ExportReport`.
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mujo_edge.bundle import MANIFEST, Artifact, ArtifactStatus, Manifest, Provenance, write_manifest
from mujo_edge.errors import ConfigError
from mujo_edge.export.calibration import (
    CALIB_DATASET,
    DEFAULT_CALIBRATION,
    Calibration,
    HeldOut,
    checkpoint_normaliser,
    dataset_calibration,
    file_calibration,
    held_out,
    prepare_like_training,
)
from mujo_edge.export.formats import FORMATS, ExportJob
from mujo_edge.export.parity import LayerError, compare, judge, layer_sqnr, run_artifact

if TYPE_CHECKING:
    from mujo_edge.training.checkpoints import ClassifierCheckpoint

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (done, total, what), as mujo_edge.cli.console.progress_callback
ALL_FORMATS = ("onnx", "tflite", "executorch")
SQNR_WINDOWS = 512  # enough windows for stable per-layer statistics, few enough to stay quick
VERSIONED = (
    "torch",
    "executorch",
    "torchao",
    "onnx",
    "onnxruntime",
    "onnxscript",
    "onnx2tf",
    "tensorflow-cpu",
    "tensorflow",
    "tf-keras",
    "ai-edge-litert",
    "numpy",
    "mujo-edge",
)


@dataclass(frozen=True)
class ArtifactRow:
    """One line of the export table (parity numbers are None when the export failed)."""

    name: str
    format: str
    precision: str
    status: str
    bytes: int | None
    max_abs_logit_diff: float | None
    top1_agreement: float | None
    macro_f1: float | None
    delta_macro_f1: float | None
    notes: str = ""

    @classmethod
    def of(cls, a: Artifact) -> ArtifactRow:
        p = a.parity
        return cls(
            a.name,
            a.format,
            # "int8-dyn": int8 weights, activations quantised per inference (see `Artifact.activations`)
            f"{a.precision}-dyn" if a.activations == "dynamic" else str(a.precision),
            a.status,
            a.bytes,
            p.get("max_abs_logit_diff"),
            p.get("top1_agreement"),
            p.get("macro_f1"),
            p.get("delta_macro_f1"),
            a.notes,
        )


@dataclass(frozen=True)
class ExportReport:
    """What an export did: the bundle folder, one row per artifact, the torch fp32 baseline on the same
    held-out windows, the per-layer int8 error table (ONNX QDQ vs fp32, worst first) and the calibration used."""

    bundle: Path
    rows: tuple[ArtifactRow, ...]
    torch_fp32: Mapping[str, Any]
    sqnr: tuple[LayerError, ...] = ()
    calibration_count: int = 0
    calibration_source: str = ""
    test_windows: int = 0
    max_f1_drop: float = 0.01
    seconds: float = 0.0
    artifacts: tuple[Artifact, ...] = field(default=(), repr=False)

    @property
    def failed(self) -> bool:
        """True when any artifact failed to export or missed parity (int8 over max_f1_drop, fp32 off torch)."""
        return any(r.status != ArtifactStatus.PASS for r in self.rows)

    def row(self, name: str) -> ArtifactRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)


def tool_versions() -> dict[str, str]:
    """Installed versions of the export toolchain (absent packages are left out)."""
    out = {}
    for name in VERSIONED:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def _clean(folder: Path) -> None:
    """Remove model files of an earlier export so a format that now fails leaves no stale file behind."""
    for fmt in FORMATS:
        for p in folder.glob(f"model-*{fmt.suffix}"):
            p.unlink()
    (folder / MANIFEST).unlink(missing_ok=True)


def _manifest(ckpt: ClassifierCheckpoint, artifacts: Sequence[Artifact], metrics: Mapping[str, Any]) -> Manifest:
    from mujo_edge.channels import Channel
    from mujo_edge.config import WindowConfig

    channels = ckpt.channels
    on_disk = ckpt.to_dict()  # the manifest records the training fields as the checkpoint file holds them
    training = {k: on_disk.get(k) for k in ("dataset", "split", "pretrained_from", "finetune", "model_config", "head")}
    if ckpt.pretraining_sources:
        training["pretraining_sources"] = list(ckpt.pretraining_sources)
    if ckpt.data is not None:  # where the data was and the rate it was recorded at (replay and live compare it)
        training["data"] = ckpt.data.summary()
    from mujo_edge.data.registry import research_only

    restricted = research_only([ckpt.dataset, *ckpt.pretraining_sources])
    if restricted:  # said in the bundle itself, where whoever ships it sees it
        training["research_only_data"] = list(restricted)
    return Manifest(
        channels=channels,
        units=tuple(Channel.parse(c).unit for c in channels),
        window=WindowConfig.from_dict(dict(ckpt.window)),
        normaliser=checkpoint_normaliser(ckpt),
        labels=ckpt.classes,
        label_texts=dict(ckpt.label_texts),
        artifacts=tuple(artifacts),
        training=Provenance.from_dict(training),
        metrics=metrics,
        versions=tool_versions(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )


def export_classifier(
    checkpoint: ClassifierCheckpoint,
    out_dir: str | Path,
    *,
    test: HeldOut,
    calib: Calibration | np.ndarray | None = None,
    formats: Sequence[str] = ALL_FORMATS,
    int8: bool = True,
    int8_io: bool = False,
    int8_activations: str = "static",
    max_f1_drop: float = 0.01,
    progress: Progress | None = None,
) -> ExportReport:
    """Export the classifier of `checkpoint` in `formats`, measure parity on `test` and write a bundle.

    calib: z-scored calibration windows [N, C, L] (required with `int8`); test: z-scored held-out windows and
    labels. A format that raises yields export-failed artifacts, the others are still written."""
    from mujo_edge.metrics import scores
    from mujo_edge.training.classifier import load_classifier, predict

    t0 = time.perf_counter()
    ckpt = checkpoint
    if isinstance(calib, np.ndarray):
        calib = Calibration(np.asarray(calib, np.float32), f"{len(calib)} given windows")
    if int8 and (calib is None or calib.count == 0):
        raise ConfigError(
            "int8 export needs calibration windows: pass --calib dataset (the checkpoint's training "
            "subjects) or --calib FILE.npy",
            field="calib",
        )
    if int8_io and not int8:
        raise ConfigError("--int8-io needs --int8", field="int8_io")
    fmts = [FORMATS.get(f) for f in dict.fromkeys(formats)]  # UnknownNameError for a name not registered
    if not fmts:
        raise ConfigError("no export format chosen", field="format")
    if len(test.x) == 0:
        raise ConfigError("no held-out windows to measure parity on", field="test")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clean(out)

    clf = load_classifier(checkpoint)
    n_classes = len(ckpt.classes)
    reference = predict(clf, test.x)
    baseline = scores(test.y, reference.argmax(axis=1), n_classes)
    baseline = {"macro_f1": baseline["macro_f1"], "accuracy": baseline["accuracy"], "windows": baseline["n"]}
    job = ExportJob(
        channels=len(ckpt.channels),
        length=int(ckpt.window["length"]),
        int8=int8,
        int8_io=int8_io,
        calib=None if calib is None else calib.x,
        int8_activations=int8_activations,
    )
    total = 2 * len(fmts) + 1
    step = 0

    def tick(what: str) -> None:
        nonlocal step
        if progress:
            progress(step, total, what)
        step += 1

    artifacts: list[Artifact] = []
    for fmt in fmts:
        tick(f"exporting {fmt.name}")
        artifacts += fmt.run(clf, out, job)
    measured = []
    for fmt in fmts:
        tick(f"parity {fmt.name}")
        for a in (a for a in artifacts if a.format == fmt.name):
            measured.append(_measure(a, out, test, reference, n_classes, baseline["macro_f1"], max_f1_drop))
    tick("per-layer int8 error")
    sqnr = _sqnr(measured, out, test.x)
    metrics = {
        "checkpoint": dict(ckpt.metrics),
        "export": {
            "torch_fp32": baseline,
            "held_out_subjects": list(test.subjects),
            "max_f1_drop": max_f1_drop,
            "calibration": {"windows": calib.count if calib else 0, "source": calib.source if calib else ""},
            "layer_sqnr_db": {e.layer: e.sqnr_db for e in sqnr},
        },
    }
    write_manifest(out, _manifest(ckpt, measured, metrics))
    from mujo_edge.bundle import read_bundle

    described = read_bundle(out).manifest.artifacts  # sizes and hashes as written
    if progress:
        progress(total, total, "done")
    return ExportReport(
        bundle=out,
        rows=tuple(ArtifactRow.of(a) for a in described),
        torch_fp32=baseline,
        sqnr=tuple(sqnr),
        calibration_count=calib.count if calib else 0,
        calibration_source=calib.source if calib else "",
        test_windows=len(test.x),
        max_f1_drop=max_f1_drop,
        seconds=round(time.perf_counter() - t0, 1),
        artifacts=described,
    )


def _measure(
    a: Artifact, folder: Path, test: HeldOut, reference: np.ndarray, n_classes: int, ref_f1: float, max_f1_drop: float
) -> Artifact:
    """The artifact with its parity and status; a file that will not run is an export failure."""
    if not a.usable:
        return a
    try:
        logits = run_artifact(folder / str(a.file), a, test.x)
    except Exception as e:
        log.warning("%s does not run: %s", a.name, e, exc_info=True)
        (folder / str(a.file)).unlink(missing_ok=True)
        return replace(
            a, file=None, status=ArtifactStatus.EXPORT_FAILED, notes=f"does not run: {type(e).__name__}: {e}"
        )
    parity = compare(logits, reference, test.y, n_classes, ref_f1)
    return replace(a, parity={**a.parity, **parity}, status=judge(parity, max_f1_drop))


def _sqnr(artifacts: Sequence[Artifact], folder: Path, x: np.ndarray) -> list[LayerError]:
    by_name = {a.name: a for a in artifacts if a.usable}
    if "onnx-fp32" not in by_name or "onnx-int8" not in by_name:
        return []
    try:
        return layer_sqnr(
            folder / str(by_name["onnx-fp32"].file), folder / str(by_name["onnx-int8"].file), x[:SQNR_WINDOWS]
        )
    except Exception as e:
        log.warning("per-layer SQNR failed: %s", e, exc_info=True)
        return []


def export_checkpoint(
    checkpoint_path: str | Path,
    out_dir: str | Path,
    *,
    formats: Sequence[str] = ALL_FORMATS,
    int8: bool = True,
    int8_io: bool = False,
    calib: str | Path | None = None,
    data_root: str | Path | None = None,
    max_f1_drop: float = 0.01,
    n_calib: int = DEFAULT_CALIBRATION,
    int8_activations: str = "static",
    progress: Progress | None = None,
) -> ExportReport:
    """Export a classifier checkpoint file into a bundle at `out_dir`.

    calib: "dataset" (the checkpoint's training subjects, `n_calib` windows drawn with a fixed seed) or a path
    to raw windows [N, C, L] (.npy / .npz "x"); required with `int8` (no silent fallback). Parity is measured
    on the checkpoint's test subjects, so the dataset (at `data_root`, or the default data folder) is needed."""
    from mujo_edge.training.checkpoints import read_classifier

    if int8 and calib is None:
        raise ConfigError(
            "int8 export needs calibration windows: pass --calib dataset (the checkpoint's training "
            "subjects) or --calib FILE.npy",
            field="calib",
        )
    ckpt = checkpoint = read_classifier(checkpoint_path)
    windows = prepare_like_training(ckpt, data_root)
    test = held_out(ckpt, windows)
    calibration = None
    if int8 and calib is not None:
        calibration = (
            dataset_calibration(ckpt, windows, n_calib)
            if str(calib) == CALIB_DATASET
            else file_calibration(ckpt, calib, n_calib)
        )
    return export_classifier(
        checkpoint,
        out_dir,
        test=test,
        calib=calibration,
        formats=formats,
        int8=int8,
        int8_io=int8_io,
        int8_activations=int8_activations,
        max_f1_drop=max_f1_drop,
        progress=progress,
    )
