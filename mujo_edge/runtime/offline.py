"""A bundle over recorded data, offline: load the data the model needs, predict every window, and report a
timeline per recording with scores where labels are known (what `mujo-edge predict` prints)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mujo_edge.errors import ConfigError
from mujo_edge.metrics import accuracy, macro_f1
from mujo_edge.runtime.timeline import Segment, segments

if TYPE_CHECKING:
    from mujo_edge.bundle import Manifest
    from mujo_edge.data.base import DatasetLoader
    from mujo_edge.recording import Recording
    from mujo_edge.runtime.prediction import Prediction
    from mujo_edge.runtime.recognizer import Recognizer


def data_source(data: str, root: Path | None) -> tuple[DatasetLoader, Path]:
    """(loader, location) of `data`: an existing CSV file/folder in the bring-your-own layout, else a registered
    dataset name whose folder is found by the data root rule (UnknownNameError lists the datasets)."""
    from mujo_edge.data.base import resolve_root
    from mujo_edge.data.csv_layout import BYO_CSV
    from mujo_edge.data.registry import get_loader

    path = Path(data).expanduser()
    if path.exists():
        return get_loader(BYO_CSV), path
    loader = get_loader(data)
    return loader, resolve_root(loader.spec, root)


def load_for_bundle(
    data: str | None, root: Path | None, manifest: Manifest, subjects: Sequence[str] | None = None
) -> list[Recording]:
    """Recordings of `data` (see `data_source`) with the bundle's placements and sensors, of `subjects` if given.

    Without `data`, the data the model was trained on (where training read it, see `training_data`), its
    held-out subjects unless `subjects` says otherwise."""
    from mujo_edge.data.prepare import load_recordings

    if data is None:
        data, root = training_data(manifest)
        subjects = subjects or manifest.training.held_out
    elif root is None and data == manifest.training.dataset and _exists(manifest.training.data_root):
        root = Path(str(manifest.training.data_root))  # the dataset's name: read where training read it
    loader, location = data_source(data, root)
    recordings = load_recordings(loader, location, manifest.channel_selection(), manifest.window)
    if subjects:
        have = sorted({r.subject for r in recordings})
        recordings = [r for r in recordings if r.subject in subjects]
        if not recordings:
            raise ConfigError(f"no recording of subjects {list(subjects)}; the data has {have}", field="subjects")
    return recordings


def _exists(path: str | None) -> bool:
    return path is not None and Path(path).exists()


def training_data(manifest: Manifest) -> tuple[str, Path | None]:
    """(data, root) for `data_source`: the bundle's training dataset, read where training read it."""
    from mujo_edge.data.csv_layout import BYO_CSV

    dataset, recorded = manifest.training.dataset, manifest.training.data_root
    if dataset is None:
        raise ConfigError("the bundle does not record the data it was trained on: pass --data", field="--data")
    if recorded is not None and not Path(recorded).exists():
        raise ConfigError(
            f"the {dataset} data this model was trained on was read from {recorded}, which is no longer there: "
            "pass --data (and --root for a dataset name)",
            field="--data",
        )
    if dataset == BYO_CSV:
        if recorded is None:
            raise ConfigError("the bundle does not record where its CSV recordings were: pass --data", field="--data")
        return recorded, None
    return dataset, None if recorded is None else Path(recorded)


@dataclass(frozen=True)
class Scores:
    """Scores over labelled windows (true label known to the model)."""

    windows: int
    macro_f1: float
    accuracy: float

    @classmethod
    def of(cls, truth: Sequence[str], predicted: Sequence[str]) -> Scores:
        return cls(len(truth), macro_f1(truth, predicted), accuracy(truth, predicted))

    def to_dict(self) -> dict[str, Any]:
        return {"windows": self.windows, "macro_f1": self.macro_f1, "accuracy": self.accuracy}


@dataclass(frozen=True)
class ReportMetrics:
    """Per-window scores, the smoothed ones when smoothing was on, and windows whose label the model lacks."""

    raw: Scores
    smoothed: Scores | None = None
    unknown_label_windows: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = self.raw.to_dict()
        if self.smoothed is not None:
            out["smoothed"] = self.smoothed.to_dict()
        if self.unknown_label_windows:
            out["windows_with_unknown_label"] = self.unknown_label_windows
        return out


@dataclass(frozen=True)
class RecordingTimeline:
    """One recording's predictions: merged segments and every window, with its true label (None: unknown)."""

    source: str
    subject: str
    t0: float  # the recording's first timestamp; the printed timeline counts from it
    segments: tuple[Segment, ...]
    predictions: tuple[Prediction, ...]
    truth: tuple[str | None, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "subject": self.subject,
            "t0": self.t0,
            "segments": [
                {**s.to_dict(), "start_rel_s": s.start_s - self.t0, "end_rel_s": s.end_s - self.t0}
                for s in self.segments
            ],
            "windows": [
                {
                    "start_s": p.start_s,
                    "end_s": p.end_s,
                    "label": p.label,
                    "smoothed": p.smoothed_label,
                    "confidence": p.confidence,
                    "true": y,
                    "latency_s": p.latency_s,
                }
                for p, y in zip(self.predictions, self.truth)
            ],
        }


