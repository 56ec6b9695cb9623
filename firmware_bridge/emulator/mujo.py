"""An emulated watch running firmware that implements mujo-edge's own GATT profile (firmware_bridge/PROFILE.md).

Config (read / write with response): writing it with the streaming flag starts the stream at its rate and range,
without it stops; an invalid config is refused with ATT error 0x13 (value not allowed). Status (read / notify) is
notified on every state change and counts the samples the device dropped. Data packets carry at most 200 ms of
samples (10 at 50 Hz) and fit the MTU; sequence numbers and the device clock (microseconds since boot) keep
running across stops and reconnects, so a host can count what it missed.
"""

from __future__ import annotations

import numpy as np
from bumble.att import ATT_Error

from mujo_edge.firmware_bridge.emulator.model import DeviceModel, register
from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.protocols.base import ATT_HEADER, Encoder, StreamSettings
from mujo_edge.firmware_bridge.protocols.mujo_profile import (
    CONFIG_UUID,
    DATA_UUID,
    HEADER,
    SAMPLE_BYTES,
    SERVICE_UUID,
    STATUS_UUID,
    DeviceState,
    MujoConfig,
    MujoEncoder,
    MujoStatus,
)
from mujo_edge.firmware_bridge.sim.peripheral import CharacteristicSpec, ServiceSpec

ATT_VALUE_NOT_ALLOWED = 0x13
BOOT_S = 5.0  # the device clock reads 5 s (since boot) when the emulated stream starts
MAX_PACKET_S = 0.2  # the profile: send a partial packet rather than hold samples longer than 200 ms
BATTERY_PCT = 87


@register
class MujoDevice(DeviceModel):
    protocol_name = "mujo"
    default_name = "mujo-watch"
    default_settings = StreamSettings(rate_hz=50.0, range_g=8)

    def __init__(self, watch: object) -> None:
        super().__init__(watch)  # type: ignore[arg-type]
        self.config = MujoConfig(self.default_settings.rate_hz, self.default_settings.range_g, streaming=False)
        self.dropped_samples = 0

    def services(self) -> list[ServiceSpec]:
        return [
            ServiceSpec(
                SERVICE_UUID,
                (
                    CharacteristicSpec(DATA_UUID, ("notify",)),
                    CharacteristicSpec(
                        CONFIG_UUID, ("read", "write"), on_read=lambda: self.config.encode(), on_write=self._on_config
                    ),
                    CharacteristicSpec(STATUS_UUID, ("read", "notify"), on_read=lambda: self.status().encode()),
                ),
            )
        ]

    def status(self) -> MujoStatus:
        state = DeviceState.STREAMING if self.watch.streaming else DeviceState.IDLE
        return MujoStatus(state, BATTERY_PCT, self.dropped_samples)

    def unit_samples(self, settings: StreamSettings, mtu: int) -> int:
        fit = (mtu - ATT_HEADER - HEADER.size) // SAMPLE_BYTES
        return max(1, min(255, fit, round(MAX_PACKET_S * settings.rate_hz)))

    def make_encoder(self, settings: StreamSettings, previous: Encoder | None) -> Encoder:
        seq = previous.seq if isinstance(previous, MujoEncoder) else 0
        return MujoEncoder(settings.rate_hz, settings.range_g, start_seq=seq)

    def device_times(self, device_clock_s: np.ndarray) -> np.ndarray:
        return BOOT_S + device_clock_s

    def on_air_times(self, t_device: np.ndarray, settings: StreamSettings) -> np.ndarray:
        t0_us = round(float(t_device[0]) * 1e6)
        return t0_us / 1e6 + np.arange(len(t_device), dtype=np.float64) / settings.rate_hz

    def on_unit_lost(self, samples: int) -> None:
        self.dropped_samples += samples

    def on_disconnect(self) -> None:
        super().on_disconnect()
        self.config = MujoConfig(self.config.rate_hz, self.config.range_g, streaming=False)

    def _on_config(self, value: bytes) -> None:
        try:
            config = MujoConfig.decode(value)
        except ProtocolError as error:
            self.watch.record_event(f"mujo: refused config {value.hex(' ')}: {error.reason}", rejected=True)
            raise ATT_Error(ATT_VALUE_NOT_ALLOWED) from None
        was_streaming = self.watch.streaming
        self.config = config
        if config.streaming:
            self.watch.begin_stream(StreamSettings(config.rate_hz, config.range_g))
            self.watch.record_event(f"mujo: streaming {config.rate_hz} Hz +-{config.range_g} g")
        else:
            self.watch.end_stream()
            self.watch.record_event("mujo: stopped")
        if was_streaming != self.watch.streaming:
            self.watch.send_control(STATUS_UUID, self.status().encode())
