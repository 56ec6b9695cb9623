"""The shapes every device protocol fills in: a `Protocol` definition, a stateful `Decoder`, an `Encoder`.

A BLE client needs from a protocol: which service and characteristics to use, what to write after subscribing
(`start_writes`) and before disconnecting (`stop_writes`), and a fresh `Decoder` per stream. The watch emulator
needs an `Encoder` that turns samples into notification payloads for a given MTU. Both are looked up by name in
`PROTOCOLS` ("polar", "infinitime", "metawear", "banglejs", "mujo").
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mujo_edge.errors import ConfigError
from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.samples import AccBatch
from mujo_edge.registry import Registry

# ATT header bytes: a notification carries at most MTU - 3 bytes of value.
ATT_HEADER = 3
DEFAULT_MTU = 23  # BLE's minimum; without an MTU exchange notifications are cut to 20 bytes
MAX_MTU = 517


def max_payload(mtu: int) -> int:
    """Largest notification/write value for an ATT MTU (bytes)."""
    if not DEFAULT_MTU <= mtu <= MAX_MTU:
        raise ConfigError(f"ATT MTU must be in [{DEFAULT_MTU}, {MAX_MTU}], got {mtu}", field="mtu")
    return mtu - ATT_HEADER


@dataclass(frozen=True)
class StreamSettings:
    """What the host asks the device for: sample rate in Hz and accelerometer full-scale range in +-g."""

    rate_hz: float = 50.0
    range_g: int = 8


@dataclass(frozen=True)
class GattWrite:
    """One write the client performs: `value` to characteristic `characteristic` (UUID, lower case).

    `response` asks for a write-with-response; `pause_after_s` is how long to wait before the next write
    (e.g. Bangle.js needs a moment after `reset()`).
    """

    characteristic: str
    value: bytes
    response: bool = True
    pause_after_s: float = 0.0
    note: str = ""


class Decoder(ABC):
    """Turns notification payloads of one stream into `AccBatch`es, in arrival order.

    Stateful where the protocol needs it (previous frame timestamp, last sequence number, a partial line);
    create one per stream and call `reset()` after a reconnect. `decode` raises `ProtocolError` for every
    malformed payload and nothing else; after an error the decoder's stream state is as it was before the call
    (the Bangle.js line buffer drops the bad line), so decoding can continue. A packet that does not follow the
    stream (a time going backwards, a sequence jump its times contradict) is remembered as a candidate: when the
    next packet follows it, the stream re-anchors there (`AccBatch.new_stream`, e.g. a device restart) instead
    of every later packet being rejected.

    `snapshot()`/`restore()` take the stream state back to before a `decode`: the client does so when the clock
    refuses a batch the decoder accepted (a device time far ahead of its arrival), so the next packet is judged
    against the last good one.
    """

    protocol: str = ""

    @abstractmethod
    def decode(self, payload: bytes) -> AccBatch:
        """One notification payload -> the samples it completes (possibly none)."""

    def reset(self) -> None:  # noqa: B027 - optional: stateless decoders have nothing to forget
        """Forget per-stream state (sequence numbers, timestamps, partial lines)."""

    def snapshot(self) -> object:
        """The stream state `restore` puts back (None for stateless decoders)."""
        return None

    def restore(self, state: object) -> None:  # noqa: B027 - optional, like reset
        """Put back a `snapshot()`: the batch decoded since never happened (bytes consumed stay consumed)."""

    def _error(self, reason: str, field: str, packet: bytes) -> ProtocolError:
        return ProtocolError(reason, protocol=self.protocol, field=field, packet=packet)


class Encoder(ABC):
    """Turns samples into notification payloads as a device would send them (for the emulator and tests).

    Stateful: sequence numbers and timestamps continue across `encode` calls, like one device stream.
    """

    protocol: str = ""

    @abstractmethod
    def encode(self, xyz: np.ndarray, t_device: np.ndarray | None = None, *, mtu: int = DEFAULT_MTU) -> list[bytes]:
        """xyz float [N, 3] specific force in m/s^2 (and optional device times [N] s) -> payloads of <= mtu-3 bytes.

        When `t_device` is None the encoder's own clock runs at its nominal rate. Protocols without timestamps
        ignore `t_device`.
        """

    @abstractmethod
    def quantise(self, xyz: np.ndarray) -> np.ndarray:
        """The float64 [N, 3] m/s^2 values a decoder yields for `xyz` after this encoding (rounding, saturation)."""


@dataclass(frozen=True)
class Protocol:
    """A device protocol's definition: where its data lives and how to drive it.

    UUIDs are lower-case strings. `data_uuid` is the notify characteristic carrying samples; subscribe to it
    BEFORE running `start_writes` (Polar drops the first frames otherwise). `decoder(settings)` and
    `encoder(settings)` make fresh per-stream codecs; `start_writes(settings, mtu)`/`stop_writes()` list what the
    host writes (ConfigError for settings the device cannot do).
    """

    name: str
    description: str
    service_uuid: str
    data_uuid: str
    control_uuid: str | None
    nominal_rates_hz: tuple[float, ...]
    ranges_g: tuple[int, ...]
    has_device_timestamps: bool
    has_sequence_numbers: bool
    decoder: Callable[[StreamSettings], Decoder]
    encoder: Callable[[StreamSettings], Encoder]
    start_writes: Callable[[StreamSettings, int], list[GattWrite]]
    stop_writes: Callable[[], list[GattWrite]]
    other_uuids: dict[str, str] = field(default_factory=dict)

    def check(self, settings: StreamSettings) -> StreamSettings:
        """Raise ConfigError unless the device can stream at `settings`; return them."""
        if self.nominal_rates_hz and settings.rate_hz not in self.nominal_rates_hz:
            raise ConfigError(
                f"{self.name} cannot sample at {settings.rate_hz} Hz (supported: {list(self.nominal_rates_hz)})",
                field="rate_hz",
            )
        if self.ranges_g and settings.range_g not in self.ranges_g:
            raise ConfigError(
                f"{self.name} has no +-{settings.range_g} g range (supported: {list(self.ranges_g)})", field="range_g"
            )
        return settings


PROTOCOLS: Registry[Protocol] = Registry("device protocol")


def as_samples(xyz: np.ndarray, t_device: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate encoder input: xyz [N, 3] finite floats, t_device [N] or None (ConfigError otherwise)."""
    x = np.asarray(xyz, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 3:
        raise ConfigError(f"xyz must have shape [N, 3], got {x.shape}", field="xyz")
    if not np.all(np.isfinite(x)):
        raise ConfigError("xyz has non-finite values", field="xyz")
    if t_device is None:
        return x, None
    t = np.asarray(t_device, dtype=np.float64)
    if t.shape != (x.shape[0],):
        raise ConfigError(f"t_device must have shape [{x.shape[0]}], got {t.shape}", field="t_device")
    return x, t
