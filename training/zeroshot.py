"""Zero-shot activity recognition with a pre-trained MuJo model (paper sections 5.4 / 6.3, Table 3).

Each class's text is embedded (MiniLM, then the checkpoint's text branch); a window is embedded by the
checkpoint's sensor branch and gets the class whose text embedding is most cosine-similar. Nothing of the
target dataset is fitted: windows are z-scored with the checkpoint's own (pre-training) statistics, and
labels are only used to score.

Choices where the paper is silent:
- Label embeddings live in the joint space: each text goes through the text branch, is L2-normalised, and
  with `prompts="all"` a class is the normalised mean over its phrasings (as `pretrain.retrieval` builds
  its prototypes). NULL is the normalised mean of the class embeddings in that same space.
- With `null=False`, windows without a label (y = -1) and windows of the dataset's `null_classes` are
  dropped and NULL is not a candidate; with `null=True` they become the extra class "NULL".
- Macro-F1 averages over the candidate classes that have windows (a class with no windows has no recall
  to measure); predictions into such classes still count as errors. Top-k macro-F1 (Table 3 reports F1 at
  top-1/3/5) scores a window as its true class when that is among the k best, else as the best class.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mujo_edge.channels import AXES, Channel, triaxial_streams
from mujo_edge.data.texts import LabelText, label_texts
from mujo_edge.errors import ConfigError
from mujo_edge.metrics import confusion_matrix, macro_f1_from_confusion
from mujo_edge.normalise import StreamNormaliser
from mujo_edge.training.models import ModelConfig, MujoModel
from mujo_edge.training.pretrain import TEXT
from mujo_edge.training.text import TextEmbedder
from mujo_edge.windows import Windows

log = logging.getLogger(__name__)

NULL = "NULL"
PROMPTS = ("primary", "all")
TOP_K = (1, 3, 5)


@dataclass(frozen=True)
class ZeroShotResult:
    """Scores of one zero-shot run.

    classes: the candidate labels in column order (the dataset's classes minus its null classes, plus
    "NULL" when `null`). texts: the primary sentence of each candidate ("" for NULL: it is not a text).
    stream: the windows' rows used (`<stream>_x/_y/_z`); encoder: the checkpoint modality that embedded
    them (differs from `stream` when the anchor stood in, see `note`). confusion[i, j]: windows of true
    class i predicted as j. recall/support: per candidate class (recall is NaN without windows).
    chance: top-k accuracy of guessing uniformly among the candidates (k / classes).
    y_true / y_pred: column indices per scored window (not part of `to_dict`).
    """

    dataset: str
    stream: str
    encoder: str
    anchor_fallback: bool
    null: bool
    prompts: str
    classes: tuple[str, ...]
    texts: tuple[str, ...]
    windows: int
    dropped: int
    top1: float
    top3: float
    top5: float
    macro_f1: float
    macro_f1_top3: float
    macro_f1_top5: float
    chance: Mapping[str, float]
    confusion: tuple[tuple[int, ...], ...]
    recall: Mapping[str, float]
    support: Mapping[str, int]
    note: str = ""
    y_true: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False, compare=False)
    y_pred: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (NaN recall becomes None)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in ("y_true", "y_pred"):
                continue
            v = getattr(self, f.name)
            if isinstance(v, Mapping):
                v = {k: (None if isinstance(x, float) and np.isnan(x) else x) for k, x in v.items()}
            elif isinstance(v, tuple):
                v = [list(r) if isinstance(r, tuple) else r for r in v]
            out[f.name] = v
        return out


def _sensor_streams(config: ModelConfig) -> list[str]:
    return [m.name for m in config.modalities if m.kind == "sensor"]


def _pick_stream(windows: Windows, config: ModelConfig, anchor: str, stream: str | None) -> str:
    """The windows' stream to use: the given one, else the anchor, else the first checkpoint sensor present."""
    streams = triaxial_streams(windows.channels)
    if stream is not None:
        if stream not in streams:
            raise ConfigError(
                f"the windows have no channels {stream}_x/_y/_z (channels: {', '.join(windows.channels)})",
                field="stream",
            )
        return stream
    for name in [anchor, *_sensor_streams(config)]:
        if name in streams:
            return name
    # no stream by name: the one stream of the anchor's sensor kind (a waist accelerometer for a wrist_acc anchor)
    kind = _parse_stream(anchor)
    same = [n for n in streams if kind is not None and (_parse_stream(n) or ("", ""))[1] == kind[1]]
    if len(same) == 1:
        return same[0]
    raise ConfigError(
        f"none of the checkpoint's sensor streams ({', '.join(_sensor_streams(config))}) is in "
        f"the windows ({', '.join(windows.channels)}): pass stream=",
        field="stream",
    )


