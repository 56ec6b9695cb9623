"""Pre-training recipes: which corpus to build and how to train, as named TOML presets.

`training/presets/pretrain/NAME.toml` holds `model` (an architecture preset), `[corpus]` (CorpusRecipe) and
`[train]` (PretrainConfig, with `[train.loss]`). A target dataset is left out of the corpus with
`excluding(...)`, so a later evaluation on it never sees pre-training data from it (leave-target-out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from mujo_edge.errors import ConfigError, LayoutError
from mujo_edge.training.preset_files import read_preset
from mujo_edge.training.pretrain import PretrainConfig


@dataclass(frozen=True)
class CorpusRecipe:
    """modalities: sensor/pose modalities kept (text is always used when descriptions exist); real: dataset
    loaders read from the data folder; synthetic_*: procedurally animated motions per motion family and their
    length (0 = none); exclude: datasets left out (the evaluation target)."""

    modalities: tuple[str, ...]
    real: tuple[str, ...] = ()
    synthetic_per_motion: int = 0
    synthetic_duration_s: float = 20.0
    seed: int = 0
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "modalities", tuple(self.modalities))
        object.__setattr__(self, "real", tuple(self.real))
        object.__setattr__(self, "exclude", tuple(self.exclude))
        if not self.modalities:
            raise ConfigError("at least one modality is needed", field="corpus.modalities")
        if self.synthetic_per_motion < 0 or self.synthetic_duration_s < 2.5:
            raise ConfigError(
                "synthetic_per_motion must be >= 0 and synthetic_duration_s >= 2.5 (one window plus "
                "the smoothing margin)",
                field="corpus.synthetic_duration_s",
            )

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(d for d in self.real if d not in self.exclude)


@dataclass(frozen=True)
class PretrainRecipe:
    name: str
    description: str
    model: str
    corpus: CorpusRecipe
    train: PretrainConfig

    def excluding(self, datasets: Iterable[str]) -> PretrainRecipe:
        """The same recipe with `datasets` left out of the corpus."""
        datasets = tuple(dict.fromkeys([*self.corpus.exclude, *datasets]))
        return replace(self, corpus=replace(self.corpus, exclude=datasets))

    def with_train(self, **changes: Any) -> PretrainRecipe:
        return replace(self, train=replace(self.train, **changes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "model": self.model,
            "corpus": asdict(self.corpus),
            "train": self.train.to_dict(),
        }


def load_pretrain_preset(name_or_path: str | Path) -> PretrainRecipe:
    data, where = read_preset("pretrain", name_or_path)
    try:
        unknown = set(data) - {"description", "model", "corpus", "train"}
        if unknown:
            raise ConfigError(f"unknown keys {sorted(unknown)}", field="preset")
        corpus = data.get("corpus")
        if not isinstance(corpus, Mapping):
            raise ConfigError("missing [corpus] table", field="corpus")
        return PretrainRecipe(
            name=Path(str(name_or_path)).stem,
            description=str(data.get("description", "")).strip(),
            model=str(data.get("model", "wrist")),
            corpus=CorpusRecipe(**corpus),
            train=PretrainConfig.from_dict(data.get("train", {})),
        )
    except (ConfigError, TypeError) as e:
        raise LayoutError(f"not a valid pre-training preset: {e}", path=where) from e
