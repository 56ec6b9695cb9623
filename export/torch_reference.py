"""Torch eager fp32 of a classifier checkpoint behind the runtime's `Engine` shape (`run(z) -> logits`), so
benchmarks and parity measure the trained model and the exported ones through one interface."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from mujo_edge.training.checkpoints import read_classifier
from mujo_edge.training.classifier import load_classifier


class TorchReference:
    """The checkpoint's classifier in eval mode; `run` takes z-scored float32 [B, C, L] windows."""

    name = "torch-eager"
    max_batch: int | None = None

    def __init__(self, checkpoint: str | Path, threads: int = 1) -> None:
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)
        self.checkpoint = read_classifier(checkpoint)
        self.model = load_classifier(self.checkpoint)
        # what the weights take as fp32 in memory (the checkpoint file also holds metadata)
        self.size_bytes = sum(p.numel() * 4 for p in self.model.parameters())

    @torch.inference_mode()
    def run(self, x: np.ndarray) -> np.ndarray:
        return self.model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
