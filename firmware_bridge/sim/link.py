"""Virtual radios for the BLE simulator: an in-process Bumble link, or one end of a loopback-TCP controller pair.

A link hands out Bumble `Device`s. Peripherals (the watch emulator) ask for one with `create_device`; bleak's
scanner and client backends share the link's single `central()` device, the way every `BleakClient` on a host
shares one Bluetooth adapter.

Two kinds:
- `SimLink`: a `bumble.link.LocalLink` with one virtual `Controller` per device, all in this process and on
  the running asyncio loop. Found by name through a registry (`get_link("default")`), so a `BleakClient(...,
  backend=BumbleClientBackend)` created anywhere in the program reaches the link the emulator advertises on.
- `TcpSimLink`: one controller served by `python -m bumble.apps.controllers tcp-server:127.0.0.1:P1
  tcp-server:127.0.0.1:P2` (two controllers linked inside that process); each side opens its own port, so an
  emulator process and a `live` process talk over real HCI on loopback.

Addresses are random static addresses ("C0:..:01" .. "FF:..", the two top bits set), as BLE watches use.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from bumble.controller import Controller
from bumble.device import Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport import Transport, open_transport
from bumble.transport.common import AsyncPipeSink

from mujo_edge.errors import ConfigError
from mujo_edge.firmware_bridge.errors import SimLinkError

logger = logging.getLogger(__name__)

DEFAULT_LINK = "default"
DEFAULT_CENTRAL_ADDRESS = "C0:00:00:00:00:01"


class _CentralMixin:
    """Shared central device, scan reference count and connect lock (all bound to one asyncio loop)."""

    name: str
    central_address: str

    def _init_central(self) -> None:
        self._central: Device | None = None
        self._central_ready: asyncio.Lock | None = None
        self._connect_lock: asyncio.Lock | None = None
        self._scan_users = 0
        self._scan_lock: asyncio.Lock | None = None

    async def _new_central_device(self) -> Device:
        raise NotImplementedError

    async def central(self) -> Device:
        if self._central_ready is None:
            self._central_ready = asyncio.Lock()
        async with self._central_ready:
            if self._central is None:
                device = await self._new_central_device()
                await device.power_on()
                self._central = device
                logger.debug("link %s: central %s powered on", self.name, self.central_address)
        return self._central

    def connect_lock(self) -> asyncio.Lock:
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        return self._connect_lock

    async def acquire_scan(self) -> None:
        if self._scan_lock is None:
            self._scan_lock = asyncio.Lock()
        central = await self.central()
        async with self._scan_lock:
            self._scan_users += 1
            if self._scan_users == 1:
                # Duplicates are kept: bleak wants every advertisement (RSSI and data updates).
                await central.start_scanning(active=True, filter_duplicates=False)

    async def release_scan(self) -> None:
        if self._scan_lock is None or self._central is None:
            return
        async with self._scan_lock:
            if self._scan_users == 0:
                return
            self._scan_users -= 1
            if self._scan_users == 0 and self._central.scanning:
                await self._central.stop_scanning()


class SimLink(_CentralMixin):
    """An in-process radio: a Bumble `LocalLink` and one virtual controller per device.

    Create it (and its devices) inside the asyncio loop that will run it; Bumble schedules packets on the
    running loop. Register it with `register_link` (done by `get_link`) so bleak backends find it by name.
    """

    def __init__(self, name: str = DEFAULT_LINK, central_address: str = DEFAULT_CENTRAL_ADDRESS) -> None:
        self.name = name
        self.central_address = central_address
        self.local_link = LocalLink()
        self.devices: dict[str, Device] = {}
        self._controllers: dict[str, Controller] = {}
        self._loop = asyncio.get_running_loop()
        self._init_central()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def _attach(self, name: str, address: str) -> Device:
        if address.upper() in self.devices:
            raise ConfigError(f"link {self.name!r} already has a device at {address}", field="address")
        controller = Controller(name, link=self.local_link, public_address=address)
        device = Device(name=name, address=Address(address), host=Host(controller, AsyncPipeSink(controller)))
        self.devices[address.upper()] = device
        self._controllers[address.upper()] = controller
        return device

    async def create_device(self, name: str, address: str) -> Device:
        return self._attach(name, address)

    async def remove_device(self, address: str) -> None:
        """Take a stopped device off the link so its address can be used again."""
        device = self.devices.pop(address.upper(), None)
        controller = self._controllers.pop(address.upper(), None)
        if controller is not None and controller in self.local_link.controllers:
            self.local_link.remove_controller(controller)
        if device is not None:
            logger.debug("link %s: removed device %s", self.name, address)

    async def _new_central_device(self) -> Device:
        return self._attach("central", self.central_address)

    async def close(self) -> None:
        await self.release_scan()
        for device in self.devices.values():
            for connection in list(device.connections.values()):
                try:
                    await connection.disconnect()
                except Exception as error:  # the peer may already be gone; closing must not fail
                    logger.debug("link %s: disconnect on close failed: %s", self.name, error)
        if _LINKS.get(self.name) is self:
            del _LINKS[self.name]


class TcpSimLink(_CentralMixin):
    """One controller of `python -m bumble.apps.controllers tcp-server:HOST:P1 tcp-server:HOST:P2`.

    Each port carries exactly one device: use one `TcpSimLink` per process side, either as the central
    (bleak backends) or for one peripheral (`create_device`), not both.
    """

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        name: str | None = None,
        central_address: str = DEFAULT_CENTRAL_ADDRESS,
        connect_timeout: float = 5.0,
    ) -> None:
        self.port = port
        self.host = host
        self.name = name or f"tcp:{host}:{port}"
        self.central_address = central_address
        self.connect_timeout = connect_timeout
        self._transport: Transport | None = None
        self._init_central()

    async def _open(self, name: str, address: str) -> Device:
        if self._transport is not None:
            raise ConfigError(f"{self.name} already carries a device; use another port for a second one", field="port")
        self._transport = await open_tcp_transport(self.host, self.port, self.connect_timeout)
        return Device.with_hci(name, Address(address), self._transport.source, self._transport.sink)

    async def create_device(self, name: str, address: str) -> Device:
        return await self._open(name, address)

    async def _new_central_device(self) -> Device:
        return await self._open("central", self.central_address)

    async def remove_device(self, address: str) -> None:
        """Close the port's transport after its peripheral stopped, so it can be opened again."""
        if self._transport is not None and self._central is None:
            await self._transport.close()
            self._transport = None

    async def close(self) -> None:
        await self.release_scan()
        if self._central is not None:
            for connection in list(self._central.connections.values()):
                try:
                    await connection.disconnect()
                except Exception as error:
                    logger.debug("%s: disconnect on close failed: %s", self.name, error)
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        if _LINKS.get(self.name) is self:
            del _LINKS[self.name]


