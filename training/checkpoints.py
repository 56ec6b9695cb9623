"""Checkpoints as typed, versioned dataclasses, read and written here and nowhere else.

Two kinds: `PretrainCheckpoint` (`last.pt` / `best.pt` of a pre-training run, MuJo or a baseline) and
`ClassifierCheckpoint` (`classifier.pt` of `mujo-edge finetune`, what export reads). Files hold tensors and plain
data only and are loaded with `torch.load(weights_only=True)`. Every file written before these classes existed
still loads: pre-training version 1 (no "kind", the per-stream normaliser as {stream: {"mean", "std"}}) is
converted on read; classifier version 1 is the current classifier layout. Anything else raises `CheckpointError`
naming the file and the version found.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from mujo_edge.bundle import fsync_folder
from mujo_edge.data.provenance import DataProvenance
from mujo_edge.errors import CheckpointError, DataError, DataNotFoundError, LayoutError
from mujo_edge.normalise import Normaliser, StreamNormaliser
from mujo_edge.training.models import ModelConfig

log = logging.getLogger(__name__)

PRETRAIN = "pretrain"
CLASSIFIER = "classifier"
PRETRAIN_VERSION = 2  # 2: "kind" and the StreamNormaliser layout; 1 (read only): the layout before issue 13
PRETRAIN_READABLE = (1, 2)
CLASSIFIER_VERSION = 1


def atomic_save(obj: Mapping[str, Any], path: Path) -> None:
    """torch.save through a temporary file and a rename, so a killed run never leaves a torn checkpoint.

    The file is fsynced before the rename (else a power cut can leave the new name on an empty or partial file)
    and the folder after it (so the rename itself is on disk)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(dict(obj), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def _load(path: str | Path, what: str) -> tuple[Path, dict[str, Any]]:
    """The file's content, loaded with `weights_only=True`. Every failure is one CheckpointError line naming the
    file: torch's own messages are logged at debug level, never shown, as they advise loading unsafely."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"{what} checkpoint not found", path=p)
    if p.stat().st_size == 0:
        raise CheckpointError(f"empty file, not a {what} checkpoint (was its run killed while writing it?)", path=p)
    try:
        data = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        log.debug("%s: %s", p, e)
        raise CheckpointError(
            f"refused: it holds Python objects other than tensors and plain data, which a {what} checkpoint never "
            "does, and loading them could run code",
            path=p,
        ) from None
    except Exception as e:
        log.debug("%s: %s: %s", p, type(e).__name__, e)
        raise CheckpointError(
            f"not a readable {what} checkpoint: truncated, corrupt or not written by torch.save ({type(e).__name__})",
            path=p,
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"not a {what} checkpoint (a {type(data).__name__}, not a mapping)", path=p)
    return p, data


def _version(data: Mapping[str, Any], readable: Sequence[int], what: str, path: str | Path) -> int:
    """The file's version if this code reads it (an integer: True or 1.0 is not a version)."""
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version not in readable:
        raise CheckpointError(
            f"unknown {what} checkpoint version (this mujo-edge reads {', '.join(map(str, readable))}; "
            "written by another release?)",
            path=path,
            version=version,
            field="version",
        )
    return version


def _need(data: Mapping[str, Any], key: str, path: str | Path) -> Any:
    if key not in data:
        raise CheckpointError("missing key", path=path, version=data.get("version"), field=key)
    return data[key]


def _typed(data: Mapping[str, Any], key: str, path: str | Path, ok: bool, expected: str) -> None:
    if not ok:
        raise CheckpointError(f"expected {expected}", path=path, version=data.get("version"), field=key)


def _tensors(data: Mapping[str, Any], key: str, path: str | Path) -> Mapping[str, Tensor]:
    """data[key] as a state dict: checked here so a damaged file is refused before torch's loaders see it."""
    value = _need(data, key, path)
    ok = isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in value.items())
    _typed(data, key, path, ok, "a mapping of parameter names to tensors")
    return value


def _resume_state(data: Mapping[str, Any], path: str | Path) -> tuple[Mapping[str, Any], Tensor]:
    """The optimizer state and torch RNG state `--resume` restores."""
    optimizer, rng = _need(data, "optimizer", path), _need(data, "torch_rng", path)
    ok = isinstance(optimizer, Mapping) and {"state", "param_groups"} <= set(optimizer)
    _typed(data, "optimizer", path, ok, "an optimizer state dict (state, param_groups)")
    ok = isinstance(rng, Tensor) and rng.dtype == torch.uint8
    _typed(data, "torch_rng", path, ok, "torch's RNG state (a uint8 tensor)")
    return optimizer, rng


