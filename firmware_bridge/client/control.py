"""Protocol-specific handling of a control point's answers, registered by protocol name.

Only Polar answers its start command (on the control point, by indication): the response carries the FACTOR that
scales delta-compressed frames and a status (e.g. 13 DEVICE_IN_CHARGER) that says whether streaming started.
Protocols without an entry need nothing beyond their start writes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.protocols import Decoder
from mujo_edge.firmware_bridge.protocols import polar_control as pc
from mujo_edge.firmware_bridge.protocols.polar import PolarAccDecoder
from mujo_edge.registry import Registry

log = logging.getLogger(__name__)


class ControlHandler:
    """Watches a protocol's control characteristic during one stream. The base class accepts anything."""

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder
        self.error: str | None = None
        self.stopped = False

    def on_value(self, data: bytes) -> None:
        """A notification/indication on the control characteristic."""

    async def wait_started(self, timeout: float) -> None:
        """Return once the device confirmed the start (or cannot tell); raise ProtocolError if it refused."""


class PolarControl(ControlHandler):
    """Parses PMD control point frames: applies the start response's factor, raises on a refused start."""

    def __init__(self, decoder: Decoder) -> None:
        super().__init__(decoder)
        self._started = asyncio.Event()
        self._response: pc.PolarResponse | None = None

    def on_value(self, data: bytes) -> None:
        try:
            frame = pc.parse_control(data)
        except ProtocolError as e:
            self.error = str(e)
            log.warning("polar control point: %s", e)
            return
        if isinstance(frame, pc.PolarResponse) and frame.op == pc.ControlOp.START:
            self._response = frame
            if frame.ok and isinstance(self.decoder, PolarAccDecoder):
                self.decoder.configure(frame.settings)
            self._started.set()
        elif isinstance(frame, pc.PolarMeasurementStopped) and pc.MeasurementType.ACC in frame.types:
            self.stopped = True
            self.error = "the device stopped the ACC measurement on its own"
            log.warning("polar: %s", self.error)

    async def wait_started(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self._started.wait(), timeout)
        except TimeoutError:
            log.info("polar: no start response within %.1f s; assuming raw frames", timeout)
            return
        r = self._response
        if r is not None and not r.ok:
            raise ProtocolError(
                f"start refused: {r.status_name}",
                protocol="polar",
                field="status",
                packet=bytes([pc.RESPONSE, r.op, r.measurement_type, r.status]),
            )


CONTROL_HANDLERS: Registry[Callable[[Decoder], ControlHandler]] = Registry("control handler")
CONTROL_HANDLERS.register("polar", PolarControl)


def control_handler(protocol: str, decoder: Decoder) -> ControlHandler | None:
    """The handler registered for `protocol`, or None when its control characteristic needs no listening."""
    return CONTROL_HANDLERS.get(protocol)(decoder) if protocol in CONTROL_HANDLERS else None