@dataclass(frozen=True)
class PredictReport:
    """What `predict` reports: the artifact that ran, a timeline per recording, scores (None: no labels)."""

    bundle: str
    artifact: str
    engine: str
    smoothing: int
    mean_latency_ms: float | None
    recordings: tuple[RecordingTimeline, ...]
    metrics: ReportMetrics | None
    labels: tuple[str, ...] = ()  # the bundle's labels
    unknown_labels: Mapping[str, int] = field(default_factory=dict)  # data labels the bundle lacks: windows

    def to_dict(self) -> dict[str, Any]:
        return {
            "bundle": self.bundle,
            "artifact": self.artifact,
            "engine": self.engine,
            "smoothing": self.smoothing,
            "mean_latency_ms": self.mean_latency_ms,
            "recordings": [r.to_dict() for r in self.recordings],
            "metrics": None if self.metrics is None else self.metrics.to_dict(),
            "labels": list(self.labels),
            "unknown_labels": dict(self.unknown_labels),
        }


def unknown_labels(timelines: Sequence[RecordingTimeline], labels: Sequence[str]) -> dict[str, int]:
    """Windows per true label that is not one of the bundle's `labels` (sorted by name): what a user must be
    told when F1 leaves them out, since a renamed or new activity is the usual cause."""
    known = set(labels)
    counts = Counter(y for rec in timelines for y in rec.truth if y is not None and y not in known)
    return dict(sorted(counts.items()))


def _metrics(timelines: Sequence[RecordingTimeline], labels: Sequence[str], smoothed: bool) -> ReportMetrics | None:
    known = set(labels)
    truth: list[str] = []
    raw: list[str] = []
    smooth: list[str] = []
    unknown = 0
    for rec in timelines:
        for p, y in zip(rec.predictions, rec.truth):
            if y is None:
                continue
            if y not in known:
                unknown += 1
                continue
            truth.append(y)
            raw.append(p.label)
            smooth.append(p.smoothed_label)
    if not truth:
        return None
    return ReportMetrics(Scores.of(truth, raw), Scores.of(truth, smooth) if smoothed else None, unknown)


def predict_report(recognizer: Recognizer, recordings: Sequence[Recording]) -> PredictReport:
    """Predict every window of every recording (as in training, `Recognizer.predict_recording`), label them
    by training's rule (`Recognizer.true_labels`), merge them into segments and score them."""
    window = recognizer.manifest.window
    step_s = window.step / window.rate_hz
    smoothed = recognizer.smoothing > 1
    timelines = []
    for rec in recordings:
        preds = recognizer.predict_recording(rec)
        truth = recognizer.true_labels(rec, preds)
        timelines.append(
            RecordingTimeline(
                rec.source,
                rec.subject,
                float(rec.t[0]),
                tuple(segments(preds, truth, step_s, smoothed)),
                tuple(preds),
                tuple(truth),
            )
        )
    latencies = [p.latency_s for r in timelines for p in r.predictions]
    return PredictReport(
        bundle=str(recognizer.bundle.source),
        artifact=recognizer.artifact.name,
        engine=recognizer.artifact.engine,
        smoothing=recognizer.smoothing,
        mean_latency_ms=1e3 * float(np.mean(latencies)) if latencies else None,
        recordings=tuple(timelines),
        metrics=_metrics(timelines, recognizer.labels, smoothed),
        labels=tuple(recognizer.labels),
        unknown_labels=unknown_labels(timelines, recognizer.labels),
    )


def recording_to_replay(
    data: str, root: Path | None, subject: str | None, index: int, seconds: float | None = None
) -> Recording:
    """Recording `index` (of `subject`, if given) of `data` (see `data_source`), accelerometer channels only,
    cut to its first `seconds` when given: what `mujo-edge emulate` streams from a virtual watch."""
    from mujo_edge.channels import ChannelSelection
    from mujo_edge.data.prepare import load_recordings

    loader, location = data_source(data, root)
    recordings = load_recordings(loader, location, ChannelSelection(sensors=("acc",)))
    if subject is not None:
        recordings = [r for r in recordings if r.subject == subject]
        if not recordings:
            raise ConfigError(f"no recording of subject {subject!r} in {data}", field="subject")
    if not 0 <= index < len(recordings):
        raise ConfigError(f"must be in [0, {len(recordings) - 1}], got {index}", field="recording")
    rec = recordings[index]
    if seconds is None:
        return rec
    if not seconds > 0:
        raise ConfigError(f"must be > 0, got {seconds}", field="seconds")
    keep = rec.t <= rec.t[0] + seconds
    return type(rec).create(
        rec.t[keep],
        rec.x[keep],
        rec.channels,
        subject=rec.subject,
        source=rec.source,
        recording_id=rec.recording_id,
        classes=rec.classes,
        labels=rec.labels[keep],
        valid=rec.valid[keep],
        meta=dict(rec.meta),
    )