def controllers_command(port_a: int, port_b: int, host: str = "127.0.0.1") -> list[str]:
    """argv that serves two linked virtual controllers on `host:port_a` and `host:port_b` until killed."""
    servers = [f"tcp-server:{host}:{port_a}", f"tcp-server:{host}:{port_b}"]
    return [sys.executable, "-m", "bumble.apps.controllers", *servers]


async def open_tcp_transport(host: str, port: int, timeout: float = 5.0) -> Transport:
    """Open `tcp-client:HOST:PORT`, retrying while the controllers process is still starting.

    Raises:
        SimLinkError: nothing accepted the connection within `timeout` seconds (a `ConnectionError`).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await open_transport(f"tcp-client:{host}:{port}")
        except OSError as error:
            if loop.time() >= deadline:
                raise SimLinkError(str(error), host=host, port=port) from error
            await asyncio.sleep(0.05)


AnyLink = SimLink | TcpSimLink

# Registry of live links by name. Links belong to one asyncio loop: a link whose loop has gone (a finished
# asyncio.run) is replaced on the next lookup rather than reused.
_LINKS: dict[str, AnyLink] = {}


def register_link(link: AnyLink) -> None:
    """Make `link` the one found under `link.name`."""
    _LINKS[link.name] = link


def get_link(name: str = DEFAULT_LINK) -> AnyLink:
    """The link registered as `name`; an in-process `SimLink` is created on first use (needs a running loop)."""
    link = _LINKS.get(name)
    if isinstance(link, SimLink) and link.loop is not asyncio.get_running_loop():
        logger.debug("link %s belonged to a finished event loop; starting a fresh one", name)
        link = None
    if link is None:
        link = SimLink(name)
        register_link(link)
    return link


def resolve_link(link: AnyLink | str | None) -> AnyLink:
    """Accept a link object, a registered name, or None for the default link."""
    if link is None:
        return get_link(DEFAULT_LINK)
    if isinstance(link, str):
        return get_link(link)
    return link
