"""The fine-tuned classifier as a module, and its rebuilding from a `ClassifierCheckpoint`.

Here (not in `finetune`) so that export rebuilds a trained classifier without importing the fine-tuning code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from mujo_edge.training.checkpoints import ClassifierCheckpoint
from mujo_edge.training.models import MujoModel


class Classifier(nn.Module):
    """Input: z-scored windows [B, C, L] in `channels` order; each stream's rows go through its branch."""

    def __init__(
        self,
        model: MujoModel,
        streams: Mapping[str, Sequence[int]],
        branch_of: Mapping[str, str],
        n_classes: int,
        hidden: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.model = model
        self.streams = {s: list(rows) for s, rows in streams.items()}
        self.branch_of = dict(branch_of)
        for s, rows in self.streams.items():
            self.register_buffer(f"rows_{s}", torch.tensor(rows, dtype=torch.long), persistent=False)
        width = model.embed_dim * len(self.streams)
        self.head = nn.Sequential(
            nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, n_classes)
        )

    def features(self, x: Tensor) -> Tensor:
        parts = [
            self.model.embed(self.branch_of[s], x.index_select(1, getattr(self, f"rows_{s}"))) for s in self.streams
        ]
        return torch.cat(parts, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def load_classifier(ckpt: ClassifierCheckpoint) -> Classifier:
    """The classifier of a checkpoint, in eval mode."""
    model = MujoModel(ckpt.model_config)
    clf = Classifier(model, ckpt.streams, ckpt.branch_of, len(ckpt.classes), ckpt.head.hidden, ckpt.head.dropout)
    clf.load_state_dict(dict(ckpt.state))
    return clf.eval()


@torch.no_grad()
def predict(clf: Classifier, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Logits [W, K] of z-scored windows [W, C, L]."""
    clf.eval()
    out = [clf(torch.from_numpy(x[i : i + batch])) for i in range(0, len(x), batch)]
    n_classes = int(clf.head[-1].out_features)  # type: ignore[arg-type]
    return torch.cat(out).numpy() if out else np.zeros((0, n_classes), np.float32)
