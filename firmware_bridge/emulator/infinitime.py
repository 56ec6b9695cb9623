"""An emulated PineTime running InfiniTime: the Motion Service streams to whoever subscribes.

No control writes: notifications start when the host enables them on the raw accelerometer characteristic and
stop when it disables them or the link drops. The firmware polls the sensor every 100 ms (10 Hz, +-2 g,
1024 counts per g) and notifies only when the value changed since the last notification. A read of the
characteristic returns the latest value; the step count characteristic reads 0.
"""

from __future__ import annotations

import numpy as np

from mujo_edge.firmware_bridge.emulator.model import DeviceModel, register
from mujo_edge.firmware_bridge.protocols.base import StreamSettings
from mujo_edge.firmware_bridge.protocols.infinitime import (
    ACCEL_UUID,
    NOMINAL_RATE_HZ,
    SERVICE_UUID,
    STEP_COUNT_UUID,
)
from mujo_edge.firmware_bridge.samples import STANDARD_GRAVITY
from mujo_edge.firmware_bridge.sim.peripheral import CharacteristicSpec, ServiceSpec

G_PER_COUNT = 1.0 / 1024.0


@register
class InfiniTimeDevice(DeviceModel):
    protocol_name = "infinitime"
    default_name = "InfiniTime"
    default_settings = StreamSettings(rate_hz=NOMINAL_RATE_HZ, range_g=2)

    def __init__(self, watch: object) -> None:
        super().__init__(watch)  # type: ignore[arg-type]
        self._last: np.ndarray | None = None

    def services(self) -> list[ServiceSpec]:
        return [
            ServiceSpec(
                SERVICE_UUID,
                (
                    CharacteristicSpec(STEP_COUNT_UUID, ("read", "notify"), value=(0).to_bytes(4, "little")),
                    CharacteristicSpec(ACCEL_UUID, ("read", "notify"), on_read=self._read_value),
                ),
            )
        ]

    def unit_samples(self, settings: StreamSettings, mtu: int) -> int:
        return 1  # the firmware notifies one sample per poll

    def _read_value(self) -> bytes:
        if self._last is None:
            return bytes(6)
        counts = np.rint(self._last / (G_PER_COUNT * STANDARD_GRAVITY)).astype("<i2")
        return counts.tobytes()

    def accept_unit(self, quantised: np.ndarray) -> bool:
        value = np.asarray(quantised[-1], dtype=np.float64)
        if self._last is not None and np.array_equal(value, self._last):
            return False
        self._last = value
        return True

    def on_subscription(self, uuid: str, enabled: bool) -> None:
        if uuid != ACCEL_UUID:
            return
        if enabled:
            self._last = None  # a new subscriber gets the current value first
            self.watch.begin_stream(self.default_settings)
            self.watch.record_event("infinitime: notifications enabled")
        else:
            self.watch.end_stream()
            self.watch.record_event("infinitime: notifications disabled")