def _parse_channel(name: str) -> Channel | None:
    try:
        return Channel.parse(name)
    except ConfigError:
        return None


def _parse_stream(stream: str) -> tuple[str, str] | None:
    """(placement, sensor) of a stream name like `wrist_acc`, or None if it is not one."""
    c = _parse_channel(f"{stream}_{AXES[0]}")
    return None if c is None else (c.placement, c.sensor)


def _label_set(windows: Windows, dataset: str, null: bool) -> tuple[list[str], np.ndarray]:
    """Candidate labels and each window's column (-1 = dropped)."""
    from mujo_edge.data.registry import get_loader

    null_classes = set(get_loader(dataset).spec.null_classes)
    unknown = null_classes - set(windows.classes)
    if unknown:
        log.debug("null classes %s are not among the windows' classes", sorted(unknown))
    keep = [c for c in windows.classes if c not in null_classes]
    candidates = keep + ([NULL] if null else [])
    column = {i: keep.index(c) for i, c in enumerate(windows.classes) if c in keep}
    null_col = len(keep) if null else -1
    y = np.array([column.get(int(v), null_col) for v in windows.y], dtype=np.int64)
    return candidates, y


def _unit_rows(z: Tensor) -> Tensor:
    return torch.nn.functional.normalize(z, dim=-1)


@torch.no_grad()
def _class_embeddings(
    model: MujoModel, texts: Mapping[str, LabelText], classes: list[str], text_encoder: TextEmbedder, prompts: str
) -> Tensor:
    """[K, D] unit label embeddings in the joint space (one per class, in `classes` order)."""
    phrasings = [texts[c].all if prompts == "all" else (texts[c].primary,) for c in classes]
    flat = [p for ps in phrasings for p in ps]
    raw = np.asarray(text_encoder.embed(flat), dtype=np.float32)
    expected = model.config.modality(TEXT).input_dim
    if raw.ndim != 2 or raw.shape != (len(flat), expected):
        raise ConfigError(
            f"the text encoder gives vectors of shape {raw.shape[1:]}, the checkpoint's text branch "
            f"takes {expected} (was it pre-trained with another text model?)",
            field="text_encoder",
        )
    z = _unit_rows(model.embed(TEXT, torch.from_numpy(raw)))
    out, start = [], 0
    for ps in phrasings:
        out.append(_unit_rows(z[start : start + len(ps)].mean(dim=0)))
        start += len(ps)
    return torch.stack(out)


def _f1_topk(y: np.ndarray, ranks: np.ndarray, k: int, labels: list[int], n_classes: int) -> float:
    """Macro-F1 over `labels` when a window counts as right if its class is among its k best, else as its best."""
    hit = (ranks[:, :k] == y[:, None]).any(axis=1)
    pred = np.where(hit, y, ranks[:, 0])
    return macro_f1_from_confusion(confusion_matrix(y, pred, n_classes), labels)


