"""What can go wrong on a virtual watch (`WatchFaults`) and what the watch records as ground truth (`SampleLog`,
`WatchStats`).

Times in `WatchFaults` are STREAM seconds: seconds of the recording since the watch's clock started (the host's
first start command), before `speed` scaling. A replay at speed 20 is a time-lapse of the same scene: a link drop
at stream second 3 happens 0.15 host seconds after the start, and 0.5 s of jitter becomes 25 ms.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from mujo_edge.errors import ConfigError
from mujo_edge.firmware_bridge.protocols.base import DEFAULT_MTU, MAX_MTU


@dataclass(frozen=True)
class WatchFaults:
    """Faults a virtual watch injects (all off by default).

    drop_link_at_s: stream times (s) at which the watch drops the link (out of range, battery). It re-advertises
        `reconnect_after_s` stream seconds later. Its clock keeps running: samples taken while disconnected are
        lost, as on a real device (protocols with device timestamps or sequence numbers let the host count them).
    reconnect_after_s: stream seconds between a link drop and advertising again. At infinite speed this is also
        how much of the recording the outage costs (there is no real time to lose).
    drop_packet_prob: probability that one notification unit (a packet; for Bangle.js one printed line) is lost.
    jitter_s: each packet is delayed by a uniform random 0..jitter_s stream seconds; a late packet holds back the
        ones after it (never reordered). No effect at infinite speed.
    clock_drift_ppm: the device's crystal runs fast (> 0) or slow (< 0): it samples at its nominal rate on its own
        clock, so device time advances (1 + ppm * 1e-6) s per true second and the true sample rate is off by the
        same factor.
    max_mtu: the largest ATT MTU the watch accepts (23 forces 20-byte payloads).
    seed: seeds the packet-drop and jitter random generator (runs are reproducible).
    """

    drop_link_at_s: tuple[float, ...] = ()
    reconnect_after_s: float = 0.5
    drop_packet_prob: float = 0.0
    jitter_s: float = 0.0
    clock_drift_ppm: float = 0.0
    max_mtu: int = 247
    seed: int = 0

    def __post_init__(self) -> None:
        times = tuple(float(t) for t in self.drop_link_at_s)
        object.__setattr__(self, "drop_link_at_s", times)
        if any(not math.isfinite(t) or t < 0 for t in times):
            raise ConfigError(f"must be finite stream times >= 0 s, got {list(times)}", field="drop_link_at_s")
        if any(b <= a for a, b in itertools.pairwise(times)):
            raise ConfigError(f"must be strictly increasing, got {list(times)}", field="drop_link_at_s")
        if not (math.isfinite(self.reconnect_after_s) and self.reconnect_after_s >= 0):
            raise ConfigError(f"must be >= 0 s, got {self.reconnect_after_s}", field="reconnect_after_s")
        if not 0.0 <= self.drop_packet_prob < 1.0:
            raise ConfigError(f"must be in [0, 1), got {self.drop_packet_prob}", field="drop_packet_prob")
        if not (math.isfinite(self.jitter_s) and self.jitter_s >= 0):
            raise ConfigError(f"must be >= 0 s, got {self.jitter_s}", field="jitter_s")
        if not (math.isfinite(self.clock_drift_ppm) and abs(self.clock_drift_ppm) < 1e5):
            raise ConfigError(
                f"must be finite and within +-100000 ppm, got {self.clock_drift_ppm}", field="clock_drift_ppm"
            )
        if not DEFAULT_MTU <= self.max_mtu <= MAX_MTU:
            raise ConfigError(f"must be in [{DEFAULT_MTU}, {MAX_MTU}], got {self.max_mtu}", field="max_mtu")
        if self.seed < 0:
            raise ConfigError(f"must be >= 0, got {self.seed}", field="seed")

    @property
    def drift(self) -> float:
        """Device seconds per true second, minus one."""
        return self.clock_drift_ppm * 1e-6


class SampleLog:
    """Samples a watch put on air (or lost), in stream order; arrays are built on access.

    t_stream: float64 [N] true seconds since the watch's clock started (host-side time axis, before `speed`).
    t_source: float64 [N] the recording's own time of each sample (s; wraps around when the recording loops).
    t_device: float64 [N] device times exactly as the protocol carries them (its epoch and rounding), or None for
        protocols without timestamps.
    xyz: float64 [N, 3] m/s^2 as a decoder yields them (saturated at the range, quantised by the encoder).
    packets: notification units (packets, or Bangle.js lines) these samples travelled in.
    """

    def __init__(self, timestamps: bool) -> None:
        self._timestamps = timestamps
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]] = []
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray] | None = None
        self.packets = 0

    def add(
        self, t_stream: np.ndarray, t_source: np.ndarray, t_device: np.ndarray | None, xyz: np.ndarray, packets: int = 1
    ) -> None:
        if len(t_stream) == 0:
            return
        self._parts.append(
            (
                np.asarray(t_stream, np.float64),
                np.asarray(t_source, np.float64),
                None if t_device is None else np.asarray(t_device, np.float64),
                np.asarray(xyz, np.float64).reshape(-1, 3),
            )
        )
        self.packets += packets
        self._cache = None

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        if self._cache is None:
            if not self._parts:
                empty = np.zeros(0)
                self._cache = (empty, empty, empty if self._timestamps else None, np.zeros((0, 3)))
            else:
                cols = list(zip(*self._parts))
                t_dev = None
                if self._timestamps and all(p is not None for p in cols[2]):
                    t_dev = np.concatenate(cols[2])
                self._cache = (np.concatenate(cols[0]), np.concatenate(cols[1]), t_dev, np.concatenate(cols[3]))
        return self._cache

    @property
    def t_stream(self) -> np.ndarray:
        return self._arrays()[0]

    @property
    def t_source(self) -> np.ndarray:
        return self._arrays()[1]

    @property
    def t_device(self) -> np.ndarray | None:
        return self._arrays()[2]

    @property
    def xyz(self) -> np.ndarray:
        return self._arrays()[3]

    def __len__(self) -> int:
        return sum(len(p[0]) for p in self._parts)

    def __repr__(self) -> str:
        return f"SampleLog({len(self)} samples in {self.packets} packets)"


@dataclass
class WatchStats:
    """Counters of one virtual watch (the ground truth for loss measurements).

    samples_lost_dropped: samples in packets the drop_packet_prob fault discarded (packets_dropped of them).
    samples_lost_offline: samples taken while the link was down or the host had not (re)started the stream.
    samples_unchanged: InfiniTime only: polls that equalled the previous value and so were never notified.
    rejected_commands: control writes the device refused (error status, ATT error, console error).
    events: what the device did on control writes, in order (the first 200).
    """

    samples_sent: int = 0
    packets_sent: int = 0
    notifications: int = 0
    packets_dropped: int = 0
    samples_lost_dropped: int = 0
    samples_lost_offline: int = 0
    samples_unchanged: int = 0
    link_drops: int = 0
    starts: int = 0
    passes: int = 0
    rejected_commands: int = 0
    events: list[str] = field(default_factory=list)

    @property
    def samples_lost(self) -> int:
        return self.samples_lost_dropped + self.samples_lost_offline
