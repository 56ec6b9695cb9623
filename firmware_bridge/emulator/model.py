"""The device side of one protocol: its GATT database, how it reacts to the host's writes, and how it packs samples.

`VirtualWatch` owns the clock, the recording, pacing and faults; a `DeviceModel` owns everything that differs
between devices. Models are registered by protocol name in `DEVICE_MODELS` (one per entry of `PROTOCOLS`).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import ClassVar
from typing import Protocol as TypingProtocol

import numpy as np

from mujo_edge.firmware_bridge.protocols.base import PROTOCOLS, Encoder, Protocol, StreamSettings
from mujo_edge.firmware_bridge.sim.peripheral import ServiceSpec
from mujo_edge.registry import Registry

logger = logging.getLogger(__name__)


class WatchPort(TypingProtocol):
    """What a device model may ask of the watch that runs it."""

    streaming: bool

    def begin_stream(self, settings: StreamSettings, *, new_session: bool = False) -> None:
        """Start (or keep) streaming with `settings`; new_session resets the encoder and the session clock."""

    def end_stream(self) -> None:
        """Stop streaming (the clock keeps running)."""

    def mtu(self) -> int:
        """ATT MTU of the current connection."""

    def send_control(self, uuid: str, value: bytes) -> None:
        """Notify/indicate `value` on `uuid` soon, in order with the data stream (never inside a write handler)."""

    def device_clock_now(self) -> float:
        """Device clock (s since the watch's clock started, drift included) at the current stream time."""

    def record_event(self, text: str, *, rejected: bool = False) -> None:
        """Note a control event in the watch's stats (for logs and tests); rejected counts a refused command."""


class DeviceModel(ABC):
    """One device's behaviour. Subclasses set the class attributes and implement `services` and `unit_samples`.

    keeps_running_offline: the device keeps sampling and packing while no host listens (its packets are lost
    but still consume sequence numbers), e.g. a Bangle.js app that prints whether or not anyone is connected.
    """

    protocol_name: ClassVar[str]
    default_name: ClassVar[str]
    default_settings: ClassVar[StreamSettings]
    keeps_running_offline: ClassVar[bool] = False

    def __init__(self, watch: WatchPort) -> None:
        self.watch = watch
        self.protocol: Protocol = PROTOCOLS.get(self.protocol_name)

    @abstractmethod
    def services(self) -> list[ServiceSpec]:
        """The GATT database (the data characteristic is `protocol.data_uuid`)."""

    @abstractmethod
    def unit_samples(self, settings: StreamSettings, mtu: int) -> int:
        """Samples per notification unit (one packet, or one Bangle.js line) at this MTU (>= 1)."""

    def make_encoder(self, settings: StreamSettings, previous: Encoder | None) -> Encoder:
        """A fresh encoder for a stream with `settings`; `previous` is the last session's (to continue counters)."""
        return self.protocol.encoder(settings)

    def device_times(self, device_clock_s: np.ndarray) -> np.ndarray | None:
        """Device clock (s since clock start) -> times in the protocol's own epoch, given to the encoder."""
        return None

    def on_air_times(self, t_device: np.ndarray, settings: StreamSettings) -> np.ndarray | None:
        """The device times of one unit as a decoder yields them (the format's rounding); None = no timestamps."""
        return None

    def accept_unit(self, quantised: np.ndarray) -> bool:
        """False to skip a unit silently (InfiniTime notifies only when the value changed)."""
        return True

    def on_subscription(self, uuid: str, enabled: bool) -> None:  # noqa: B027 - optional hook, default: nothing
        """The host enabled or disabled notifications/indications on `uuid`."""

    def on_disconnect(self) -> None:
        """The link went down: a device stops its measurement unless it keeps running offline."""
        if not self.keeps_running_offline:
            self.watch.end_stream()

    def on_unit_lost(self, samples: int) -> None:  # noqa: B027 - optional hook, default: nothing
        """A unit of `samples` was dropped by a fault (models that count their own drops override this)."""


DEVICE_MODELS: Registry[type[DeviceModel]] = Registry("emulated device")


def register(model: type[DeviceModel]) -> type[DeviceModel]:
    """Class decorator: register `model` under its protocol name."""
    DEVICE_MODELS.register(model.protocol_name, model)
    return model
