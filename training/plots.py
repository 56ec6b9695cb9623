"""Figures from training metrics (matplotlib, headless)."""

from __future__ import annotations

import json
from pathlib import Path


def plot_pretrain_curves(metrics_jsonl: Path, png: Path) -> Path:
    """Train/validation loss and retrieval top-1 (with chance levels) per epoch, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics_jsonl.read_text().splitlines() if line.strip()]
    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_ret) = plt.subplots(1, 2, figsize=(11, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in rows], label="validation (held-out subjects)")
    ax_loss.set(xlabel="epoch", ylabel="pairwise InfoNCE", title="MuJo pre-training loss")
    ax_loss.legend()
    keys = {k for r in rows for k in r if k.endswith("/top1") or ("@" in k and k.endswith("/balanced_top1"))}
    keys = {
        k.replace("/top1", "/balanced_top1") if k.replace("/top1", "/balanced_top1") in rows[-1] else k for k in keys
    }
    for key in sorted(keys):
        (line,) = ax_ret.plot(
            epochs,
            [r.get(key, float("nan")) for r in rows],
            label=key.replace("/balanced_top1", " balanced top-1").replace("/top1", " top-1"),
        )
        chance = rows[-1].get(key.rsplit("/", 1)[0] + "/chance")
        if chance is not None:
            ax_ret.axhline(chance, color=line.get_color(), linestyle=":", linewidth=1)
    ax_ret.set(xlabel="epoch", ylabel="accuracy", title="retrieval on held-out subjects (dotted: chance)", ylim=(0, 1))
    ax_ret.legend(fontsize=8)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png
