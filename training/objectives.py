"""Pre-training objectives for the one loop (`training.loop.train`), registered by name in `OBJECTIVES`.

"mujo": pairwise InfoNCE over every modality a window has (`training.pretrain`); "autoencoder", "simclr",
"multitask": the self-supervised baselines on the anchor stream alone (`training.baselines`). Each builder takes
(corpus, arch, config, val mask) and returns an `Objective`; the config type says which settings it reads
(`PretrainConfig` for MuJo, `BaselineConfig` for the baselines).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from mujo_edge.errors import ConfigError
from mujo_edge.normalise import StreamNormaliser
from mujo_edge.registry import Registry
from mujo_edge.training.baselines import METHODS, BaselineConfig, BaselineHead, baseline_model_config, build_head
from mujo_edge.training.corpus import Corpus
from mujo_edge.training.distributed import gather_plain, gather_with_grad
from mujo_edge.training.loop import ObjectiveBuilder, ScheduleConfig
from mujo_edge.training.loss import PairwiseInfoNCE
from mujo_edge.training.models import ArchConfig, MujoModel
from mujo_edge.training.pretrain import (
    PretrainConfig,
    embed_batch,
    model_config_for,
    prepare,
    retrieval,
    validate_pairs,
)

OBJECTIVES: Registry[ObjectiveBuilder] = Registry("pre-training objective")


class MujoObjective:
    """Every modality pair aligned by InfoNCE; embeddings are all-gathered under torchrun so the negatives span
    the global batch. Validation: loss per pair and cross-modal retrieval from the anchor."""

    name = "mujo"
    batch_what = ""

    def __init__(self, corpus: Corpus, arch: ArchConfig, config: PretrainConfig, val: np.ndarray) -> None:
        self.corpus, self.config, self.val = corpus, config, val
        train = ~val
        self.normaliser = StreamNormaliser.fit(
            {n: corpus.data[n][train & corpus.present[n]] for n in corpus.modalities if corpus.kinds[n] != "video"}
        )
        self.data = prepare(corpus, self.normaliser)
        self.model_config = model_config_for(corpus, arch)
        self.train_config: Mapping[str, Any] = config.to_dict()
        self.loss_fn = PairwiseInfoNCE(config.loss)

    def train_index(self) -> np.ndarray:
        return np.flatnonzero(~self.val)

    def attach(self, model: MujoModel) -> nn.Module:
        return self.loss_fn

    def batch_loss(self, model: MujoModel, idx: Tensor) -> Tensor:
        emb, masks = embed_batch(model, self.data, idx)
        emb = {n: gather_with_grad(e) for n, e in emb.items()}
        masks = {n: gather_plain(m) for n, m in masks.items()}
        loss, _ = self.loss_fn(emb, masks, gather_plain(self.data.group[idx]))
        return loss

    def validate(self, model: MujoModel) -> tuple[float, dict[str, Any]]:
        val_loss, pairs = validate_pairs(model, self.loss_fn, self.data, self.val, self.config.batch_size)
        return val_loss, {
            **{f"val_pair/{k}": v for k, v in pairs.items()},
            **retrieval(model, self.corpus, self.data, self.val, self.config.anchor),
        }

    def epoch_fields(self) -> dict[str, Any]:
        return {}

    def corpus_summary(self) -> dict[str, Any]:
        return {"windows": len(self.corpus), "counts": self.corpus.counts(), "val_windows": int(self.val.sum())}

    def state(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        return self.loss_fn.state_dict(), None

    def load_state(self, loss: Mapping[str, Any], head: Mapping[str, Any] | None) -> None:
        self.loss_fn.load_state_dict(dict(loss))


class BaselineObjective:
    """A baseline's head on the anchor windows alone (no other modality, no text), with MuJo's split and the
    anchor's statistics. Heads take PHYSICAL windows and normalise them themselves (SimCLR rotates first)."""

    batch_what: str
    train_config: Mapping[str, Any]
    head: BaselineHead

    def __init__(self, corpus: Corpus, arch: ArchConfig, config: BaselineConfig, val: np.ndarray) -> None:
        anchor = config.anchor
        if anchor not in corpus.data or corpus.kinds[anchor] != "sensor":
            raise ConfigError(
                f"anchor {anchor!r} is not a sensor modality of the corpus "
                f"({[n for n in corpus.modalities if corpus.kinds[n] == 'sensor']})",
                field="anchor",
            )
        rows, window = corpus.data[anchor].shape[1:]
        if rows % 3 or window != arch.window:
            raise ConfigError(
                f"{anchor} windows are [{rows}, {window}]; need x/y/z triplets of {arch.window} steps", field=anchor
            )
        self.name, self.corpus, self.config = config.method, corpus, config
        self.batch_what = f" of {anchor}"
        has = corpus.present[anchor]
        self.train_idx, self.val_idx = np.flatnonzero(~val & has), np.flatnonzero(val & has)
        # the anchor alone: the same split and statistics as MuJo's run on this corpus
        self.normaliser = StreamNormaliser.fit({anchor: corpus.data[anchor][~val & has]})
        self.model_config = baseline_model_config(arch, anchor, int(rows))
        self.train_config = config.to_dict()
        self.x = torch.from_numpy(np.ascontiguousarray(corpus.data[anchor], dtype=np.float32))
        norm = self.normaliser.streams[anchor]
        mean, std = (torch.from_numpy(a)[None, :, None] for a in norm.arrays())
        self.mean, self.std = mean, std

    def normalise(self, w: Tensor) -> Tensor:
        return (w - self.mean) / self.std

    def train_index(self) -> np.ndarray:
        return self.train_idx

    def attach(self, model: MujoModel) -> nn.Module:
        self.head = build_head(self.config, self.model_config)
        return self.head

    def batch_loss(self, model: MujoModel, idx: Tensor) -> Tensor:
        loss, _ = self.head.loss(model, self.x[idx], self.normalise)
        return loss

    @torch.no_grad()
    def validate(self, model: MujoModel) -> tuple[float, dict[str, Any]]:
        """Window-weighted mean loss (and the method's extras) over the validation windows, with augmentations
        from a generator seeded afresh each time (the validation loss changes only when the weights do)."""
        model.eval()
        self.head.eval()
        generator = torch.Generator().manual_seed(self.config.seed + 1)
        total, n = 0.0, 0
        sums: dict[str, float] = {}
        size = self.config.batch_size
        for s in range(0, len(self.val_idx), size):
            batch = torch.from_numpy(self.val_idx[s : s + size])
            if len(batch) < 2:  # NT-Xent needs a negative; one window changes nothing for the others
                continue
            loss, extras = self.head.loss(model, self.x[batch], self.normalise, generator)
            total += float(loss) * len(batch)
            for k, v in extras.items():
                sums[k] = sums.get(k, 0.0) + v * len(batch)
            n += len(batch)
        if not n:
            return math.nan, {}
        return total / n, {f"val/{k}": v / n for k, v in sums.items()}

    def epoch_fields(self) -> dict[str, Any]:
        return {"method": self.config.method}

    def corpus_summary(self) -> dict[str, Any]:
        return {"windows": len(self.corpus), "train_windows": len(self.train_idx), "val_windows": len(self.val_idx)}

    def state(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        return {}, self.head.state_dict()

    def load_state(self, loss: Mapping[str, Any], head: Mapping[str, Any] | None) -> None:
        if head is None:
            raise ConfigError(f"the checkpoint has no '{self.name}' head to resume", field="head")
        self.head.load_state_dict(dict(head))


class CombinedObjective:
    """MuJo's InfoNCE plus an auxiliary self-supervised objective on the anchor windows of the same batch:
    loss = InfoNCE + weight x auxiliary. The auxiliary head reads the shared anchor encoder, so the encoder learns
    from both the other modalities and the signal's own structure (transformations, reconstruction) of every
    window that has the anchor, also those with no partner modality. Split, normaliser, model and checkpoint
    layout are MuJo's; the auxiliary head is saved as the checkpoint's `head`."""

    name = "mujo"
    batch_what = ""

    def __init__(self, main: MujoObjective, aux: BaselineObjective, weight: float) -> None:
        self.main, self.aux, self.weight = main, aux, weight
        self.model_config, self.normaliser, self.train_config = main.model_config, main.normaliser, main.train_config
        self.has_anchor = torch.from_numpy(main.corpus.present[aux.config.anchor])

    def train_index(self) -> np.ndarray:
        return self.main.train_index()

    def attach(self, model: MujoModel) -> nn.Module:
        return nn.ModuleDict({"loss": self.main.attach(model), "head": self.aux.attach(model)})

    def batch_loss(self, model: MujoModel, idx: Tensor) -> Tensor:
        loss = self.main.batch_loss(model, idx)
        anchored = idx[self.has_anchor[idx]]
        if len(anchored) >= 2:  # SimCLR needs a negative; one window would only add noise to the others
            loss = loss + self.weight * self.aux.batch_loss(model, anchored)
        return loss

    def validate(self, model: MujoModel) -> tuple[float, dict[str, Any]]:
        main_loss, extras = self.main.validate(model)
        aux_loss, aux_extras = self.aux.validate(model)
        name = self.aux.config.method
        total = main_loss + self.weight * aux_loss if math.isfinite(aux_loss) else main_loss
        return total, {
            **extras,
            "val/infonce": main_loss,
            f"val/{name}": aux_loss,
            **{f"{name}/{k}": v for k, v in aux_extras.items()},
        }

    def epoch_fields(self) -> dict[str, Any]:
        return {}

    def corpus_summary(self) -> dict[str, Any]:
        return self.main.corpus_summary()

    def state(self) -> tuple[dict[str, Any], dict[str, Any] | None]:
        return self.main.state()[0], self.aux.state()[1]

    def load_state(self, loss: Mapping[str, Any], head: Mapping[str, Any] | None) -> None:
        self.main.load_state(loss, None)
        self.aux.load_state({}, head)


def _mujo(
    corpus: Corpus, arch: ArchConfig, config: ScheduleConfig, val: np.ndarray
) -> MujoObjective | CombinedObjective:
    if not isinstance(config, PretrainConfig):
        raise ConfigError(f"MuJo pre-training takes a PretrainConfig, got {type(config).__name__}", field="config")
    main = MujoObjective(corpus, arch, config, val)
    if not config.auxiliary:
        return main
    aux_config = BaselineConfig.from_schedule(config, config.auxiliary, config.anchor)
    return CombinedObjective(main, BaselineObjective(corpus, arch, aux_config, val), config.auxiliary_weight)


def _baseline(method: str) -> ObjectiveBuilder:
    def build(corpus: Corpus, arch: ArchConfig, config: ScheduleConfig, val: np.ndarray) -> BaselineObjective:
        if not isinstance(config, BaselineConfig) or config.method != method:
            raise ConfigError(f"the {method} objective takes a BaselineConfig with method {method!r}", field="config")
        return BaselineObjective(corpus, arch, config, val)

    return build


OBJECTIVES.register("mujo", _mujo)
for _method in METHODS:
    OBJECTIVES.register(_method, _baseline(_method))
