"""MuJo pre-training: align every modality of a corpus by pairwise InfoNCE (reads top to bottom).

One epoch: shuffle (seeded by epoch), for each batch set the learning rate from the schedule, embed the
modalities each window has, loss over every modality pair, AdamW step; then validate on held-out
subjects (loss and cross-modal retrieval), write metrics as a JSONL line and a checkpoint atomically.
`resume=True` continues from the last checkpoint and ends with the same weights as an uninterrupted run:
the schedule is a pure function of the step, the shuffle a pure function of the epoch, and the RNG states
are saved. Under torchrun each rank takes a slice of every global batch and embeddings are all-gathered,
so the negatives span the global batch; gradients are averaged over ranks after every step.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mujo_edge.errors import ConfigError, DataNotFoundError
from mujo_edge.training.corpus import NO_TEXT, Corpus
from mujo_edge.training.distributed import DistInfo, all_reduce_mean, gather_plain, gather_with_grad
from mujo_edge.training.loss import LossConfig, PairwiseInfoNCE
from mujo_edge.training.models import ModalityConfig, ModelConfig, MujoModel

log = logging.getLogger(__name__)

CHECKPOINT_VERSION = 1
TEXT = "text"
Progress = Callable[[Mapping[str, Any]], None]


@dataclass(frozen=True)
class ScheduleConfig:
    """What every pre-training method (MuJo and the baselines) shares: optimiser, schedule (`lr_at`), epochs,
    early stopping, subject-wise validation, source balancing (`epoch_order`). Paper defaults (section 4):
    AdamW 8e-4, batch 256, 34 warm-up epochs, 33-epoch cosine cycles down to 3.0398e-6, at most 200 epochs,
    early stopping after 50 epochs without a better validation loss."""

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


@dataclass(frozen=True)
class PretrainConfig(ScheduleConfig):
    """MuJo pre-training: the shared schedule plus the anchor modality and the contrastive loss."""

    anchor: str = "wrist_acc"
    loss: LossConfig = field(default_factory=LossConfig)

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
        n_val = int(round(fraction * len(subjects)))
        if len(subjects) >= 3 and n_val == 0:
            n_val = 1
        chosen = set(rng.choice(subjects, size=min(n_val, len(subjects) - 1), replace=False).tolist()) \
            if len(subjects) > 1 else set()
        val |= np.isin(corpus.subject, list(chosen))
    return val


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


def normaliser_stats(corpus: Corpus, train: np.ndarray) -> dict[str, dict[str, list[float]]]:
    """Per-modality z-score statistics over the training windows that have the modality (axis 0 of the
    per-window shape: sensor rows x/y/z, pose coordinates x/y/z)."""
    stats = {}
    for name in corpus.modalities:
        if corpus.kinds[name] == "video":
            continue
        rows = corpus.data[name][train & corpus.present[name]]
        if not len(rows):
            continue
        axes = tuple(i for i in range(rows.ndim) if i != 1)
        mean, std = rows.mean(axis=axes, dtype=np.float64), rows.std(axis=axes, dtype=np.float64)
        stats[name] = {"mean": mean.tolist(), "std": np.where(std < 1e-6, 1.0, std).tolist()}
    return stats


def _prepare(corpus: Corpus, stats: Mapping[str, Mapping[str, list[float]]]) -> _Prepared:
    x = {}
    for name in corpus.modalities:
        arr = corpus.data[name].astype(np.float32, copy=True)
        if name in stats:
            shape = (1, -1) + (1,) * (arr.ndim - 2)
            arr = (arr - np.asarray(stats[name]["mean"], np.float32).reshape(shape)) \
                / np.asarray(stats[name]["std"], np.float32).reshape(shape)
        x[name] = torch.from_numpy(np.ascontiguousarray(arr))
    table = None if corpus.text_table is None else torch.from_numpy(corpus.text_table.astype(np.float32))
    return _Prepared(x=x, present={n: torch.from_numpy(corpus.present[n]) for n in corpus.modalities},
                     text_id=torch.from_numpy(corpus.text_id), group=torch.from_numpy(corpus.group),
                     text_table=table)


def embed_batch(model: MujoModel, data: _Prepared, idx: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Embeddings [B, D] (zeros where a modality is absent) and presence masks of the windows `idx`.

    Encoders run only on windows that have their modality: the pose branch alone costs more than all
    sensor branches, and most windows have no pose."""
    emb, masks = {}, {}
    names = list(data.x) + ([TEXT] if data.text_table is not None else [])
    for name in names:
        if name == TEXT:
            mask = data.text_id[idx] != NO_TEXT
        else:
            mask = data.present[name][idx]
        masks[name] = mask
        out = None
        if bool(mask.any()):
            rows = idx[mask]
            inp = data.text_table[data.text_id[rows]] if name == TEXT else data.x[name][rows]
            z = model.embed(name, inp)
            out = z.new_zeros((len(idx), z.shape[1])).index_put((mask.nonzero().squeeze(1),), z)
        emb[name] = out if out is not None else torch.zeros(len(idx), model.embed_dim)
    return emb, masks


