"""A generic virtual BLE peripheral on Bumble: advertising, a GATT server from a small description, notify.

It knows no watch protocol. The watch emulator builds on it: it describes its services with `ServiceSpec`,
answers writes in `on_write` callbacks and streams samples with `notify`. Fault injection is generic:
`notification_filter` drops or delays single notifications (packet loss, jitter) and `drop_link` ends the
connection from the watch side (out of range, battery pulled).

Like a real link, notifications are never reordered: a delayed notification holds back the ones after it
(head-of-line blocking, as link-layer retransmissions do), and without an MTU exchange every value is cut to
20 bytes (ATT default MTU 23).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bumble import data_types
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.gatt import Characteristic, CharacteristicValue, Service
from bumble.hci import HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR

from mujo_edge.errors import ConfigError, UnknownNameError
from mujo_edge.firmware_bridge.errors import PeripheralStateError
from mujo_edge.firmware_bridge.sim.link import AnyLink, resolve_link

logger = logging.getLogger(__name__)

WriteHandler = Callable[[bytes], Awaitable[None] | None]
"""Called with the bytes a central wrote (with or without response); may be async."""

ReadHandler = Callable[[], Awaitable[bytes] | bytes]
"""Returns the value a central reads; may be async."""

NotificationFilter = Callable[[str, bytes], float | None]
"""`(characteristic uuid, value) -> None` to drop the notification, or a delay in seconds (0 = send now)."""

_PROPERTY_FLAGS: dict[str, Characteristic.Properties] = {
    "read": Characteristic.Properties.READ,
    "write": Characteristic.Properties.WRITE,
    "write-without-response": Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
    "notify": Characteristic.Properties.NOTIFY,
    "indicate": Characteristic.Properties.INDICATE,
}


@dataclass(frozen=True)
class CharacteristicSpec:
    """One characteristic. `properties` use bleak's names: read, write, write-without-response, notify, indicate."""

    uuid: str
    properties: tuple[str, ...]
    value: bytes = b""
    on_write: WriteHandler | None = None
    on_read: ReadHandler | None = None

    def __post_init__(self) -> None:
        unknown = [p for p in self.properties if p not in _PROPERTY_FLAGS]
        if unknown:
            known = sorted(_PROPERTY_FLAGS)
            raise ConfigError(f"characteristic {self.uuid}: unknown {unknown}; known: {known}", field="properties")


@dataclass(frozen=True)
class ServiceSpec:
    """One primary service; `advertise` puts its UUID in the advertising data."""

    uuid: str
    characteristics: tuple[CharacteristicSpec, ...] = ()
    advertise: bool = True


@dataclass
class PeripheralStats:
    """Counters for what the peripheral did with notifications (the ground truth for loss measurements)."""

    notified: int = 0
    dropped: int = 0
    delayed: int = 0
    connections: int = 0
    disconnections: int = 0


def _set_event() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


@dataclass
class _Char:
    spec: CharacteristicSpec
    attribute: Characteristic
    value: bytes
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    # The complement of `subscribed`, so that both edges can be awaited (asyncio.Event only waits for set).
    unsubscribed: asyncio.Event = field(default_factory=_set_event)

    def mark(self, subscribed: bool) -> None:
        (self.subscribed if subscribed else self.unsubscribed).set()
        (self.unsubscribed if subscribed else self.subscribed).clear()


