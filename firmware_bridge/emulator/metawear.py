"""An emulated MetaWear board (BMI160 accelerometer, module 0x03).

The command characteristic takes the SDK's register writes; the board streams once it is configured,
sampling is enabled, a data route is subscribed and the accelerometer is started:
    03 03 <odr> <range>   configure (rate and range bytes as in the SDK; unknown bytes are ignored, as on the board)
    03 02 01 00 / 00 01   enable / disable acceleration sampling
    03 04 01 / 00         route single samples (`03 04` + 3 x int16) to notifications / stop
    03 1c 01 / 00         route packed samples (`03 1c` + 3 samples, 20 bytes: fits the minimum MTU) / stop
    03 01 01 / 00         start / stop the accelerometer
Other modules' commands are accepted and ignored. There is no timestamp or sequence number in streamed data.
The link dropping stops the stream (the host sets the board up again after reconnecting).
"""

from __future__ import annotations

from mujo_edge.firmware_bridge.emulator.model import DeviceModel, register
from mujo_edge.firmware_bridge.protocols.base import Encoder, StreamSettings
from mujo_edge.firmware_bridge.protocols.metawear import (
    COMMAND_UUID,
    MODULE_ACC,
    NOTIFY_UUID,
    ODR_BYTE,
    RANGE_BYTE,
    REG_CONFIG,
    REG_DATA,
    REG_INTERRUPT_ENABLE,
    REG_PACKED,
    REG_POWER,
    SERVICE_UUID,
    MetaWearEncoder,
)
from mujo_edge.firmware_bridge.sim.peripheral import CharacteristicSpec, ServiceSpec

_RATE_OF = {code: rate for rate, code in ODR_BYTE.items()}
_RANGE_OF = {code: rng for rng, code in RANGE_BYTE.items()}


@register
class MetaWearDevice(DeviceModel):
    protocol_name = "metawear"
    default_name = "MetaWear"
    default_settings = StreamSettings(rate_hz=50.0, range_g=4)

    def __init__(self, watch: object) -> None:
        super().__init__(watch)  # type: ignore[arg-type]
        self._reset_registers()

    def _reset_registers(self) -> None:
        self.config = self.default_settings
        self.enabled = False
        self.route_single = False
        self.route_packed = False
        self.powered = False

    def services(self) -> list[ServiceSpec]:
        return [
            ServiceSpec(
                SERVICE_UUID,
                (
                    CharacteristicSpec(COMMAND_UUID, ("write", "write-without-response"), on_write=self._on_command),
                    CharacteristicSpec(NOTIFY_UUID, ("notify",)),
                ),
            )
        ]

    @property
    def packed(self) -> bool:
        return self.route_packed

    def unit_samples(self, settings: StreamSettings, mtu: int) -> int:
        return 3 if self.packed else 1

    def make_encoder(self, settings: StreamSettings, previous: Encoder | None) -> Encoder:
        return MetaWearEncoder(settings.range_g, packed=self.packed)

    def on_disconnect(self) -> None:
        self._reset_registers()
        self.watch.end_stream()

    def _on_command(self, value: bytes) -> None:
        if len(value) < 3 or value[0] != MODULE_ACC:
            return
        register = value[1]
        if register == REG_CONFIG and len(value) >= 4:
            rate, rng = _RATE_OF.get(value[2]), _RANGE_OF.get(value[3])
            if rate is None or rng is None:
                self.watch.record_event(f"metawear: ignored config {value.hex(' ')}")
                return
            self.config = StreamSettings(rate, rng)
        elif register == REG_INTERRUPT_ENABLE:
            self.enabled = value[2] == 1
        elif register == REG_DATA:
            self.route_single = value[2] == 1
        elif register == REG_PACKED:
            self.route_packed = value[2] == 1
        elif register == REG_POWER:
            self.powered = value[2] == 1
        else:
            return
        self._apply()

    def _apply(self) -> None:
        routed = self.route_single or self.route_packed
        if self.powered and self.enabled and routed:
            if not self.watch.streaming:
                self.watch.begin_stream(self.config, new_session=True)
                self.watch.record_event(
                    f"metawear: streaming {self.config.rate_hz} Hz +-{self.config.range_g} g "
                    f"({'packed' if self.packed else 'single'})"
                )
        elif self.watch.streaming:
            self.watch.end_stream()
            self.watch.record_event("metawear: stopped")
