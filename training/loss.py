"""Pairwise symmetric InfoNCE over every pair of modalities (MuJo, paper Eq. 1-3; after open_clip's loss.py).

For modalities a and b with embeddings e_a, e_b [B, D]:
    sim_ij = cos(e_a^i, e_b^j) / tau
    L(a, b) = CE(sim, targets) + CE(sim^T, targets^T)
and the total is the mean of L over the pairs present (paper Eq. 3 averages over all C(M, 2) pairs).

Choices where the paper is silent, recorded in `LossConfig`:
- a window may lack a modality (`masks`); a pair uses only the windows that have both, and is skipped when
  fewer than two such windows exist (no negatives);
- the cross-entropy is averaged over windows (Eq. 2 sums), so the loss scale does not depend on batch size;
- `groups` (optional, [B] int): windows of one group are positives of each other in pairs involving a
  modality listed in `LossConfig.grouped`, e.g. text, where windows of one label carry different phrasings
  of its description. Without this, one label's phrasings would be pushed apart as negatives. Targets are then
  uniform over the group (soft cross-entropy). With every window in its own group, or when a group's texts
  are identical vectors, this equals CLIP's loss exactly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mujo_edge.errors import ConfigError


@dataclass(frozen=True)
class LossConfig:
    """tau: the temperature (paper's best: 1.0); learnable: train log(1/tau) as CLIP does, clamped at
    `max_scale`; grouped: modalities whose same-group windows are positives (see module docstring)."""

    tau: float = 1.0
    learnable: bool = False
    max_scale: float = 100.0
    grouped: tuple[str, ...] = ("text",)

    def __post_init__(self) -> None:
        if not self.tau > 0:
            raise ConfigError(f"must be > 0, got {self.tau}", field="tau")
        if not self.max_scale >= 1.0 / self.tau:
            raise ConfigError(f"max_scale {self.max_scale} is below 1/tau", field="max_scale")


def _soft_targets(groups: Tensor | None, n: int, device: torch.device) -> Tensor:
    if groups is None:
        return torch.eye(n, device=device)
    same = (groups[:, None] == groups[None, :]).float()
    return same / same.sum(dim=1, keepdim=True)


def pair_loss(za: Tensor, zb: Tensor, scale: Tensor | float, groups: Tensor | None = None) -> Tensor:
    """Symmetric InfoNCE of two aligned batches of L2-normalised embeddings [B, D]."""
    logits = scale * za @ zb.t()
    targets = _soft_targets(groups, za.shape[0], za.device)
    a_to_b = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    b_to_a = -(targets.t() * F.log_softmax(logits.t(), dim=1)).sum(dim=1).mean()
    return a_to_b + b_to_a


class PairwiseInfoNCE(nn.Module):
    """The MuJo loss; holds the (optionally learnable) temperature."""

    fixed_log_scale: Tensor  # a buffer: moves with .to(device), not saved

    def __init__(self, config: LossConfig = LossConfig()) -> None:
        super().__init__()
        self.config = config
        log_scale = torch.tensor(math.log(1.0 / config.tau))
        self.log_scale = nn.Parameter(log_scale) if config.learnable else None
        self.register_buffer("fixed_log_scale", log_scale, persistent=False)

    @property
    def scale(self) -> Tensor:
        log_scale = self.log_scale if self.log_scale is not None else self.fixed_log_scale
        return log_scale.exp().clamp(max=self.config.max_scale)

    def forward(
        self, embeddings: Mapping[str, Tensor], masks: Mapping[str, Tensor] | None = None, groups: Tensor | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Total loss and the loss of every pair ("a|b") that had at least two shared windows.

        embeddings: name -> [B, D] (not necessarily normalised); masks: name -> bool [B] (missing = all present);
        groups: int [B] or None.
        """
        names = sorted(embeddings)
        z = {n: F.normalize(embeddings[n], dim=-1) for n in names}
        scale = self.scale
        pairs: dict[str, Tensor] = {}
        for a, b in itertools.combinations(names, 2):
            both = torch.ones(z[a].shape[0], dtype=torch.bool, device=z[a].device)
            for n in (a, b):
                if masks is not None and n in masks:
                    both = both & masks[n]
            if int(both.sum()) < 2:
                continue
            g = groups[both] if groups is not None and (a in self.config.grouped or b in self.config.grouped) else None
            pairs[f"{a}|{b}"] = pair_loss(z[a][both], z[b][both], scale, g)
        if not pairs:
            zero = torch.stack([e.sum() for e in embeddings.values()]).sum() * 0.0  # keeps the graph for DDP
            return zero, pairs
        return torch.stack(list(pairs.values())).mean(), pairs