class VirtualPeripheral:
    """A named, advertising Bumble device serving GATT services built from `ServiceSpec`s.

    Usage (inside a running asyncio loop):

        async with VirtualPeripheral("Sim", "F0:00:00:00:00:01", [ServiceSpec(SVC, (CharacteristicSpec(
                CHAR, ("read", "notify")),))]) as watch:
            await watch.wait_subscribed(CHAR)
            await watch.notify(CHAR, b"\\x00\\x01")

    Args:
        name: advertised complete local name and GAP device name.
        address: random static address, e.g. "F0:00:00:00:00:01".
        services: the GATT database.
        link: a `SimLink`/`TcpSimLink`, a registered link name, or None for the default in-process link.
        advertising_interval_ms: 20 ms makes connecting take milliseconds (the controller connects on the
            next advertisement it sees).
        max_mtu: the largest ATT MTU the server accepts in an MTU exchange.
        notification_filter: optional fault injection, see `NotificationFilter`.
    """

    def __init__(
        self,
        name: str,
        address: str,
        services: Sequence[ServiceSpec],
        *,
        link: AnyLink | str | None = None,
        advertising_interval_ms: float = 20.0,
        max_mtu: int = 247,
        notification_filter: NotificationFilter | None = None,
    ) -> None:
        self.name = name
        self.address = address.upper()
        self.services = tuple(services)
        self.advertising_interval_ms = advertising_interval_ms
        self.max_mtu = max_mtu
        self.notification_filter = notification_filter
        self.stats = PeripheralStats()
        self._link_arg = link
        self._link: AnyLink | None = None
        self.device: Device | None = None
        self._chars: dict[str, _Char] = {}
        self._connected = asyncio.Event()
        self._disconnected = _set_event()
        self._outbox: asyncio.Queue[tuple[_Char, bytes, float]] = asyncio.Queue()
        self._sender: asyncio.Task[None] | None = None
        self._readvertise: asyncio.Task[None] | None = None
        self._advertise_after_disconnect = True
        self._readvertise_delay = 0.0
        self._adv_lock = asyncio.Lock()

    # lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Create the device on the link, power it on and start advertising."""
        if self.device is not None:
            return
        link = self._link = resolve_link(self._link_arg)
        device = await link.create_device(self.name, self.address)
        device.gatt_server.max_mtu = self.max_mtu
        device.add_services([self._build_service(spec) for spec in self.services])
        device.on(device.EVENT_CONNECTION, self._on_connection)
        device.on("characteristic_subscription", self._on_subscription)
        self.device = device
        await device.power_on()
        self._sender = asyncio.create_task(self._send_loop(), name=f"{self.name}-notify")
        await self.start_advertising()
        logger.debug("peripheral %s (%s) advertising on %s", self.name, self.address, link.name)

    async def stop(self) -> None:
        """Stop advertising, drop any connection and stop the sender."""
        if self.device is None:
            return
        self._advertise_after_disconnect = False
        if self._readvertise is not None:
            # Let a restart in flight finish: cancelling between its HCI commands leaves Bumble's
            # advertising-set bookkeeping inconsistent.
            await asyncio.gather(self._readvertise, return_exceptions=True)
        async with self._adv_lock:
            await self.device.stop_advertising()
        await self.drop_link(readvertise_after=None)
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        self._sender = None
        if self._link is not None:
            await self._link.remove_device(self.address)
        self.device = None

    async def __aenter__(self) -> VirtualPeripheral:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start_advertising(self) -> None:
        """(Re)start connectable advertising with the name and the advertised service UUIDs."""
        if self.device is None:
            raise PeripheralStateError("start() it before advertising", name=self.name, address=self.address)
        self._advertise_after_disconnect = True
        async with self._adv_lock:
            await self.device.start_advertising(
                advertising_data=self.advertising_data(),
                advertising_interval_min=self.advertising_interval_ms,
                advertising_interval_max=self.advertising_interval_ms,
            )

    def advertising_data(self) -> bytes:
        """Flags, the 16- and 128-bit service UUID lists and the complete local name."""
        uuids = [UUID(s.uuid) for s in self.services if s.advertise]
        flags = AdvertisingData.Flags.LE_GENERAL_DISCOVERABLE_MODE | AdvertisingData.Flags.BR_EDR_NOT_SUPPORTED
        structures: list[Any] = [data_types.Flags(flags)]  # 0x06
        short = [u for u in uuids if len(u.to_bytes()) == 2]
        long = [u for u in uuids if len(u.to_bytes()) == 16]
        if short:
            structures.append(data_types.CompleteListOf16BitServiceUUIDs(short))
        if long:
            structures.append(data_types.CompleteListOf128BitServiceUUIDs(long))
        structures.append(data_types.CompleteLocalName(self.name))
        return bytes(AdvertisingData(structures))

    # state -----------------------------------------------------------------------------------------------

    @property
    def connections(self) -> list[Connection]:
        return [] if self.device is None else list(self.device.connections.values())

    @property
    def is_connected(self) -> bool:
        return bool(self.connections)

    def is_subscribed(self, char_uuid: str) -> bool:
        return self._char(char_uuid).subscribed.is_set()

    async def wait_connected(self, timeout: float | None = 5.0) -> None:
        """Wait until a central is connected (`timeout` None: for as long as it takes)."""
        await asyncio.wait_for(self._connected.wait(), timeout)

    async def wait_disconnected(self, timeout: float | None = 5.0) -> None:
        """Wait until no central is connected (returns at once if none is)."""
        await asyncio.wait_for(self._disconnected.wait(), timeout)

    async def wait_subscribed(self, char_uuid: str, timeout: float | None = 5.0) -> None:
        """Wait until a central enabled notifications or indications on `char_uuid`."""
        await asyncio.wait_for(self._char(char_uuid).subscribed.wait(), timeout)

    async def wait_unsubscribed(self, char_uuid: str, timeout: float | None = 5.0) -> None:
        """Wait until no central is subscribed to `char_uuid` (it unsubscribed or disconnected)."""
        await asyncio.wait_for(self._char(char_uuid).unsubscribed.wait(), timeout)

    def mtu(self) -> int:
        """ATT MTU of the current connection (23 until the central exchanges MTUs)."""
        connections = self.connections
        return connections[0].att_mtu if connections else 23

    # GATT ------------------------------------------------------------------------------------------------

    def set_value(self, char_uuid: str, value: bytes) -> None:
        """Set what a read of `char_uuid` returns (when it has no `on_read`)."""
        self._char(char_uuid).value = bytes(value)

    async def notify(self, char_uuid: str, value: bytes) -> None:
        """Send `value` to every central subscribed to `char_uuid` (notification or indication).

        Values longer than MTU-3 are cut, as a real GATT server does. The filter may drop or delay it;
        a delayed value holds back later ones so order is kept.
        """
        char = self._char(char_uuid)
        data = bytes(value)
        delay = 0.0
        if self.notification_filter is not None:
            verdict = self.notification_filter(char.spec.uuid, data)
            if verdict is None:
                self.stats.dropped += 1
                return
            delay = max(0.0, float(verdict))
            if delay > 0:
                self.stats.delayed += 1
        if delay == 0.0 and self._outbox.empty():
            await self._send(char, data)
        else:
            self._outbox.put_nowait((char, data, delay))

    async def flush(self) -> None:
        """Wait until every delayed notification has been sent."""
        await self._outbox.join()

    async def drop_link(self, *, readvertise_after: float | None = 0.0) -> None:
        """Disconnect every central from the peripheral side.

        Args:
            readvertise_after: seconds until advertising resumes (a watch coming back into range);
                None keeps it silent until `start_advertising`.
        """
        if self.device is None:
            return
        if readvertise_after is None:
            self._advertise_after_disconnect = False
        else:
            self._readvertise_delay = readvertise_after
        for connection in self.connections:
            try:
                await connection.disconnect(HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR)
            except Exception as error:  # already going down on the other side
                logger.debug("peripheral %s: disconnect failed: %s", self.name, error)

    # internals -------------------------------------------------------------------------------------------

    def _char(self, char_uuid: str) -> _Char:
        try:
            return self._chars[_key(char_uuid)]
        except KeyError:
            known = [c.spec.uuid for c in self._chars.values()]
            raise UnknownNameError(f"characteristic of {self.name}", char_uuid, known) from None

    def _build_service(self, spec: ServiceSpec) -> Service:
        characteristics = []
        for cspec in spec.characteristics:
            flags = Characteristic.Properties(0)
            for prop in cspec.properties:
                flags |= _PROPERTY_FLAGS[prop]
            permissions = Characteristic.Permissions(0)
            if "read" in cspec.properties:
                permissions |= Characteristic.READABLE
            if "write" in cspec.properties or "write-without-response" in cspec.properties:
                permissions |= Characteristic.WRITEABLE
            attribute: Characteristic = Characteristic(cspec.uuid, flags, permissions)
            state = _Char(cspec, attribute, cspec.value)
            attribute.value = CharacteristicValue(read=self._reader(state), write=self._writer(state))
            self._chars[_key(cspec.uuid)] = state
            characteristics.append(attribute)
        return Service(spec.uuid, characteristics)

    @staticmethod
    def _reader(state: _Char) -> Callable[[Connection], Awaitable[bytes]]:
        async def read(connection: Connection) -> bytes:
            if state.spec.on_read is None:
                return state.value
            result = state.spec.on_read()
            return bytes(await result) if inspect.isawaitable(result) else bytes(result)

        return read

    @staticmethod
    def _writer(state: _Char) -> Callable[[Connection, bytes], Awaitable[None]]:
        async def write(connection: Connection, value: bytes) -> None:
            state.value = bytes(value)
            if state.spec.on_write is not None:
                result = state.spec.on_write(bytes(value))
                if inspect.isawaitable(result):
                    await result

        return write

    async def _send(self, char: _Char, data: bytes) -> None:
        if self.device is None or not self.is_connected:
            return
        props = char.spec.properties
        if "notify" in props:
            await self.device.notify_subscribers(char.attribute, data)
        if "indicate" in props:
            await self.device.indicate_subscribers(char.attribute, data)
        self.stats.notified += 1

    async def _send_loop(self) -> None:
        while True:
            char, data, delay = await self._outbox.get()
            try:
                if delay > 0:
                    await asyncio.sleep(delay)
                await self._send(char, data)
            except Exception as error:  # a lost link must not kill the sender
                logger.debug("peripheral %s: delayed notify failed: %s", self.name, error)
            finally:
                self._outbox.task_done()

    def _on_connection(self, connection: Connection) -> None:
        self.stats.connections += 1
        self._connected.set()
        self._disconnected.clear()
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        logger.debug("peripheral %s: connected to %s", self.name, connection.peer_address)

    def _on_disconnection(self, reason: int) -> None:
        self.stats.disconnections += 1
        if not self.is_connected:
            self._connected.clear()
            self._disconnected.set()
            for char in self._chars.values():
                char.mark(subscribed=False)
        logger.debug("peripheral %s: disconnected (reason 0x%02X)", self.name, reason)
        if self._advertise_after_disconnect:
            self._readvertise = asyncio.create_task(self._advertise_later(self._readvertise_delay))

    async def _advertise_later(self, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        self._readvertise_delay = 0.0
        if self.device is not None and self._advertise_after_disconnect:
            try:
                await self.start_advertising()
            except Exception as error:
                logger.warning("peripheral %s: could not restart advertising: %s", self.name, error)

    def _on_subscription(self, bearer: object, attribute: Characteristic, notify: bool, indicate: bool) -> None:
        for char in self._chars.values():
            if char.attribute is attribute:
                char.mark(subscribed=notify or indicate)


def _key(uuid: str) -> str:
    """Normalise a UUID string so '2A37', '00002a37-0000-1000-8000-00805f9b34fb' and upper case match."""
    return UUID(uuid).to_bytes(force_128=True).hex()