def zero_shot(
    checkpoint: Mapping[str, Any],
    windows: Windows,
    dataset: str,
    *,
    stream: str | None = None,
    text_encoder: TextEmbedder,
    null: bool = False,
    prompts: str = "primary",
    texts: Mapping[str, LabelText] | None = None,
    batch_size: int = 512,
) -> ZeroShotResult:
    """Classify `windows` by the nearest label text in the checkpoint's joint space (no target training).

    checkpoint: a pre-training checkpoint (`pretrain.load_checkpoint`): keys model, model_config,
    normaliser, train_config. windows: float32 [W, C, L] in SI units, L = the model's window.
    dataset: the registered dataset the windows come from (its label texts and null classes).
    stream: `<placement>_<sensor>` whose `_x/_y/_z` rows are used (default: the checkpoint's anchor if the
    windows have it, else the first checkpoint sensor stream they have); it is embedded by the checkpoint
    modality of the same name, or by the anchor when the checkpoint has no such modality.
    text_encoder: `.embed(texts) -> [N, dim]` and `.dim`, the encoder the checkpoint was pre-trained with
    (MiniLM `TextEncoder`). prompts: "primary" sentence per class, or "all" phrasings averaged.
    texts: class -> LabelText, instead of the packaged texts of `dataset` (e.g. a user's own file).
    """
    if prompts not in PROMPTS:
        raise ConfigError(f"must be one of {PROMPTS}, got {prompts!r}", field="prompts")
    if batch_size < 1:
        raise ConfigError(f"must be >= 1, got {batch_size}", field="batch_size")
    for key in ("model", "model_config", "normaliser", "train_config"):
        if key not in checkpoint:
            raise ConfigError(f"not a pre-training checkpoint: no '{key}'", field="checkpoint")
    config = ModelConfig.from_dict(checkpoint["model_config"])
    if TEXT not in [m.name for m in config.modalities]:
        raise ConfigError("the checkpoint has no text branch: zero-shot needs one", field="checkpoint")
    anchor = str(checkpoint["train_config"].get("anchor", ""))
    if windows.x.ndim != 3 or windows.x.shape[2] != config.arch.window:
        raise ConfigError(
            f"windows are {list(windows.x.shape)}, the model takes [W, C, {config.arch.window}]", field="windows"
        )

    name = _pick_stream(windows, config, anchor, stream)
    rows = windows.with_channels([f"{name}_{a}" for a in AXES])
    sensors = _sensor_streams(config)
    fallback = name not in sensors
    encoder = anchor if fallback else name
    if encoder not in sensors:
        raise ConfigError(
            f"the checkpoint has no sensor modality '{name}' and its anchor '{anchor}' is not one "
            f"(sensor modalities: {', '.join(sensors)})",
            field="stream",
        )
    if config.modality(encoder).input_dim != len(rows.channels):
        raise ConfigError(
            f"modality '{encoder}' takes {config.modality(encoder).input_dim} rows, stream '{name}' "
            f"has {len(rows.channels)}",
            field="stream",
        )
    normaliser = StreamNormaliser.from_dict(checkpoint["normaliser"], "checkpoint").get(encoder)
    if normaliser is None:
        raise ConfigError(f"the checkpoint has no normalisation statistics for '{encoder}'", field="normaliser")
    note = (
        f"stream '{name}' embedded by the anchor encoder '{encoder}' (the checkpoint has no '{name}' branch)"
        if fallback
        else ""
    )
    if note:
        log.info(note)

    candidates, y = _label_set(windows, dataset, null)
    classes = [c for c in candidates if c != NULL]
    if not classes:
        raise ConfigError("no candidate classes", field="classes")
    table = dict(texts) if texts is not None else label_texts(dataset, list(windows.classes))
    missing = [c for c in classes if c not in table]
    if missing:
        raise ConfigError(f"no text for class(es) {', '.join(missing)}", field="texts")
    keep = y >= 0
    if not keep.any():
        raise ConfigError("no windows left to score (all unlabelled or NULL; try null=True)", field="windows")
    y = y[keep]

    model = MujoModel(config)
    model.load_state_dict(checkpoint["model"])
    model.eval()
    with torch.no_grad():
        labels_z = _class_embeddings(model, table, classes, text_encoder, prompts)
        if null:
            labels_z = torch.cat([labels_z, _unit_rows(labels_z.mean(dim=0, keepdim=True))])
        idx = np.flatnonzero(keep)
        ranks = []
        for s in range(0, len(idx), batch_size):
            part = idx[s : s + batch_size]
            x = normaliser.apply(rows.x[part])
            z = _unit_rows(model.embed(encoder, torch.from_numpy(np.ascontiguousarray(x, np.float32))))
            sim = z @ labels_z.t()
            ranks.append(sim.argsort(dim=1, descending=True).numpy())
    rank = np.concatenate(ranks)
    return _score(
        rank,
        y,
        candidates,
        table,
        dataset=dataset,
        stream=name,
        encoder=encoder,
        fallback=fallback,
        null=null,
        prompts=prompts,
        dropped=int((~keep).sum()),
        note=note,
    )


