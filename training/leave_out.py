"""The leave-target-out rule, in one place: an evaluation on a dataset never uses pre-training that saw it.

`pretrain` (a reused corpus), `finetune` and every `experiment` call these.
"""

from __future__ import annotations

from collections.abc import Iterable

from mujo_edge.errors import ConfigError
from mujo_edge.training.checkpoints import PretrainCheckpoint


def check_sources_left_out(sources: Iterable[str], exclude: Iterable[str], where: str, field: str) -> None:
    """Refuse pre-training data (`sources`, from `where`) that holds a dataset in `exclude`."""
    present = sorted(set(sources) & set(exclude))
    if present:
        raise ConfigError(f"the corpus in {where} contains {present}, which --exclude leaves out", field=field)


def check_leave_target_out(name: str, checkpoint: PretrainCheckpoint, target: str) -> None:
    """Refuse a pre-training checkpoint whose corpus holds windows of `target` (or does not say what it holds)."""
    corpus = checkpoint.corpus
    if corpus is None:
        raise ConfigError(
            f"checkpoint of '{name}' does not record its corpus sources; cannot prove that '{target}' was left out",
            field="checkpoint",
        )
    if target in corpus.sources:
        raise ConfigError(
            f"pre-training of '{name}' saw '{target}' (sources {list(corpus.sources)}, excluded "
            f"{list(corpus.exclude)}): pre-train with --exclude {target}",
            field="checkpoint",
        )
