"""Self-supervised baselines of the paper (section 5.2 "Proxy task comparisons") on MuJo's own encoder.

Auto-encoder [Haresamudram et al., 2019], SimCLR [Tang et al., 2021] and Multi-task transformation prediction
[Saeed et al., 2019] train a `MujoModel` with ONE sensor branch (the anchor, e.g. `wrist_acc` [B, 3, 100]) on the
same corpus windows, split, normalisation and schedule as MuJo, but see only that stream: no other modality, no
text. Their checkpoints have the pre-training layout (plus the method's `head`), so fine-tuning loads them as it
loads a MuJo checkpoint. Heads, from the paper, with our readings where it is silent or loose:

- Auto-encoder: projection [B, 1280] -> Linear -> [B, 32, S, T/4] (S = rows / 3 sensors; T/4 = 25) -> BatchNorm,
  ReLU -> three blocks ConvTranspose2d (kernel (1, 11), stride 1, padding (0, 5): length kept), channels
  32 -> 16 -> 8 -> 3 axes. 25 -> 100 by upsampling x2 (nearest) after blocks 1 and 2; block 3 runs at full length
  and is linear (no dropout, ReLU or upsampling): a ReLU output could not reproduce the negative half of a z-scored
  signal, and a third x2 would overshoot to 200. Output [B, 3, S, T] -> rows sensor-major [B, rows, T]; MSE
  against the normalised input window.
- SimCLR: two views per window, each rotated by its own random 3-D rotation (axis uniform on the sphere, angle
  uniform in (-pi, pi), Rodrigues) applied to every x/y/z triplet of the PHYSICAL signal before z-scoring (a watch
  worn at another angle); head on the projection: 1280 -> 256 -> ReLU -> 128 -> ReLU -> 128; NT-Xent on
  L2-normalised outputs, temperature `BaselineConfig.temperature`.
- Multi-task: six binary tasks on the z-scored window: noise (+ N(0, noise_std)), scale (each axis times
  N(1, scale_std): the paper's "values drawn from this same distribution" read as centred on 1, since multiplying
  by N(0, 0.05) would all but erase the signal), negation, horizontal flip (time reversal), permutation (four
  random-length segments, each >= T/10, in a random non-identity order) and channel shuffle (a non-identity
  permutation of the rows). Per task, each window is transformed with p = 0.5; the six task batches go through
  the shared ENCODER in one pass (6 x B windows: the cost of a step), and each task's head (Linear 256 + ReLU,
  Linear 256 + sigmoid, as printed, then Linear(256, 1): the binary output the printed head lacks) is scored by
  binary cross-entropy on its logit; the loss is the mean over tasks. The projection gets no gradient (the paper's
  heads read the encoder output), so it stays at its seeded initialisation in the checkpoint.
Augmentations draw from the global torch RNG in training (saved as `torch_rng`) and from a fixed-seed generator
in validation, so the validation loss changes only when the weights do.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mujo_edge.errors import ConfigError, UnknownNameError
from mujo_edge.training.corpus import Corpus
from mujo_edge.training.loop import ScheduleConfig
from mujo_edge.training.models import ArchConfig, ModalityConfig, ModelConfig, MujoModel

if TYPE_CHECKING:
    from mujo_edge.training.loop import Progress, RunSummary

log = logging.getLogger(__name__)

METHODS = ("autoencoder", "simclr", "multitask")
TASKS = ("noise", "scale", "negate", "flip", "permute", "channel_shuffle")
Generator = torch.Generator | None


@dataclass(frozen=True)
class BaselineConfig(ScheduleConfig):
    """Training of one baseline: MuJo's schedule (`ScheduleConfig`; use the same `balance` so both see the same
    windows per epoch) plus the method and its own settings."""

    method: str = "autoencoder"
    temperature: float = 0.1  # SimCLR NT-Xent
    noise_std: float = 0.05  # Multi-task "noise"
    scale_std: float = 0.05  # Multi-task "scale": factors ~ N(1, scale_std)
    anchor: str = "wrist_acc"  # the one sensor stream the method sees (last, as checkpoints always listed it)

    @classmethod
    def from_schedule(cls, schedule: ScheduleConfig, method: str, anchor: str) -> BaselineConfig:
        """`method` on the same schedule as another run (e.g. a MuJo recipe): the schedule's own fields only, so
        settings of the other objective (its loss, an auxiliary objective) never leak into the baseline."""
        fields = {f.name: getattr(schedule, f.name) for f in dataclasses.fields(ScheduleConfig)}
        return cls(**fields, method=method, anchor=anchor)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.method not in METHODS:
            raise ConfigError(f"must be one of {METHODS}, got {self.method!r}", field="method")
        if self.method == "simclr" and self.batch_size < 2:
            raise ConfigError("SimCLR needs at least 2 windows per batch (negatives)", field="batch_size")
        for name in ("temperature", "noise_std", "scale_std"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"must be > 0, got {getattr(self, name)}", field=name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineConfig:
        """From `to_dict` output or a checkpoint's `train_config`."""
        data = dict(data)
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown keys {sorted(unknown)}", field="baseline")
        return cls(**data)