def _score(
    rank: np.ndarray,
    y: np.ndarray,
    candidates: list[str],
    table: Mapping[str, LabelText],
    *,
    dataset: str,
    stream: str,
    encoder: str,
    fallback: bool,
    null: bool,
    prompts: str,
    dropped: int,
    note: str,
) -> ZeroShotResult:
    k_all = len(candidates)
    pred = rank[:, 0]
    present = sorted(set(y.tolist()))
    top = {k: float((rank[:, :k] == y[:, None]).any(axis=1).mean()) for k in TOP_K}
    f1 = {k: _f1_topk(y, rank, k, present, k_all) for k in TOP_K}
    cm = confusion_matrix(y, pred, k_all)
    support = cm.sum(axis=1)
    recall = {c: (float(cm[i, i] / support[i]) if support[i] else float("nan")) for i, c in enumerate(candidates)}
    return ZeroShotResult(
        dataset=dataset,
        stream=stream,
        encoder=encoder,
        anchor_fallback=fallback,
        null=null,
        prompts=prompts,
        classes=tuple(candidates),
        texts=tuple("" if c == NULL else table[c].primary for c in candidates),
        windows=len(y),
        dropped=dropped,
        top1=top[1],
        top3=top[3],
        top5=top[5],
        macro_f1=f1[1],
        macro_f1_top3=f1[3],
        macro_f1_top5=f1[5],
        chance={f"top{k}": min(k, k_all) / k_all for k in TOP_K} | {"macro_f1_uniform": 1.0 / k_all},
        confusion=tuple(tuple(int(v) for v in r) for r in cm),
        recall=recall,
        support={c: int(s) for c, s in zip(candidates, support)},
        note=note,
        y_true=y,
        y_pred=pred.astype(np.int64),
    )


def plot_confusion(result: ZeroShotResult, png_path: str | Path, *, annotate_max_classes: int = 15) -> Path:
    """Row-normalised confusion matrix (true class per row) as a PNG; cells carry their window counts when
    the matrix has at most `annotate_max_classes` classes. Headless (Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(result.confusion, dtype=np.float64)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    k = len(result.classes)
    size = max(4.5, 0.55 * k + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_xticks(range(k), result.classes, rotation=45, ha="right")
    ax.set_yticks(range(k), [f"{c} ({result.support.get(c, 0)})" for c in result.classes])
    ax.set(xlabel="predicted (nearest label text)", ylabel="true class (windows)")
    ax.set_title(
        f"zero-shot {result.dataset} / {result.stream}"
        f"{'' if result.encoder == result.stream else f' via {result.encoder}'}\n"
        f"top-1 {result.top1:.3f}  macro-F1 {result.macro_f1:.3f}  (chance {result.chance['top1']:.3f})",
        fontsize=10,
    )
    if k <= annotate_max_classes:
        for i in range(k):
            for j in range(k):
                if cm[i, j] or i == j:  # a 0 on the diagonal is worth showing
                    ax.text(
                        j,
                        i,
                        str(int(cm[i, j])),
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white" if norm[i, j] > 0.5 else "black",
                    )
    fig.tight_layout()
    out = Path(png_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
