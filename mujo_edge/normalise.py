"""Z-score normalisation whose statistics travel with the model.

Statistics are fitted once on training windows, saved as JSON next to the model and re-applied as they
are: they are never recomputed at inference, so a device sees exactly the scaling the model was trained on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge.errors import ConfigError, DataError, LayoutError
from mujo_edge.windows import Windows

log = logging.getLogger(__name__)

# A channel this flat carries no information; dividing by its tiny std would only blow up noise.
MIN_STD = 1e-6


@dataclass(frozen=True)
class Normaliser:
    """Per-channel mean and standard deviation (SI units), in the order of `channels`."""

    channels: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if not (len(self.channels) == len(self.mean) == len(self.std)):
            raise ConfigError("channels, mean and std must have the same length", field="normaliser")
        if not all(np.isfinite(self.mean)) or not all(np.isfinite(self.std)) or min(self.std, default=1) <= 0:
            raise ConfigError("mean must be finite and std finite and > 0", field="normaliser")

    @classmethod
    def fit(cls, windows: Windows) -> Normaliser:
        """Statistics over every sample of every window (the windows overlap; that weighting is intended)."""
        if len(windows) == 0:
            raise ConfigError("cannot fit a normaliser on zero windows", field="windows")
        x = windows.x.astype(np.float64)
        mean = x.mean(axis=(0, 2))
        std = x.std(axis=(0, 2))
        flat = std < MIN_STD
        if flat.any():
            log.warning("constant channels %s: std set to 1", [windows.channels[i] for i in np.flatnonzero(flat)])
            std = np.where(flat, 1.0, std)
        return cls(windows.channels, tuple(float(v) for v in mean), tuple(float(v) for v in std))

    def apply(self, x: np.ndarray, channels: tuple[str, ...] | None = None) -> np.ndarray:
        """Normalise float32 [..., C, L] windows; `channels`, when given, must match the fitted order."""
        if channels is not None and tuple(channels) != self.channels:
            raise ConfigError(f"channels {tuple(channels)} do not match the normaliser's {self.channels}",
                              field="channels")
        if x.shape[-2] != len(self.channels):
            raise ConfigError(f"input has {x.shape[-2]} channels, normaliser has {len(self.channels)}",
                              field="channels")
        mean = np.asarray(self.mean, dtype=np.float32)[:, None]
        std = np.asarray(self.std, dtype=np.float32)[:, None]
        return ((x - mean) / std).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "zscore", "channels": list(self.channels), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "normaliser") -> Normaliser:
        try:
            if data.get("kind") != "zscore":
                raise LayoutError(f"unknown normaliser kind {data.get('kind')!r}", path=source, field="kind")
            return cls(tuple(str(c) for c in data["channels"]), tuple(float(v) for v in data["mean"]),
                       tuple(float(v) for v in data["std"]))
        except KeyError as e:
            raise LayoutError("missing key", path=source, field=str(e.args[0])) from None
        except (TypeError, ValueError, ConfigError) as e:
            raise LayoutError(f"invalid normaliser: {e}", path=source) from None

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Normaliser:
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except FileNotFoundError:
            raise DataError("normaliser file not found", path=p) from None
        except json.JSONDecodeError as e:
            raise LayoutError(f"not valid JSON: {e.msg}", path=p, line=e.lineno) from None
        if not isinstance(data, dict):
            raise LayoutError("expected a JSON object", path=p)
        return cls.from_dict(data, str(p))
