"""BLE without hardware: virtual peripherals on a Bumble radio and bleak backends that reach them.

    link = get_link()                                   # in-process radio, found by name by the backends
    watch = VirtualPeripheral("Sim", "F0:00:00:00:00:01", [ServiceSpec(SVC, (CharacteristicSpec(CHAR, ("notify",)),))])
    await watch.start()
    async with BleakClient("F0:00:00:00:00:01", backend=BumbleClientBackend) as client:
        await client.start_notify(CHAR, callback)

Needs the `sim` extra (bumble, Python >= 3.11) and the `ble` extra (bleak). Knows no watch protocol.
Errors: `SimLinkError` (no controller at a TCP link), `PeripheralStateError` (a peripheral used before start).
"""

from mujo_edge.firmware_bridge.errors import PeripheralStateError, SimLinkError
from mujo_edge.firmware_bridge.sim.backend import BumbleClientBackend, BumbleScannerBackend
from mujo_edge.firmware_bridge.sim.link import (
    DEFAULT_LINK,
    AnyLink,
    SimLink,
    TcpSimLink,
    controllers_command,
    get_link,
    open_tcp_transport,
    register_link,
    resolve_link,
)
from mujo_edge.firmware_bridge.sim.peripheral import (
    CharacteristicSpec,
    NotificationFilter,
    PeripheralStats,
    ServiceSpec,
    VirtualPeripheral,
)

__all__ = [
    "DEFAULT_LINK",
    "AnyLink",
    "BumbleClientBackend",
    "BumbleScannerBackend",
    "CharacteristicSpec",
    "NotificationFilter",
    "PeripheralStateError",
    "PeripheralStats",
    "ServiceSpec",
    "SimLink",
    "SimLinkError",
    "TcpSimLink",
    "VirtualPeripheral",
    "controllers_command",
    "get_link",
    "open_tcp_transport",
    "register_link",
    "resolve_link",
]
