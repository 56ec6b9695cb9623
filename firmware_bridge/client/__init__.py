"""The BLE watch client: supervised accelerometer streams from watches, on the host clock, tagged per device.

    async with WatchClient("mujo", name="MyWatch") as watch:
        async for batch in watch.samples():          # DeviceSamples: t [N] host s, xyz [N, 3] m/s^2
            ...
    found = await discover(timeout=5)                # [FoundDevice(name, address, rssi, protocol)]

Needs the `ble` extra (bleak); `scanner_backend=`/`client_backend=` take the simulator's Bumble backends.
Importing this package does not import bleak (the client imports it when it connects).
"""

from mujo_edge.firmware_bridge.client.control import CONTROL_HANDLERS, ControlHandler, PolarControl
from mujo_edge.firmware_bridge.client.multi import MultiWatch, discover
from mujo_edge.firmware_bridge.client.types import (
    ClientStats,
    DeviceId,
    DeviceSamples,
    FoundDevice,
    ReconnectPolicy,
    WatchConnectionError,
    default_settings,
    protocol_for_uuids,
    scaled_clock,
    wall_clock,
)
from mujo_edge.firmware_bridge.client.watch import WatchClient

__all__ = [
    "CONTROL_HANDLERS",
    "ClientStats",
    "ControlHandler",
    "DeviceId",
    "DeviceSamples",
    "FoundDevice",
    "MultiWatch",
    "PolarControl",
    "ReconnectPolicy",
    "WatchClient",
    "WatchConnectionError",
    "default_settings",
    "discover",
    "protocol_for_uuids",
    "scaled_clock",
    "wall_clock",
]
