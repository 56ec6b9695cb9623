"""Frozen configuration shared by training, export calibration and the live runtime."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mujo_edge.errors import ConfigError

INTERPOLATIONS = ("linear", "pchip")


@dataclass(frozen=True)
class WindowConfig:
    """How a stream becomes model input.

    rate_hz: the grid every stream is resampled to. length/step: window and hop in samples
    (the paper: 100 and 50 at 50 Hz, i.e. 2 s windows with 1 s overlap). max_gap_s: a stretch between
    two source samples longer than this is a gap; nothing is interpolated across it and windows touching
    it are dropped. min_purity: share of a window's samples that must carry its majority label, else the
    window is dropped as mixed. interpolation: "linear" (the paper's choice, and exactly reproducible
    sample by sample in the live runtime) or "pchip" (shape-preserving, for slow sources such as 10 Hz).
    """

    rate_hz: float = 50.0
    length: int = 100
    step: int = 50
    max_gap_s: float = 0.25
    min_purity: float = 0.6
    interpolation: str = "linear"

    def __post_init__(self) -> None:
        if not self.rate_hz > 0:
            raise ConfigError(f"must be > 0, got {self.rate_hz}", field="rate_hz")
        if self.length < 2:
            raise ConfigError(f"must be >= 2 samples, got {self.length}", field="length")
        if not self.step >= 1:
            raise ConfigError(f"must be >= 1 sample, got {self.step}", field="step")
        if not self.max_gap_s > 1.0 / self.rate_hz:
            raise ConfigError(
                f"must exceed one sample period ({1.0 / self.rate_hz:.4f} s), got {self.max_gap_s}", field="max_gap_s"
            )
        if not 0.0 < self.min_purity <= 1.0:
            raise ConfigError(f"must be in (0, 1], got {self.min_purity}", field="min_purity")
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"must be one of {INTERPOLATIONS}, got {self.interpolation!r}", field="interpolation")

    @property
    def window_s(self) -> float:
        return self.length / self.rate_hz

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowConfig:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown keys {sorted(unknown)}", field="window")
        return cls(**data)