@dataclass(frozen=True)
class TrainState:
    """Early stopping after `epoch` epochs: the best validation loss (lower is better) and when it was seen.
    Saved in every pre-training checkpoint; fine-tuning keeps one too (on minus macro-F1)."""

    epoch: int = 0
    best_val: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0

    def after_epoch(self, val: float) -> TrainState:
        """The state once one more epoch with validation loss `val` is done (NaN never improves)."""
        if val < self.best_val:
            return TrainState(self.epoch + 1, val, self.epoch + 1, 0)
        return TrainState(self.epoch + 1, self.best_val, self.best_epoch, self.bad_epochs + 1)

    @property
    def improved(self) -> bool:
        """The last epoch was the best so far."""
        return self.epoch > 0 and self.best_epoch == self.epoch

    def exhausted(self, patience: int) -> bool:
        return self.bad_epochs >= patience

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainState:
        return cls(int(data["epoch"]), float(data["best_val"]), int(data["best_epoch"]), int(data["bad_epochs"]))


@dataclass(frozen=True)
class CorpusProvenance:
    """What a pre-training corpus held (`sources`) and what it was asked to leave out (`exclude`)."""

    sources: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, list[str]]:
        return {"sources": list(self.sources), "exclude": list(self.exclude)}


@dataclass(frozen=True)
class PretrainCheckpoint:
    """One pre-training checkpoint: weights (`model`, the objective's `loss` and `head` state), optimizer and
    RNG state for resuming, the configurations, the per-stream normaliser, the corpus provenance (None only
    in files that never recorded it), the early-stopping `state` and the epoch's `metrics`."""

    model: Mapping[str, Tensor]
    model_config: ModelConfig
    train_config: Mapping[str, Any]
    normaliser: StreamNormaliser
    corpus: CorpusProvenance | None
    state: TrainState
    optimizer: Mapping[str, Any]
    torch_rng: Tensor
    metrics: Mapping[str, Any] = field(default_factory=dict)
    loss: Mapping[str, Any] = field(default_factory=dict)
    head: Mapping[str, Any] | None = None
    version: int = PRETRAIN_VERSION

    @property
    def anchor(self) -> str:
        return str(self.train_config.get("anchor", "wrist_acc"))

    def to_dict(self) -> dict[str, Any]:
        """The on-disk layout (current version)."""
        out: dict[str, Any] = {
            "version": PRETRAIN_VERSION,
            "kind": PRETRAIN,
            "model": dict(self.model),
            "loss": dict(self.loss),
        }
        if self.head is not None:
            out["head"] = dict(self.head)
        out.update(
            {
                "optimizer": dict(self.optimizer),
                "model_config": self.model_config.to_dict(),
                "train_config": dict(self.train_config),
                "normaliser": self.normaliser.to_dict(),
                "corpus": None if self.corpus is None else self.corpus.to_dict(),
                "torch_rng": self.torch_rng,
                "state": self.state.to_dict(),
                "metrics": dict(self.metrics),
            }
        )
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | Path = "checkpoint") -> PretrainCheckpoint:
        version = data.get("version")
        kind = data.get("kind", PRETRAIN)  # version 1 had no kind; a classifier always said so
        if kind != PRETRAIN:
            raise CheckpointError(
                f"a {kind} checkpoint, not a pre-training one", path=path, version=version, field="kind"
            )
        version = _version(data, PRETRAIN_READABLE, "pre-training", path)
        try:
            corpus = data.get("corpus")
            optimizer, torch_rng = _resume_state(data, path)
            return cls(
                model=_tensors(data, "model", path),
                model_config=ModelConfig.from_dict(_need(data, "model_config", path)),
                train_config=dict(_need(data, "train_config", path)),
                normaliser=StreamNormaliser.from_dict(_need(data, "normaliser", path), str(path)),
                corpus=None
                if not isinstance(corpus, Mapping) or "sources" not in corpus
                else CorpusProvenance(
                    tuple(str(s) for s in corpus["sources"]), tuple(str(s) for s in corpus.get("exclude", []))
                ),
                state=TrainState.from_dict(_need(data, "state", path)),
                optimizer=optimizer,
                torch_rng=torch_rng,
                metrics=dict(data.get("metrics", {})),
                loss=dict(data.get("loss", {})),
                head=data.get("head"),
                version=version,
            )
        except DataError as e:  # a normaliser that does not parse
            raise CheckpointError(
                f"invalid normaliser: {e.message}", path=path, version=version, field="normaliser"
            ) from None
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(f"invalid content ({type(e).__name__}: {e})", path=path, version=version) from None


def write_pretrain(ckpt: PretrainCheckpoint, path: str | Path) -> Path:
    atomic_save(ckpt.to_dict(), Path(path))
    return Path(path)


def read_pretrain(path: str | Path) -> PretrainCheckpoint:
    """A pre-training checkpoint file, of any readable version."""
    p, data = _load(path, "pre-training")
    return PretrainCheckpoint.from_dict(data, p)


@dataclass(frozen=True)
class HeadConfig:
    hidden: int
    dropout: float


