"""MuJo pre-training: align every modality of a corpus by pairwise InfoNCE.

The MuJo-specific parts: its configuration, the model of a corpus (one branch per modality, plus text), the
normalised corpus as tensors, the batch embedding, the per-pair validation loss and cross-modal retrieval. The
loop itself (schedule, split, checkpoints, resume, torchrun) is `training.loop`; the objective that plugs these
parts into it is `training.objectives.MujoObjective`. Under torchrun each rank takes a slice of every global
batch and embeddings are all-gathered, so the negatives span the global batch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from mujo_edge.errors import ConfigError
from mujo_edge.normalise import StreamNormaliser
from mujo_edge.training.corpus import NO_TEXT, Corpus
from mujo_edge.training.distributed import DistInfo
from mujo_edge.training.loop import ScheduleConfig
from mujo_edge.training.loss import LossConfig, PairwiseInfoNCE
from mujo_edge.training.models import ArchConfig, ModalityConfig, ModelConfig, MujoModel

if TYPE_CHECKING:
    from mujo_edge.training.loop import Progress, RunSummary

log = logging.getLogger(__name__)

TEXT = "text"


@dataclass(frozen=True)
class PretrainConfig(ScheduleConfig):
    """MuJo pre-training: the shared schedule plus the anchor modality and the contrastive loss."""

    anchor: str = "wrist_acc"
    loss: LossConfig = field(default_factory=LossConfig)
    # a self-supervised objective of `training.baselines` trained on the anchor windows of every batch next to the
    # contrastive loss (e.g. "multitask"), weighted by `auxiliary_weight`; "" = InfoNCE alone (the paper)
    auxiliary: str = ""
    auxiliary_weight: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        from mujo_edge.training.baselines import METHODS

        if self.auxiliary and self.auxiliary not in METHODS:
            raise ConfigError(f"must be '' or one of {METHODS}, got {self.auxiliary!r}", field="auxiliary")
        if not self.auxiliary_weight > 0:
            raise ConfigError(f"must be > 0, got {self.auxiliary_weight}", field="auxiliary_weight")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PretrainConfig:
        data = dict(data)
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown keys {sorted(unknown)}", field="train")
        if isinstance(data.get("loss"), Mapping):
            loss = dict(data["loss"])
            if "grouped" in loss:
                loss["grouped"] = tuple(loss["grouped"])
            data["loss"] = LossConfig(**loss)
        return cls(**data)


def model_config_for(corpus: Corpus, arch: Any) -> ModelConfig:
    """One branch per corpus modality plus text (when the corpus has embedded texts)."""
    mods = [ModalityConfig(n, corpus.kinds[n], _input_dim(corpus, n)) for n in corpus.modalities]
    if corpus.text_table is not None and corpus.has_text().any():
        mods.append(ModalityConfig(TEXT, "text", int(corpus.text_table.shape[1])))
    return ModelConfig(arch=arch, modalities=tuple(mods))


def _input_dim(corpus: Corpus, name: str) -> int:
    shape = corpus.data[name].shape[1:]
    return int(shape[1] if corpus.kinds[name] == "pose" else shape[0])


@dataclass
class _Prepared:
    """Normalised arrays and masks as tensors (built once; batches index into them)."""

    x: dict[str, Tensor]
    present: dict[str, Tensor]
    text_id: Tensor
    group: Tensor
    text_table: Tensor | None


def prepare(corpus: Corpus, normaliser: StreamNormaliser) -> _Prepared:
    """The corpus z-scored per stream (streams without statistics as they are), as tensors."""
    x = {
        name: torch.from_numpy(np.ascontiguousarray(normaliser.apply(name, corpus.data[name])))
        for name in corpus.modalities
    }
    table = None if corpus.text_table is None else torch.from_numpy(corpus.text_table.astype(np.float32))
    return _Prepared(
        x=x,
        present={n: torch.from_numpy(corpus.present[n]) for n in corpus.modalities},
        text_id=torch.from_numpy(corpus.text_id),
        group=torch.from_numpy(corpus.group),
        text_table=table,
    )


def embed_batch(model: MujoModel, data: _Prepared, idx: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Embeddings [B, D] (zeros where a modality is absent) and presence masks of the windows `idx`.

    Encoders run only on windows that have their modality: the pose branch alone costs more than all
    sensor branches, and most windows have no pose."""
    emb, masks = {}, {}
    names = list(data.x) + ([TEXT] if data.text_table is not None else [])
    for name in names:
        mask = data.text_id[idx] != NO_TEXT if name == TEXT else data.present[name][idx]
        masks[name] = mask
        out = None
        if bool(mask.any()):
            rows = idx[mask]
            table = data.text_table
            inp = table[data.text_id[rows]] if name == TEXT and table is not None else data.x[name][rows]
            z = model.embed(name, inp)
            out = z.new_zeros((len(idx), z.shape[1])).index_put((mask.nonzero().squeeze(1),), z)
        emb[name] = out if out is not None else torch.zeros(len(idx), model.embed_dim)
    return emb, masks