@torch.no_grad()
def retrieval(model: MujoModel, corpus: Corpus, data: _Prepared, val: np.ndarray, anchor: str,
              gallery: int = 256) -> dict[str, float]:
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
            protos = torch.stack([torch.nn.functional.normalize(tz[torch.from_numpy(np.unique(
                corpus.text_id[(corpus.source == source) & (corpus.label == lab)]))].mean(0), dim=0)
                for lab in labels])
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
            out.update({f"{anchor}->text/top1": hits1 / n, f"{anchor}->text/top5": hits5 / n,
                        f"{anchor}->text/balanced_top1": float(np.mean(recalls)),
                        f"{anchor}->text/chance": float(np.mean(chance))})
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
            sim = zs[s:s + gallery] @ zo[s:s + gallery].t()
            hits += int((sim.argmax(dim=1) == torch.arange(sim.shape[0])).sum())
        out[f"{anchor}->{other}/top1"] = hits / len(both)
        out[f"{anchor}->{other}/chance"] = min(1.0, 1.0 / min(gallery, len(both)))
    return out


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save through a temporary file and a rename, so a killed run never leaves a torn checkpoint."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def corpus_provenance(corpus: Corpus) -> dict[str, list[str]]:
    """What the checkpoint was trained on: its sources and the datasets left out (for leave-target-out checks)."""
    return {"sources": sorted(set(corpus.source.tolist())),
            "exclude": [str(d) for d in corpus.meta.get("exclude", [])]}


def record_epoch(out: Path, state: Mapping[str, Any], val_loss: float, metrics: Mapping[str, Any],
                 progress: Progress | None, *, checkpoint: Mapping[str, Any], write: bool = True) -> dict[str, Any]:
    """End of an epoch: update the early-stopping state, write `last.pt` (and `best.pt` when the validation
    loss improved) with that state, the RNG and the metrics, and append the metrics line. Returns the state."""
    improved = val_loss < state["best_val"]
    new_state = {"epoch": state["epoch"] + 1, "best_val": min(val_loss, state["best_val"]),
                 "best_epoch": state["epoch"] + 1 if improved else state["best_epoch"],
                 "bad_epochs": 0 if improved else state["bad_epochs"] + 1}
    if write:
        ckpt = {"version": CHECKPOINT_VERSION, **checkpoint, "torch_rng": torch.get_rng_state(), "state": new_state,
                "metrics": dict(metrics)}
        atomic_save(ckpt, out / "last.pt")
        if improved:
            atomic_save(ckpt, out / "best.pt")
        with (out / "metrics.jsonl").open("a") as fh:
            fh.write(json.dumps(dict(metrics)) + "\n")
    if progress:
        progress({"event": "epoch", **metrics, "best_epoch": new_state["best_epoch"]})
    return new_state


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A pre-training checkpoint (tensors and plain data only: loaded with weights_only=True)."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError("checkpoint not found", path=p)
    ckpt = torch.load(p, map_location="cpu", weights_only=True)
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ConfigError(f"{p}: checkpoint version {ckpt.get('version')!r}, expected {CHECKPOINT_VERSION}",
                          field="version")
    return ckpt