# ---------------------------------------------------------------------------------------------- augmentations


def random_rotations(n: int, generator: Generator = None) -> Tensor:
    """[n, 3, 3] rotation matrices: axis uniform on the sphere, angle uniform in (-pi, pi) (Rodrigues)."""
    axis = F.normalize(torch.randn(n, 3, generator=generator), dim=1)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.pi
    k = torch.zeros(n, 3, 3)
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(1, 2)
    s, c = angle.sin()[:, None, None], angle.cos()[:, None, None]
    return torch.eye(3).expand(n, 3, 3) + s * k + (1 - c) * (k @ k)


def rotate(x: Tensor, rotations: Tensor) -> Tensor:
    """x [B, rows, T] (rows = x/y/z of each sensor, sensor-major), rotations [B, 3, 3]: every triplet of a
    window turned by the window's rotation (the sensors of one device share its orientation)."""
    b, rows, t = x.shape
    return (rotations[:, None] @ x.reshape(b, rows // 3, 3, t)).reshape(b, rows, t)


def add_noise(x: Tensor, std: float, generator: Generator = None) -> Tensor:
    return x + std * torch.randn(x.shape, generator=generator)


def scale(x: Tensor, std: float, generator: Generator = None) -> Tensor:
    """Each row of each window times its own factor ~ N(1, std)."""
    return x * (1 + std * torch.randn(x.shape[0], x.shape[1], 1, generator=generator))


def negate(x: Tensor) -> Tensor:
    return -x


def flip(x: Tensor) -> Tensor:
    """Horizontal flip: time reversed."""
    return x.flip(-1)


def _non_identity_orders(n: int, size: int, generator: Generator) -> Tensor:
    """[n, size] random permutations, none of them the identity (so 'transformed' is always true)."""
    if size < 2:
        raise ConfigError(f"cannot reorder {size} item(s)", field="rows")
    order = torch.rand(n, size, generator=generator).argsort(dim=1)
    same = (order == torch.arange(size)).all(dim=1)
    while bool(same.any()):
        order[same] = torch.rand(int(same.sum()), size, generator=generator).argsort(dim=1)
        same = (order == torch.arange(size)).all(dim=1)
    return order


def permute_segments(x: Tensor, segments: int = 4, generator: Generator = None) -> Tensor:
    """Split each window's time axis into `segments` random-length parts (each >= T/10) and reorder them."""
    b, _, t = x.shape
    min_len = max(1, t // 10)
    extra = t - segments * min_len
    if extra < 0:
        raise ConfigError(f"window of {t} steps is too short for {segments} segments", field="window")
    cuts = torch.randint(0, extra + 1, (b, segments - 1), generator=generator).sort(dim=1).values
    cuts = cuts + min_len * torch.arange(1, segments)  # start of segments 1.., every part >= min_len long
    segment = torch.searchsorted(cuts, torch.arange(t).expand(b, t).contiguous(), right=True)  # [B, T]
    rank = _non_identity_orders(b, segments, generator).argsort(dim=1)  # new position of each old segment
    source = (rank.gather(1, segment) * t + torch.arange(t)).argsort(dim=1)  # output step <- input step
    return x.gather(2, source[:, None, :].expand_as(x))


def shuffle_channels(x: Tensor, generator: Generator = None) -> Tensor:
    """Rows of each window in a random non-identity order."""
    order = _non_identity_orders(x.shape[0], x.shape[1], generator)
    return x.gather(1, order[:, :, None].expand_as(x))


TRANSFORMS: dict[str, Callable[[Tensor, BaselineConfig, Generator], Tensor]] = {
    "noise": lambda x, c, g: add_noise(x, c.noise_std, g),
    "scale": lambda x, c, g: scale(x, c.scale_std, g),
    "negate": lambda x, c, g: negate(x),
    "flip": lambda x, c, g: flip(x),
    "permute": lambda x, c, g: permute_segments(x, 4, g),
    "channel_shuffle": lambda x, c, g: shuffle_channels(x, g),
}


def nt_xent(z1: Tensor, z2: Tensor, temperature: float) -> Tensor:
    """NT-Xent of two aligned views [B, D]: each of the 2B outputs (L2-normalised) must pick its other view among
    the 2B - 1 others; cross-entropy averaged over the 2B."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    logits = (z @ z.t() / temperature).fill_diagonal_(-math.inf)
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(logits, targets)


# ---------------------------------------------------------------------------------------------- heads

Normalise = Callable[[Tensor], Tensor]


class BaselineHead(nn.Module):
    """A method's extra weights and its loss on a batch of PHYSICAL windows x [B, rows, T]."""

    def __init__(self, anchor: ModalityConfig, arch: ArchConfig, config: BaselineConfig) -> None:
        super().__init__()
        self.anchor, self.config = anchor.name, config

    def loss(
        self, model: MujoModel, x: Tensor, normalise: Normalise, generator: Generator = None
    ) -> tuple[Tensor, dict[str, float]]:
        raise NotImplementedError


class ConvDecoder(nn.Module):
    """[B, proj_dim] -> [B, rows, T] (see the module docstring)."""

    def __init__(self, proj_dim: int, rows: int, window: int, dropout: float = 0.05) -> None:
        super().__init__()
        if window % 4:
            raise ConfigError(
                f"the decoder starts at window / 4 steps: window {window} must divide by 4", field="window"
            )
        self.sensors, self.window = rows // 3, window
        self.linear = nn.Linear(proj_dim, 32 * self.sensors * window // 4)
        self.norm = nn.Sequential(nn.BatchNorm2d(32), nn.ReLU())

        def conv(c_in: int, c_out: int) -> nn.ConvTranspose2d:
            return nn.ConvTranspose2d(c_in, c_out, (1, 11), padding=(0, 5))

        def up() -> nn.Upsample:
            return nn.Upsample(scale_factor=(1, 2), mode="nearest")

        self.blocks = nn.Sequential(
            conv(32, 16),
            nn.Dropout(dropout),
            nn.ReLU(),
            up(),
            conv(16, 8),
            nn.Dropout(dropout),
            nn.ReLU(),
            up(),
            conv(8, 3),
        )

    def forward(self, z: Tensor) -> Tensor:
        h = self.norm(self.linear(z).reshape(-1, 32, self.sensors, self.window // 4))
        out = self.blocks(h)  # [B, 3 axes, sensors, T]
        return out.transpose(1, 2).reshape(-1, 3 * self.sensors, self.window)


class AutoencoderHead(BaselineHead):
    def __init__(self, anchor: ModalityConfig, arch: ArchConfig, config: BaselineConfig) -> None:
        super().__init__(anchor, arch, config)
        self.decoder = ConvDecoder(arch.proj_dim, anchor.input_dim, arch.window)

    def loss(
        self, model: MujoModel, x: Tensor, normalise: Normalise, generator: Generator = None
    ) -> tuple[Tensor, dict[str, float]]:
        xn = normalise(x)
        return F.mse_loss(self.decoder(model.embed(self.anchor, xn)), xn), {}


class SimCLRHead(BaselineHead):
    def __init__(self, anchor: ModalityConfig, arch: ArchConfig, config: BaselineConfig) -> None:
        super().__init__(anchor, arch, config)
        self.mlp = nn.Sequential(
            nn.Linear(arch.proj_dim, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 128)
        )

    def views(self, x: Tensor, normalise: Normalise, generator: Generator = None) -> tuple[Tensor, Tensor]:
        """Two independently rotated, normalised views of each physical window."""
        b = x.shape[0]
        return (
            normalise(rotate(x, random_rotations(b, generator))),
            normalise(rotate(x, random_rotations(b, generator))),
        )

    def loss(
        self, model: MujoModel, x: Tensor, normalise: Normalise, generator: Generator = None
    ) -> tuple[Tensor, dict[str, float]]:
        v1, v2 = self.views(x, normalise, generator)
        z = self.mlp(model.embed(self.anchor, torch.cat([v1, v2])))
        z1, z2 = z.split(x.shape[0])
        with torch.no_grad():
            top1 = float(
                (F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).t()).argmax(1).eq(torch.arange(len(z1))).float().mean()
            )
        return nt_xent(z1, z2, self.config.temperature), {"view_top1": top1}


class MultitaskHead(BaselineHead):
    def __init__(self, anchor: ModalityConfig, arch: ArchConfig, config: BaselineConfig) -> None:
        super().__init__(anchor, arch, config)
        self.heads = nn.ModuleDict(
            {
                task: nn.Sequential(
                    nn.Linear(arch.sensor_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.Sigmoid(), nn.Linear(256, 1)
                )
                for task in TASKS
            }
        )

    def task_batch(self, xn: Tensor, task: str, generator: Generator = None) -> tuple[Tensor, Tensor]:
        """Each normalised window transformed by `task` with p = 0.5; returns (inputs, flags as 0/1 floats)."""
        flags = torch.rand(xn.shape[0], generator=generator) < 0.5
        out = xn.clone()
        if bool(flags.any()):
            out[flags] = TRANSFORMS[task](xn[flags], self.config, generator)
        return out, flags.float()

    def loss(
        self, model: MujoModel, x: Tensor, normalise: Normalise, generator: Generator = None
    ) -> tuple[Tensor, dict[str, float]]:
        xn = normalise(x)
        batches = [self.task_batch(xn, task, generator) for task in TASKS]
        features = model.encode_features(self.anchor, torch.cat([b[0] for b in batches])).split(len(x))
        losses, extras = [], {}
        for task, feats, (_, flags) in zip(TASKS, features, batches):
            logit = self.heads[task](feats).squeeze(1)
            losses.append(F.binary_cross_entropy_with_logits(logit, flags))
            extras[f"acc/{task}"] = float(((logit > 0).float() == flags).float().mean())
        return torch.stack(losses).mean(), extras


HEADS: dict[str, type[BaselineHead]] = {
    "autoencoder": AutoencoderHead,
    "simclr": SimCLRHead,
    "multitask": MultitaskHead,
}


def baseline_model_config(arch: ArchConfig, anchor: str, rows: int = 3) -> ModelConfig:
    """The MuJo model of a baseline: one sensor branch, the anchor."""
    return ModelConfig(arch=arch, modalities=(ModalityConfig(anchor, "sensor", rows),))


def build_head(config: BaselineConfig, model_config: ModelConfig) -> BaselineHead:
    """The head of `config.method` for the (single) sensor branch of `model_config`; `ckpt["head"]` loads into it."""
    if config.method not in HEADS:
        raise UnknownNameError("baseline method", config.method, list(HEADS))
    return HEADS[config.method](model_config.modalities[0], model_config.arch, config)


# ---------------------------------------------------------------------------------------------- training


def pretrain_baseline(
    corpus: Corpus,
    arch: ArchConfig,
    config: BaselineConfig,
    out: str | Path,
    *,
    resume: bool = False,
    progress: Progress | None = None,
) -> RunSummary:
    """Train `config.method` on the `config.anchor` windows of `corpus` by the one loop (`training.loop.train`);
    writes `last.pt`, `best.pt` (pre-training layout plus `head`), `metrics.jsonl` and `config.json` into `out`."""
    from mujo_edge.training.loop import train
    from mujo_edge.training.objectives import OBJECTIVES

    return train(corpus, arch, config, out, OBJECTIVES.get(config.method), resume=resume, progress=progress)
