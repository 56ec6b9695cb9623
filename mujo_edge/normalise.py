"""Z-score normalisation whose statistics travel with the model.

Statistics are fitted once on training windows, saved as JSON next to the model and re-applied as they
are: they are never recomputed at inference, so a device sees exactly the scaling the model was trained on.
`Normaliser` scales the channels of one input (a classifier's, a bundle's); `StreamNormaliser` holds one
`Normaliser` per stream of a pre-training corpus (every modality has its own shape and statistics).
Both serialise to the same schema: {"kind": "zscore", "channels", "mean", "std"} per normalised input.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from mujo_edge.channels import AXES
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
        return cls.fit_array(windows.x, windows.channels)

    @classmethod
    def fit_array(cls, x: np.ndarray, channels: tuple[str, ...]) -> Normaliser:
        """Statistics of x [N, C, ...] per channel (axis 1), over every other axis, in float64.

        A channel with std < MIN_STD gets std 1 (the one floor of every z-scoring in mujo-edge)."""
        if x.ndim < 2 or len(x) == 0:
            raise ConfigError(f"cannot fit a normaliser on an array of shape {list(x.shape)}", field="windows")
        if x.shape[1] != len(channels):
            raise ConfigError(f"array has {x.shape[1]} channels, {len(channels)} names given", field="channels")
        axes = tuple(i for i in range(x.ndim) if i != 1)
        mean = x.mean(axis=axes, dtype=np.float64)
        std = x.std(axis=axes, dtype=np.float64)
        flat = std < MIN_STD
        if flat.any():
            log.warning("constant channels %s: std set to 1", [channels[i] for i in np.flatnonzero(flat)])
            std = np.where(flat, 1.0, std)
        return cls(tuple(channels), tuple(float(v) for v in mean), tuple(float(v) for v in std))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) as float32 [C]: the exact values `apply` uses (torch callers build tensors from them)."""
        return np.asarray(self.mean, dtype=np.float32), np.asarray(self.std, dtype=np.float32)

    def apply(self, x: np.ndarray, channels: tuple[str, ...] | None = None, *, axis: int = -2) -> np.ndarray:
        """Normalise float32 windows whose channel axis is `axis` ([..., C, L] by default; a pre-training
        stream [W, C, ...] uses axis=1); `channels`, when given, must match the fitted order."""
        if channels is not None and tuple(channels) != self.channels:
            raise ConfigError(
                f"channels {tuple(channels)} do not match the normaliser's {self.channels}", field="channels"
            )
        if x.shape[axis] != len(self.channels):
            raise ConfigError(
                f"input has {x.shape[axis]} channels, normaliser has {len(self.channels)}", field="channels"
            )
        shape = [1] * x.ndim
        shape[axis] = -1
        mean, std = (a.reshape(shape) for a in self.arrays())
        out: np.ndarray = ((x - mean) / std).astype(np.float32)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "zscore", "channels": list(self.channels), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "normaliser") -> Normaliser:
        try:
            if data.get("kind") != "zscore":
                raise LayoutError(f"unknown normaliser kind {data.get('kind')!r}", path=source, field="kind")
            return cls(
                tuple(str(c) for c in data["channels"]),
                tuple(float(v) for v in data["mean"]),
                tuple(float(v) for v in data["std"]),
            )
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


STREAMS_KIND = "zscore-streams"


def stream_channels(stream: str, rows: int) -> tuple[str, ...]:
    """Names of a stream's rows: `<stream>_x/_y/_z` for a tri-axial stream (the channel naming of
    `mujo_edge.channels`), `<stream>_<i>` otherwise (stacked sensors, pose coordinates)."""
    if rows == len(AXES):
        return tuple(f"{stream}_{a}" for a in AXES)
    return tuple(f"{stream}_{i}" for i in range(rows))


@dataclass(frozen=True)
class StreamNormaliser:
    """One `Normaliser` per stream (modality) of a pre-training corpus. Each normalises axis 1 of its stream's
    windows [W, C, ...] (sensor rows x/y/z, pose coordinates), with statistics over every other axis.

    Streams without statistics (video features, a modality no training window has) are left as they are."""

    streams: Mapping[str, Normaliser]

    def __post_init__(self) -> None:
        # frozen means frozen: a caller's dict changed later must not change the statistics
        object.__setattr__(self, "streams", MappingProxyType(dict(self.streams)))

    @classmethod
    def fit(cls, arrays: Mapping[str, np.ndarray]) -> StreamNormaliser:
        """Statistics of each non-empty array [N, C, ...] in `arrays` (empty ones are skipped)."""
        return cls(
            {
                name: Normaliser.fit_array(x, stream_channels(name, int(x.shape[1])))
                for name, x in arrays.items()
                if len(x)
            }
        )

    def get(self, stream: str) -> Normaliser | None:
        return self.streams.get(stream)

    def apply(self, stream: str, x: np.ndarray) -> np.ndarray:
        """x [W, C, ...] of `stream`, z-scored along axis 1 (float32); unchanged (as float32) without statistics."""
        norm = self.streams.get(stream)
        if norm is None:
            return x.astype(np.float32, copy=True)
        return norm.apply(x, axis=1)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": STREAMS_KIND, "streams": {n: s.to_dict() for n, s in self.streams.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "normaliser") -> StreamNormaliser:
        """From `to_dict` output, or from the layout pre-training checkpoints had before it:
        {stream: {"mean": [...], "std": [...]}} (statistics already floored; row names are rebuilt)."""
        if not isinstance(data, Mapping):
            raise LayoutError("expected a mapping", path=source, field="normaliser")
        if data.get("kind") == STREAMS_KIND:
            streams = data.get("streams")
            if not isinstance(streams, Mapping):
                raise LayoutError("missing key", path=source, field="streams")
            return cls({str(n): Normaliser.from_dict(dict(s), f"{source}, stream {n}") for n, s in streams.items()})
        if "kind" in data:
            raise LayoutError(f"unknown normaliser kind {data.get('kind')!r}", path=source, field="kind")
        out = {}
        for name, stats in data.items():
            if not isinstance(stats, Mapping) or "mean" not in stats or "std" not in stats:
                raise LayoutError("expected {'mean': [...], 'std': [...]}", path=source, field=str(name))
            channels = stream_channels(str(name), len(stats["mean"]))
            out[str(name)] = Normaliser.from_dict(
                {"kind": "zscore", "channels": list(channels), "mean": stats["mean"], "std": stats["std"]},
                f"{source}, stream {name}",
            )
        return cls(out)