@torch.no_grad()
def retrieval(
    model: MujoModel, corpus: Corpus, data: _Prepared, val: np.ndarray, anchor: str, gallery: int = 256
) -> dict[str, float]:
    """Cross-modal retrieval on validation windows (top-k accuracy and the chance level of each).

    anchor -> text: rank the label prototypes (mean embedding of a label's phrasings) of the window's own
    source (top-1, top-5 and balanced top-1 = mean recall per label, whose chance level is 1 / labels).
    anchor -> other sensor: find the same window among `gallery` consecutive validation windows.
    """
    model.eval()
    out: dict[str, float] = {}
    if anchor not in data.x:
        return out
    idx = torch.from_numpy(np.flatnonzero(val & corpus.present[anchor]))
    if not len(idx):
        return out
    za = torch.nn.functional.normalize(model.embed(anchor, data.x[anchor][idx]), dim=-1)
    if data.text_table is not None:
        tz = torch.nn.functional.normalize(model.embed(TEXT, data.text_table), dim=-1)
        hits1 = hits5 = n = 0
        chance, recalls = [], []
        for source in sorted(set(corpus.source[idx.numpy()].tolist())):
            sel = (corpus.source[idx.numpy()] == source) & (corpus.text_id[idx.numpy()] != NO_TEXT)
            labels = sorted(set(corpus.label[(corpus.source == source) & (corpus.text_id != NO_TEXT)].tolist()))
            if not sel.any() or len(labels) < 2:
                continue
            protos = torch.stack(
                [
                    torch.nn.functional.normalize(
                        tz[
                            torch.from_numpy(
                                np.unique(corpus.text_id[(corpus.source == source) & (corpus.label == lab)])
                            )
                        ].mean(0),
                        dim=0,
                    )
                    for lab in labels
                ]
            )
            truth = torch.tensor([labels.index(lab) for lab in corpus.label[idx.numpy()[sel]]])
            ranks = (za[torch.from_numpy(sel)] @ protos.t()).argsort(dim=1, descending=True)
            hits1 += int((ranks[:, 0] == truth).sum())
            source_recalls = [float((ranks[truth == c, 0] == c).float().mean()) for c in truth.unique().tolist()]
            recalls += source_recalls
            # per source too: synthetic windows are easier than a real dataset's held-out subjects
            out[f"{anchor}->text@{source}/balanced_top1"] = float(np.mean(source_recalls))
            out[f"{anchor}->text@{source}/chance"] = 1.0 / len(labels)
            hits5 += int((ranks[:, :5] == truth[:, None]).any(dim=1).sum())
            n += int(sel.sum())
            chance += [1.0 / len(labels)] * int(sel.sum())
        if n:
            # balanced top-1 (mean per-label recall) is what to compare with chance: plain top-1 rewards
            # always answering the most common label
            out.update(
                {
                    f"{anchor}->text/top1": hits1 / n,
                    f"{anchor}->text/top5": hits5 / n,
                    f"{anchor}->text/balanced_top1": float(np.mean(recalls)),
                    f"{anchor}->text/chance": float(np.mean(chance)),
                }
            )
    for other in data.x:
        if other == anchor or corpus.kinds[other] != "sensor":
            continue
        both = idx[data.present[other][idx]]
        if len(both) < 2:
            continue
        zo = torch.nn.functional.normalize(model.embed(other, data.x[other][both]), dim=-1)
        zs = torch.nn.functional.normalize(model.embed(anchor, data.x[anchor][both]), dim=-1)
        hits = 0
        for s in range(0, len(both), gallery):
            sim = zs[s : s + gallery] @ zo[s : s + gallery].t()
            hits += int((sim.argmax(dim=1) == torch.arange(sim.shape[0])).sum())
        out[f"{anchor}->{other}/top1"] = hits / len(both)
        out[f"{anchor}->{other}/chance"] = min(1.0, 1.0 / min(gallery, len(both)))
    return out


def pretrain(
    corpus: Corpus,
    arch: ArchConfig,
    config: PretrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    dist_info: DistInfo = DistInfo(),
    progress: Progress | None = None,
    stop_after_epoch: int | None = None,
) -> RunSummary:
    """MuJo pre-training on `corpus` by the one loop (`training.loop.train`, objective "mujo"): writes `last.pt`,
    `best.pt`, `metrics.jsonl` and `config.json` into `out` and returns the run summary."""
    from mujo_edge.training.loop import train
    from mujo_edge.training.objectives import OBJECTIVES

    return train(
        corpus,
        arch,
        config,
        out,
        OBJECTIVES.get("mujo"),
        resume=resume,
        dist_info=dist_info,
        progress=progress,
        stop_after_epoch=stop_after_epoch,
    )


@torch.no_grad()
def validate_pairs(
    model: MujoModel, loss_fn: PairwiseInfoNCE, data: _Prepared, val: np.ndarray, batch_size: int
) -> tuple[float, dict[str, float]]:
    """Window-weighted validation loss, overall and per modality pair."""
    model.eval()
    idx = np.flatnonzero(val)
    totals, n = 0.0, 0
    pair_sums: dict[str, float] = {}
    for s in range(0, len(idx), batch_size):
        batch = torch.from_numpy(idx[s : s + batch_size])
        if len(batch) < 2:
            continue
        emb, masks = embed_batch(model, data, batch)
        loss, pairs = loss_fn(emb, masks, data.group[batch])
        totals += float(loss) * len(batch)
        for k, v in pairs.items():
            pair_sums[k] = pair_sums.get(k, 0.0) + float(v) * len(batch)
        n += len(batch)
    if not n:
        return math.nan, {}
    return totals / n, {k: v / n for k, v in pair_sums.items()}
