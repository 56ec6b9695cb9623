"""What the watch client hands out: per-device samples, statistics, reconnect policy, discovered devices, errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mujo_edge.errors import ConfigError, MujoEdgeError
from mujo_edge.firmware_bridge.protocols import PROTOCOLS, Protocol, StreamSettings


class WatchConnectionError(MujoEdgeError):
    """A watch that could not be found, connected to or (re)started; `address` may be None before a scan found it."""

    def __init__(self, message: str, *, address: str | None = None, attempts: int = 0) -> None:
        self.message = message
        self.address = address
        self.attempts = attempts
        where = f"{address}: " if address else ""
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"{where}{message}{tries}")


@dataclass(frozen=True)
class DeviceId:
    """The tag on every batch: which watch it came from."""

    address: str
    name: str | None
    protocol: str

    def __str__(self) -> str:
        return f"{self.name} ({self.address})" if self.name else self.address


@dataclass(frozen=True, eq=False)
class DeviceSamples:
    """Samples of one notification, on the host clock, tagged with their device.

    t: float64 [N] host seconds (epoch-based, strictly increasing per device). t_device: float64 [N] device-clock
    seconds, or None when the protocol sends no timestamps. xyz: float64 [N, 3] specific force in m/s^2.
    gap_before_s: seconds with no samples before t[0] beyond one sample period (0: contiguous).
    missing_samples: samples estimated lost in that gap (a sequence or timestamp jump, or the time spent
    reconnecting at the nominal rate); they are counted, never interpolated.
    """

    device: DeviceId
    t: np.ndarray
    t_device: np.ndarray | None
    xyz: np.ndarray
    gap_before_s: float = 0.0
    missing_samples: int = 0

    def __len__(self) -> int:
        return int(self.t.shape[0])


@dataclass(frozen=True)
class ReconnectPolicy:
    """Supervised reconnects: wait initial_s, then x factor per failed attempt up to max_s.

    max_attempts: consecutive failed attempts before giving up (None: never give up). The count restarts after
    every successful (re)start of the stream.
    """

    max_attempts: int | None = 8
    initial_s: float = 0.25
    max_s: float = 10.0
    factor: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ConfigError(f"must be >= 1 or None, got {self.max_attempts}", field="max_attempts")
        if not (0 <= self.initial_s <= self.max_s and self.factor >= 1):
            raise ConfigError("need 0 <= initial_s <= max_s and factor >= 1", field="reconnect")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number `attempt` (1 = the first retry)."""
        return min(self.max_s, self.initial_s * self.factor ** max(0, attempt - 1))


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of one watch stream, available at any time (`WatchClient.stats`).

    measured_rate_hz: real samples per host second over the last 10 s (None until two samples); nominal_rate_hz:
    what the stream was started at. gaps/missing_samples: counted losses; loss_fraction = missing /
    (received + missing). latency_s: median arrival delay above the fastest notification (device-timestamped
    protocols only). drift_ppm: device clock drift vs host. decode_errors: notifications rejected by the decoder.
    dropped_batches: batches the `samples()` queue overflowed with (a consumer too slow).
    """

    device: DeviceId | None
    connected: bool
    mtu: int | None
    notifications: int
    samples: int
    gaps: int
    missing_samples: int
    measured_rate_hz: float | None
    nominal_rate_hz: float
    drift_ppm: float | None
    latency_s: float | None
    reconnects: int
    decode_errors: int
    callback_errors: int
    dropped_batches: int
    saturated_samples: int
    last_error: str | None

    @property
    def loss_fraction(self) -> float:
        total = self.samples + self.missing_samples
        return self.missing_samples / total if total else 0.0


@dataclass(frozen=True)
class FoundDevice:
    """A watch seen advertising: protocol detected from its service UUIDs (None: no known protocol)."""

    name: str | None
    address: str
    rssi: int | None
    protocol: str | None
    service_uuids: tuple[str, ...] = ()


def default_settings(protocol: Protocol) -> StreamSettings:
    """50 Hz and +-8 g where the device has them, else its nearest rate and largest range (InfiniTime: 10 Hz, 2 g)."""
    rates = protocol.nominal_rates_hz or (50.0,)
    rate = 50.0 if 50.0 in rates else min(rates, key=lambda r: abs(r - 50.0))
    ranges = protocol.ranges_g or (8,)
    return StreamSettings(rate_hz=rate, range_g=8 if 8 in ranges else max(ranges))


def protocol_for_uuids(uuids: list[str] | tuple[str, ...]) -> str | None:
    """The first registered protocol whose service UUID is advertised (the Nordic UART counts as Bangle.js)."""
    have = {u.lower() for u in uuids}
    for name in PROTOCOLS.names():
        if PROTOCOLS.get(name).service_uuid in have:
            return name
    return None


def wall_clock() -> Callable[[], float]:
    """Host time in epoch seconds that never jumps: wall time at creation plus monotonic time since."""
    wall0, mono0 = time.time(), time.monotonic()
    return lambda: wall0 + (time.monotonic() - mono0)


def scaled_clock(speed: float) -> Callable[[], float]:
    """Host time that runs `speed` times faster than real time (epoch-anchored): the clock for replaying an
    emulated watch faster than real time, so host and device seconds stay the same length."""
    wall0, mono0 = time.time(), time.monotonic()
    return lambda: wall0 + speed * (time.monotonic() - mono0)
