"""The one pre-training loop; the objective (MuJo's InfoNCE, a baseline, later a combination) is a part.

Reads top to bottom: threads and determinism, the subject split, the objective (which fits its normaliser and
chooses the model), model and optimizer, resume, then per epoch: shuffle (seeded by epoch), for each batch set
the learning rate from the schedule, the objective's loss on the batch, AdamW step (gradients averaged over ranks
under torchrun); validate, append a `metrics.jsonl` line, write `last.pt` (and `best.pt` when the validation loss
improved) atomically, stop early after `patience` epochs without improvement.
`resume=True` continues from `last.pt` and ends with the same weights as an uninterrupted run: the schedule is a
pure function of the step, the shuffle a pure function of the epoch, and the RNG state is saved.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from mujo_edge.errors import CheckpointError, ConfigError
from mujo_edge.normalise import StreamNormaliser
from mujo_edge.training.checkpoints import (
    CorpusProvenance,
    PretrainCheckpoint,
    TrainState,
    read_pretrain,
    write_pretrain,
)
from mujo_edge.training.corpus import Corpus
from mujo_edge.training.distributed import DistInfo, all_reduce_mean
from mujo_edge.training.models import ArchConfig, ModelConfig, MujoModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduleConfig:
    """What every pre-training objective shares: optimiser, schedule (`lr_at`), epochs, early stopping,
    subject-wise validation, source balancing (`epoch_order`). Paper defaults (section 4): AdamW 8e-4, batch 256,
    34 warm-up epochs, 33-epoch cosine cycles down to 3.0398e-6, at most 200 epochs, early stopping after 50
    epochs without a better validation loss."""

    epochs: int = 200
    batch_size: int = 256
    lr: float = 8e-4
    weight_decay: float = 0.01
    warmup_epochs: float = 34
    cycle_epochs: float = 33
    min_lr: float = 3.0398e-6
    patience: int = 50
    val_fraction: float = 0.15
    balance: float = 0.0  # 0: sources as they come; 1: every source equally often per epoch (see epoch_order)
    seed: int = 0
    threads: int = 0  # 0 = torch's default

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"must be an integer >= 1, got {getattr(self, name)!r}", field=name)
        if not 0 < self.min_lr <= self.lr:
            raise ConfigError(f"need 0 < min_lr <= lr, got {self.min_lr}, {self.lr}", field="min_lr")
        if self.warmup_epochs < 0 or self.cycle_epochs <= 0:
            raise ConfigError("warmup_epochs must be >= 0 and cycle_epochs > 0", field="cycle_epochs")
        if not 0.0 <= self.balance <= 1.0:
            raise ConfigError(f"must be in [0, 1], got {self.balance}", field="balance")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"must be in (0, 1), got {self.val_fraction}", field="val_fraction")


def lr_at(step: int, steps_per_epoch: int, cfg: ScheduleConfig) -> float:
    """Linear warm-up, then cosine annealing with warm restarts (per step, so resume needs no state)."""
    warmup = cfg.warmup_epochs * steps_per_epoch
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    cycle = cfg.cycle_epochs * steps_per_epoch
    t = ((step - warmup) % cycle) / cycle
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


def epoch_order(train_idx: np.ndarray, source: np.ndarray, balance: float, seed: int, epoch: int) -> np.ndarray:
    """The windows of one epoch, shuffled; a pure function of (seed, epoch) so resuming replays it exactly.

    With `balance` > 0 a source of n training windows gets a share proportional to n^(1 - balance) of the
    epoch (drawn with replacement where that is more than it has): a small real dataset is then not drowned
    by a large synthetic one. The epoch keeps its length, so the schedule does not change.
    """
    rng = np.random.default_rng([seed, epoch])
    if balance == 0.0:
        return rng.permutation(train_idx)
    sources = sorted(set(source[train_idx].tolist()))
    members = [train_idx[source[train_idx] == s] for s in sources]
    weight = np.array([len(m) ** (1.0 - balance) for m in members])
    counts = np.floor(weight / weight.sum() * len(train_idx)).astype(int)
    counts[np.argmax(weight)] += len(train_idx) - counts.sum()
    picked = [rng.choice(m, size=c, replace=c > len(m)) for m, c in zip(members, counts)]
    return rng.permutation(np.concatenate(picked))


def split_subjects(corpus: Corpus, fraction: float, seed: int) -> np.ndarray:
    """Boolean [W]: True for validation windows, drawn by subject within each source (never mixing)."""
    rng = np.random.default_rng(seed)
    val = np.zeros(len(corpus), bool)
    for source in sorted(set(corpus.source.tolist())):
        subjects = sorted(set(corpus.subject[corpus.source == source].tolist()))
        n_val = round(fraction * len(subjects))
        if len(subjects) >= 3 and n_val == 0:
            n_val = 1
        chosen = (
            set(rng.choice(subjects, size=min(n_val, len(subjects) - 1), replace=False).tolist())
            if len(subjects) > 1
            else set()
        )
        val |= np.isin(corpus.subject, list(chosen))
    return val


def corpus_provenance(corpus: Corpus) -> CorpusProvenance:
    """What the checkpoint was trained on: its sources and the datasets left out (for leave-target-out checks)."""
    return CorpusProvenance(
        tuple(sorted(set(corpus.source.tolist()))), tuple(str(d) for d in corpus.meta.get("exclude", []))
    )


class Objective(Protocol):
    """What a pre-training objective gives the loop. Built once the validation split is known (it fits its
    normaliser on the training windows); `attach` runs after the model exists and returns the objective's own
    trainable weights (loss temperature, a head), which the optimizer trains with the model. A future combined
    objective holds several of these and returns the weighted sum of their batch losses."""

    name: str
    model_config: ModelConfig
    normaliser: StreamNormaliser
    train_config: Mapping[str, Any]  # saved as the checkpoint's train_config
    batch_what: str  # "" or e.g. " of wrist_acc": names the windows in the too-few-windows error

    def train_index(self) -> np.ndarray: ...  # windows trained on (global indices)

    def attach(self, model: MujoModel) -> nn.Module: ...

    def batch_loss(self, model: MujoModel, idx: Tensor) -> Tensor: ...  # this rank's slice of a global batch

    def validate(self, model: MujoModel) -> tuple[float, dict[str, Any]]: ...  # val loss, prefixed extras

    def epoch_fields(self) -> dict[str, Any]: ...  # written right after "epoch" in every metrics line

    def corpus_summary(self) -> dict[str, Any]: ...  # config.json "corpus" (without "meta")

    def state(self) -> tuple[dict[str, Any], dict[str, Any] | None]: ...  # checkpoint (loss, head)

    def load_state(self, loss: Mapping[str, Any], head: Mapping[str, Any] | None) -> None: ...


ObjectiveBuilder = Callable[[Corpus, ArchConfig, ScheduleConfig, np.ndarray], Objective]


# ---------------------------------------------------------------------------------------------- progress events


@dataclass(frozen=True)
class RunStart:
    out: Path
    objective: str
    epochs: int
    start_epoch: int
    steps_per_epoch: int
    train_windows: int
    val_windows: int


@dataclass(frozen=True)
class StepEnd:
    epoch: int  # 0-based epoch the step belongs to
    step: int  # 1-based
    steps: int
    loss: float
    lr: float


@dataclass(frozen=True)
class EpochEnd:
    """`metrics` is the line appended to metrics.jsonl (epoch, train_loss, val_loss, lr, seconds, extras)."""

    metrics: Mapping[str, Any]
    best_epoch: int

    @property
    def epoch(self) -> int:
        return int(self.metrics["epoch"])

    @property
    def val_loss(self) -> float:
        return float(self.metrics["val_loss"])


@dataclass(frozen=True)
class RunSummary:
    epochs_run: int
    best_epoch: int
    best_val_loss: float
    last: Mapping[str, Any]
    early_stopped: bool = False


Event = RunStart | StepEnd | EpochEnd
Progress = Callable[[Event], None]


# ---------------------------------------------------------------------------------------------- the loop


def train(
    corpus: Corpus,
    arch: ArchConfig,
    config: ScheduleConfig,
    out: str | Path,
    build: ObjectiveBuilder,
    *,
    resume: bool = False,
    dist_info: DistInfo = DistInfo(),
    progress: Progress | None = None,
    stop_after_epoch: int | None = None,
) -> RunSummary:
    """Train the objective `build` makes on `corpus`; write `last.pt`, `best.pt`, `metrics.jsonl` and
    `config.json` into `out`. `stop_after_epoch` ends the run early as if interrupted (to test resuming)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if config.threads and config.threads != torch.get_num_threads():
        # only when it changes: re-setting the same count after torch has run parallel work made every op
        # ~20x slower here (torch 2.13, OpenMP, 2 cores) until the pool settled, after about one epoch
        torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)  # the same seed gives the same weights on CPU
    torch.manual_seed(config.seed + dist_info.rank)  # dropout, augmentations; restored from the checkpoint on resume
    val = split_subjects(corpus, config.val_fraction, config.seed)
    objective = build(corpus, arch, config, val)
    train_idx = objective.train_index()
    model = MujoModel(objective.model_config, seed=config.seed)
    extra = objective.attach(model)
    params = list(model.parameters()) + list(extra.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    local_batch = max(1, config.batch_size // dist_info.world_size)
    global_batch = local_batch * dist_info.world_size
    if len(train_idx) < global_batch:  # every step needs a full global batch (equal slices on every rank)
        raise ConfigError(
            f"{len(train_idx)} training windows{objective.batch_what} are fewer than one batch of "
            f"{global_batch}; lower batch_size or add data",
            field="batch_size",
        )
    steps_per_epoch = len(train_idx) // global_batch
    state = TrainState()
    metrics_path = out / "metrics.jsonl"
    if resume:
        ckpt = read_pretrain(out / "last.pt")
        try:
            model.load_state_dict(dict(ckpt.model))
            objective.load_state(ckpt.loss, ckpt.head)
            optimizer.load_state_dict(dict(ckpt.optimizer))
        except (RuntimeError, ValueError, KeyError) as e:  # torch names every mismatched tensor: keep the first line
            raise CheckpointError(
                "was written by another model, objective or optimizer than this recipe builds (resume with the "
                f"recipe it was started with, or start a new --out): {str(e).splitlines()[0]}",
                path=out / "last.pt",
                field="model",
            ) from None
        torch.set_rng_state(ckpt.torch_rng)
        state = ckpt.state
        _truncate_metrics(metrics_path, state.epoch)
    elif dist_info.is_main:
        metrics_path.write_text("")
    if dist_info.is_main:
        (out / "config.json").write_text(
            json.dumps(
                {
                    "model": objective.model_config.to_dict(),
                    "train": dict(objective.train_config),
                    "normaliser": objective.normaliser.to_dict(),
                    "corpus": {**objective.corpus_summary(), "meta": dict(corpus.meta)},
                },
                indent=2,
                default=str,
            )
            + "\n"
        )
    report = progress if dist_info.is_main else None
    if report:
        report(
            RunStart(out, objective.name, config.epochs, state.epoch, steps_per_epoch, len(train_idx), int(val.sum()))
        )
    summary = RunSummary(0, state.best_epoch, state.best_val, {})
    for epoch in range(state.epoch, config.epochs):
        t0 = time.perf_counter()
        model.train()
        extra.train()
        order = epoch_order(train_idx, corpus.source, config.balance, config.seed, epoch)
        losses = []
        lr = config.lr
        for step in range(steps_per_epoch):
            lr = lr_at(epoch * steps_per_epoch + step, steps_per_epoch, config)
            for g in optimizer.param_groups:
                g["lr"] = lr
            batch = order[step * global_batch : (step + 1) * global_batch]
            local = torch.from_numpy(batch[dist_info.rank * local_batch : (dist_info.rank + 1) * local_batch])
            loss = objective.batch_loss(model, local)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if dist_info.enabled:
                _average_grads(params, dist_info)
            optimizer.step()
            losses.append(float(loss.detach()))
            if report:
                report(StepEnd(epoch, step + 1, steps_per_epoch, losses[-1], lr))
        val_loss, extras = objective.validate(model)
        train_loss = all_reduce_mean(float(np.mean(losses)))
        metrics = {
            "epoch": epoch + 1,
            **objective.epoch_fields(),
            "train_loss": train_loss,
            "val_loss": val_loss,
            "lr": lr,
            "seconds": round(time.perf_counter() - t0, 2),
            **extras,
        }
        state = state.after_epoch(val_loss)
        if dist_info.is_main:
            loss_state, head_state = objective.state()
            ckpt = PretrainCheckpoint(
                model=model.state_dict(),
                model_config=objective.model_config,
                train_config=objective.train_config,
                normaliser=objective.normaliser,
                corpus=corpus_provenance(corpus),
                state=state,
                optimizer=optimizer.state_dict(),
                torch_rng=torch.get_rng_state(),
                metrics=metrics,
                loss=loss_state,
                head=head_state,
            )
            write_pretrain(ckpt, out / "last.pt")
            if state.improved:
                write_pretrain(ckpt, out / "best.pt")
            with metrics_path.open("a") as fh:
                fh.write(json.dumps(metrics) + "\n")
        if report:
            report(EpochEnd(metrics, state.best_epoch))
        summary = RunSummary(epoch + 1, state.best_epoch, state.best_val, metrics)
        if state.exhausted(config.patience):
            log.info("early stopping after %d epochs without improvement", config.patience)
            summary = RunSummary(epoch + 1, state.best_epoch, state.best_val, metrics, early_stopped=True)
            break
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    return summary


def _average_grads(params: list[nn.Parameter], dist_info: DistInfo) -> None:
    """Average gradients over ranks (what DDP does), including parameters a rank did not use this step.

    DDP itself is not used: a step embeds only the modalities present in the batch, so which parameters
    take part varies per step and per rank, and every rank must still join every all-reduce."""
    import torch.distributed as dist

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad /= dist_info.world_size


def _truncate_metrics(path: Path, epochs: int) -> None:
    """Keep the first `epochs` lines: lines written after the checkpoint being resumed are replaced."""
    if path.is_file():
        lines = path.read_text().splitlines()[:epochs]
        path.write_text("".join(line + "\n" for line in lines))