def pretrain(corpus: Corpus, arch: Any, config: PretrainConfig, out: str | Path, *, resume: bool = False,
             dist_info: DistInfo = DistInfo(), progress: Progress | None = None,
             stop_after_epoch: int | None = None) -> dict[str, Any]:
    """Train on `corpus` and write `last.pt`, `best.pt`, `metrics.jsonl` and `config.json` into `out`.

    Returns the final summary (best epoch, best validation loss, last retrieval metrics).
    `stop_after_epoch` ends the run early as if interrupted (used to test resuming).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if config.threads and config.threads != torch.get_num_threads():  # resetting it stalls torch for a while
        torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)  # the same seed gives the same weights on CPU
    torch.manual_seed(config.seed + dist_info.rank)  # dropout masks; restored from the checkpoint on resume
    val = split_subjects(corpus, config.val_fraction, config.seed)
    train_idx = np.flatnonzero(~val)
    stats = normaliser_stats(corpus, ~val)
    data = _prepare(corpus, stats)
    model_config = model_config_for(corpus, arch)
    model = MujoModel(model_config, seed=config.seed)
    loss_fn = PairwiseInfoNCE(config.loss)
    params = list(model.parameters()) + list(loss_fn.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    local_batch = max(1, config.batch_size // dist_info.world_size)
    global_batch = local_batch * dist_info.world_size
    if len(train_idx) < global_batch:  # every step needs a full global batch (equal slices on every rank)
        raise ConfigError(f"{len(train_idx)} training windows are fewer than one batch of {global_batch}; "
                          f"lower batch_size or add data", field="batch_size")
    steps_per_epoch = len(train_idx) // global_batch
    state = {"epoch": 0, "best_val": math.inf, "best_epoch": -1, "bad_epochs": 0}
    metrics_path = out / "metrics.jsonl"
    if resume:
        ckpt = load_checkpoint(out / "last.pt")
        model.load_state_dict(ckpt["model"])
        loss_fn.load_state_dict(ckpt["loss"])
        optimizer.load_state_dict(ckpt["optimizer"])
        torch.set_rng_state(ckpt["torch_rng"])
        state = dict(ckpt["state"])
        _truncate_metrics(metrics_path, state["epoch"])
    elif dist_info.is_main:
        metrics_path.write_text("")
    if dist_info.is_main:
        (out / "config.json").write_text(json.dumps(
            {"model": model_config.to_dict(), "train": config.to_dict(), "normaliser": stats,
             "corpus": {"windows": len(corpus), "counts": corpus.counts(), "val_windows": int(val.sum()),
                        "meta": dict(corpus.meta)}}, indent=2, default=str) + "\n")
    summary: dict[str, Any] = {}
    for epoch in range(state["epoch"], config.epochs):
        t0 = time.perf_counter()
        model.train()
        order = epoch_order(train_idx, corpus.source, config.balance, config.seed, epoch)
        losses = []
        for step in range(steps_per_epoch):
            lr = lr_at(epoch * steps_per_epoch + step, steps_per_epoch, config)
            for g in optimizer.param_groups:
                g["lr"] = lr
            batch = order[step * global_batch:(step + 1) * global_batch]
            local = torch.from_numpy(batch[dist_info.rank * local_batch:(dist_info.rank + 1) * local_batch])
            emb, masks = embed_batch(model, data, local)
            emb = {n: gather_with_grad(e) for n, e in emb.items()}
            masks = {n: gather_plain(m) for n, m in masks.items()}
            loss, _ = loss_fn(emb, masks, gather_plain(data.group[local]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if dist_info.enabled:
                _average_grads(params, dist_info)
            optimizer.step()
            losses.append(float(loss.detach()))
            if progress and dist_info.is_main:
                progress({"event": "step", "epoch": epoch, "step": step + 1, "steps": steps_per_epoch,
                          "loss": losses[-1], "lr": lr})
        val_loss, pairs = _validate(model, loss_fn, data, val, config.batch_size)
        metrics = {"epoch": epoch + 1, "train_loss": all_reduce_mean(float(np.mean(losses))), "val_loss": val_loss,
                   "lr": lr, "seconds": round(time.perf_counter() - t0, 2),
                   **{f"val_pair/{k}": v for k, v in pairs.items()},
                   **retrieval(model, corpus, data, val, config.anchor)}
        state = record_epoch(out, state, val_loss, metrics, progress if dist_info.is_main else None,
                             checkpoint={"model": model.state_dict(), "loss": loss_fn.state_dict(),
                                         "optimizer": optimizer.state_dict(), "model_config": model_config.to_dict(),
                                         "train_config": config.to_dict(), "normaliser": stats,
                                         "corpus": corpus_provenance(corpus)},
                             write=dist_info.is_main)
        summary = {"epochs_run": epoch + 1, "best_epoch": state["best_epoch"], "best_val_loss": state["best_val"],
                   "last": metrics}
        if state["bad_epochs"] >= config.patience:
            log.info("early stopping after %d epochs without improvement", config.patience)
            summary["early_stopped"] = True
            break
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    return summary


def _average_grads(params: list[torch.nn.Parameter], dist_info: DistInfo) -> None:
    """Average gradients over ranks (what DDP does), including parameters a rank did not use this step.

    DDP itself is not used: a step embeds only the modalities present in the batch, so which parameters
    take part varies per step and per rank, and every rank must still join every all-reduce."""
    import torch.distributed as dist

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad)
        p.grad /= dist_info.world_size


@torch.no_grad()
def _validate(model: MujoModel, loss_fn: PairwiseInfoNCE, data: _Prepared, val: np.ndarray,
              batch_size: int) -> tuple[float, dict[str, float]]:
    model.eval()
    idx = np.flatnonzero(val)
    totals, pair_sums, n = 0.0, {}, 0
    for s in range(0, len(idx), batch_size):
        batch = torch.from_numpy(idx[s:s + batch_size])
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


def _truncate_metrics(path: Path, epochs: int) -> None:
    """Keep the first `epochs` lines: lines written after the checkpoint being resumed are replaced."""
    if path.is_file():
        lines = path.read_text().splitlines()[:epochs]
        path.write_text("".join(line + "\n" for line in lines))
