"""The `mujo-edge pretrain` job as a library call: recipe, corpus (built, reused or resumed), objective by name.

The CLI parses its options into a `PretrainJob`, calls `job_corpus` (so it can show the corpus) and `run_job`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mujo_edge.data.base import data_home
from mujo_edge.errors import ConfigError
from mujo_edge.training.corpus import Corpus
from mujo_edge.training.distributed import DistInfo
from mujo_edge.training.loop import Progress, RunSummary, ScheduleConfig, train
from mujo_edge.training.objectives import OBJECTIVES
from mujo_edge.training.recipe import PretrainRecipe, load_pretrain_preset

CORPUS_DIR = "corpus"
BuildProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class PretrainJob:
    """One pre-training run. `method` names an objective of `OBJECTIVES` ("mujo" or a baseline); `corpus_from`
    reuses a corpus folder built before; `data_dir` is the folder of datasets (None: the default data home)."""

    out: Path
    preset: str = "wrist-exercise"
    exclude: tuple[str, ...] = ()
    data_dir: Path | None = None
    extra: tuple[Path, ...] = ()
    text_vectors: Path | None = None
    epochs: int | None = None
    seed: int | None = None
    threads: int = 0
    resume: bool = False
    method: str = "mujo"
    corpus_from: Path | None = None

    def recipe(self) -> PretrainRecipe:
        recipe = load_pretrain_preset(self.preset).excluding(self.exclude)
        changes: dict[str, Any] = {}
        if self.epochs is not None:
            changes["epochs"] = self.epochs
        if self.seed is not None:  # a second run of the same recipe: new init and batch order, same corpus
            changes["seed"] = self.seed
        if self.threads:
            changes["threads"] = self.threads
        return recipe.with_train(**changes) if changes else recipe


def job_config(recipe: PretrainRecipe, method: str) -> ScheduleConfig:
    """The config of `method`: the recipe's own for MuJo; for a baseline, the recipe's schedule and anchor."""
    if method not in OBJECTIVES:
        raise ConfigError(f"must be one of {OBJECTIVES.names()}, got {method!r}", field="--method")
    if method == "mujo":
        return recipe.train
    from mujo_edge.training.baselines import BaselineConfig

    return BaselineConfig.from_schedule(recipe.train, method, recipe.train.anchor)


def job_corpus(
    job: PretrainJob, recipe: PretrainRecipe, dist_info: DistInfo, progress: BuildProgress | None = None
) -> Corpus:
    """The run's corpus: the saved one when resuming, a reused folder (checked to leave the targets out), or
    one built from the recipe (saved under `out/corpus` by the main rank)."""
    from mujo_edge.training.leave_out import check_sources_left_out

    job_config(recipe, job.method)  # an unknown --method fails before any corpus work
    if job.resume:
        if not (job.out / "last.pt").is_file():
            raise ConfigError(f"nothing to resume in {job.out} (no last.pt)", field="--resume")
        return Corpus.load(job.out / CORPUS_DIR)
    if job.corpus_from is not None:
        corpus = Corpus.load(job.corpus_from)
        check_sources_left_out(corpus.source.tolist(), recipe.corpus.exclude, str(job.corpus_from), "--corpus")
        return corpus
    if (job.out / "last.pt").is_file():
        raise ConfigError(f"{job.out} already holds a run: pass --resume, or choose another --out", field="--out")
    from mujo_edge.training.corpus_builders import build_corpus
    from mujo_edge.training.text import PrecomputedTextEncoder, TextEncoder

    embedder = PrecomputedTextEncoder.from_file(job.text_vectors) if job.text_vectors else TextEncoder()
    corpus = build_corpus(
        recipe.corpus, data_root=data_home(job.data_dir), embedder=embedder, extra=list(job.extra), progress=progress
    )
    if dist_info.is_main:
        corpus.save(job.out / CORPUS_DIR)
    return corpus


def run_job(
    job: PretrainJob, recipe: PretrainRecipe, corpus: Corpus, dist_info: DistInfo, progress: Progress | None = None
) -> RunSummary:
    """Pre-train `job.method` on `corpus` with the recipe's model and schedule (resuming when asked)."""
    from mujo_edge.training.models import load_model_preset

    arch = load_model_preset(recipe.model).arch
    config = job_config(recipe, job.method)
    return train(
        corpus,
        arch,
        config,
        job.out,
        OBJECTIVES.get(job.method),
        resume=job.resume,
        dist_info=dist_info,
        progress=progress,
    )
