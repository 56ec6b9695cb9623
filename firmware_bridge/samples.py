"""What every decoder produces: a batch of accelerometer samples in SI units.

Units are fixed here, once: acceleration is SPECIFIC FORCE in m/s^2 (what an accelerometer measures: a watch lying
face up reads about +9.81 on z, a watch in free fall reads 0), with g = 9.80665 m/s^2. Device times are seconds on
the device's own clock (each protocol documents its epoch), never host time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mujo_edge.errors import SampleError

# m/s^2 per g; the same value as mujo_edge.units.STANDARD_GRAVITY (a test keeps them equal).
STANDARD_GRAVITY = 9.80665


def counts_to_si(counts: np.ndarray, g_per_count: float) -> np.ndarray:
    """Integer sensor counts [N, 3] -> float64 m/s^2. Decoders and encoders' `quantise` share this one expression,
    so a round trip is bit-exact."""
    return np.asarray(counts, dtype=np.float64) * (g_per_count * STANDARD_GRAVITY)


def si_to_counts(xyz: np.ndarray, g_per_count: float, lo: int, hi: int) -> np.ndarray:
    """float m/s^2 [N, 3] -> int64 counts, rounded to nearest and clipped (saturated) to [lo, hi]."""
    counts = np.rint(np.asarray(xyz, dtype=np.float64) / (g_per_count * STANDARD_GRAVITY))
    return np.clip(counts, lo, hi).astype(np.int64)


@dataclass(frozen=True, eq=False)
class AccBatch:
    """Accelerometer samples decoded from one notification (or one reassembled line).

    t_device: float64 [N] seconds on the device clock, one per sample, or None when the protocol carries no
        timestamp (InfiniTime, MetaWear streaming): the client stamps with host time on arrival.
    xyz: float64 [N, 3] specific force in m/s^2 (face up reads +9.81 on z), axes in the device's frame.
    seq: the device's packet sequence number (of the first packet in the batch) when the protocol has one.
    lost_before: packets the decoder knows were lost between the previous batch and this one (from a sequence
        jump); 0 when none were or when the protocol cannot tell.
    lost_samples: the samples in those packets when the protocol tells exactly (Bangle.js lines all hold the same
        count), else None (the client counts them from device times).
    new_stream: the decoder re-anchored on this batch: its device times and sequence number do not continue the
        previous batch's (the device restarted or reset its clock, or the previous packet was corrupt), so only
        host time can tell the gap before it.
    device_rate_hz: the nominal sample rate the device was configured for (not measured), or None.
    raw: the payload the batch was decoded from, kept for logging and replay.
    """

    t_device: np.ndarray | None
    xyz: np.ndarray
    seq: int | None = None
    lost_before: int = 0
    device_rate_hz: float | None = None
    raw: bytes | None = None
    lost_samples: int | None = None
    new_stream: bool = False

    def __post_init__(self) -> None:
        xyz = np.asarray(self.xyz, dtype=np.float64)
        if xyz.ndim != 2 or xyz.shape[1] != 3:
            raise SampleError(f"xyz must have shape [N, 3], got {xyz.shape}", field="xyz")
        xyz.setflags(write=False)
        object.__setattr__(self, "xyz", xyz)
        if self.t_device is not None:
            t = np.asarray(self.t_device, dtype=np.float64)
            if t.shape != (xyz.shape[0],):
                raise SampleError(f"t_device must have shape [{xyz.shape[0]}], got {t.shape}", field="t_device")
            t.setflags(write=False)
            object.__setattr__(self, "t_device", t)
        if self.lost_before < 0:
            raise SampleError(f"lost_before must be >= 0, got {self.lost_before}", field="lost_before")
        if self.lost_samples is not None and self.lost_samples < 0:
            raise SampleError(f"lost_samples must be >= 0, got {self.lost_samples}", field="lost_samples")

    def __len__(self) -> int:
        return int(self.xyz.shape[0])

    @classmethod
    def empty(cls, *, timestamps: bool, device_rate_hz: float | None = None, raw: bytes | None = None) -> AccBatch:
        """A batch with no samples (e.g. a notification that only carried part of a line)."""
        return cls(np.zeros(0) if timestamps else None, np.zeros((0, 3)), device_rate_hz=device_rate_hz, raw=raw)