@dataclass(frozen=True)
class ClassifierCheckpoint:
    """Everything export needs, so it never guesses: weights (`state`), the model and head configuration, input
    streams (rows of `channels` per stream) and the branch each uses, input channels and their order, window
    config, the target's normaliser, class names and the text of each, the split, the fine-tuning config and
    metrics, and the pre-training checkpoint it started from."""

    state: Mapping[str, Tensor]
    model_config: ModelConfig
    streams: Mapping[str, Sequence[int]]
    branch_of: Mapping[str, str]
    head: HeadConfig
    channels: tuple[str, ...]
    window: Mapping[str, Any]
    normaliser: Normaliser
    classes: tuple[str, ...]
    label_texts: Mapping[str, str]
    dataset: str
    finetune: Mapping[str, Any]
    split: Mapping[str, tuple[str, ...]]
    metrics: Mapping[str, Any]
    pretrained_from: str | None = None
    # the datasets of the pre-training corpus (licences travel with the model: see `data.registry.research_only`)
    pretraining_sources: tuple[str, ...] = ()
    # the files it was trained on (root, paths, hashes, rates): export and predict find the data again with it
    data: DataProvenance | None = None
    version: int = CLASSIFIER_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The on-disk layout (version 1, unchanged since the first classifier checkpoint)."""
        return {
            "version": CLASSIFIER_VERSION,
            "kind": CLASSIFIER,
            "state": dict(self.state),
            "model_config": self.model_config.to_dict(),
            "streams": {s: list(r) for s, r in self.streams.items()},
            "branch_of": dict(self.branch_of),
            "head": {"hidden": self.head.hidden, "dropout": self.head.dropout},
            "channels": list(self.channels),
            "window": dict(self.window),
            "normaliser": self.normaliser.to_dict(),
            "classes": list(self.classes),
            "label_texts": dict(self.label_texts),
            "dataset": self.dataset,
            "finetune": dict(self.finetune),
            "split": {k: list(v) for k, v in self.split.items()},
            "metrics": dict(self.metrics),
            "pretrained_from": self.pretrained_from,
            # an optional key, so the layout stays version 1 and older readers ignore it
            **({"pretraining_sources": list(self.pretraining_sources)} if self.pretraining_sources else {}),
            **({"data": self.data.to_dict()} if self.data is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | Path = "checkpoint") -> ClassifierCheckpoint:
        version, kind = data.get("version"), data.get("kind")
        if kind != CLASSIFIER:
            raise CheckpointError(
                f"not a classifier checkpoint (kind {kind!r})", path=path, version=version, field="kind"
            )
        _version(data, (CLASSIFIER_VERSION,), "classifier", path)
        try:
            head = _need(data, "head", path)
            normaliser = Normaliser.from_dict(dict(_need(data, "normaliser", path)), f"{path}, normaliser")
            return cls(
                state=_tensors(data, "state", path),
                model_config=ModelConfig.from_dict(_need(data, "model_config", path)),
                streams={str(s): [int(i) for i in r] for s, r in _need(data, "streams", path).items()},
                branch_of={str(s): str(b) for s, b in _need(data, "branch_of", path).items()},
                head=HeadConfig(int(head["hidden"]), float(head["dropout"])),
                channels=tuple(str(c) for c in _need(data, "channels", path)),
                window=dict(_need(data, "window", path)),
                normaliser=normaliser,
                classes=tuple(str(c) for c in _need(data, "classes", path)),
                label_texts=dict(data.get("label_texts", {})),
                dataset=_dataset(data, path),
                finetune=dict(data.get("finetune", {})),
                split={str(k): tuple(str(s) for s in v) for k, v in data.get("split", {}).items()},
                metrics=dict(data.get("metrics", {})),
                pretrained_from=data.get("pretrained_from"),
                pretraining_sources=tuple(str(s) for s in data.get("pretraining_sources", ())),
                data=DataProvenance.from_dict(data["data"]) if data.get("data") is not None else None,
            )
        except LayoutError as e:
            raise CheckpointError(
                f"invalid normaliser: {e.message}", path=path, version=version, field="normaliser"
            ) from None
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise CheckpointError(f"invalid content ({type(e).__name__}: {e})", path=path, version=version) from None


def _dataset(data: Mapping[str, Any], path: str | Path) -> str:
    value = _need(data, "dataset", path)
    _typed(data, "dataset", path, isinstance(value, str) and bool(value), "the name of the dataset it was trained on")
    return value


def write_classifier(ckpt: ClassifierCheckpoint, path: str | Path) -> Path:
    atomic_save(ckpt.to_dict(), Path(path))
    return Path(path)


def read_classifier(path: str | Path) -> ClassifierCheckpoint:
    p, data = _load(path, "classifier")
    return ClassifierCheckpoint.from_dict(data, p)
