"""bleak backends over a simulated Bumble radio, so the unchanged bleak API talks to virtual peripherals.

    device = await BleakScanner.find_device_by_name("Sim", backend=BumbleScannerBackend)
    async with BleakClient(device, backend=BumbleClientBackend) as client:
        await client.start_notify(CHAR, on_data)

Extra keyword arguments reach the backends: `link=` (a `SimLink`/`TcpSimLink` or a registered name; default:
the in-process "default" link) and, for the client, `mtu=` (the ATT MTU requested on connect, 247 like BlueZ;
None skips the exchange, leaving 20-byte notifications as on a central that never asks).

The disconnected callback fires on an unsolicited disconnect (the peripheral dropped the link), not after
`disconnect()`, as `BaseBleakClient.set_disconnected_callback` documents.
"""

from __future__ import annotations

import asyncio
import logging
import uuid as uuid_module
from collections.abc import Callable
from typing import Any, Literal

from bleak.args import SizedBuffer
from bleak.assigned_numbers import CHARACTERISTIC_PROPERTIES
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import core
from bumble.att import ATT_Error
from bumble.core import AdvertisingData
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.hci import Address

from mujo_edge.firmware_bridge.sim.link import AnyLink, resolve_link

logger = logging.getLogger(__name__)

DEFAULT_MTU = 247
_UUID_LISTS = (
    AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_32_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
    AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
)


def bleak_uuid(value: core.UUID) -> str:
    """Bumble UUID -> bleak's form: 128-bit, lower case, dashed ("00002a37-0000-1000-8000-00805f9b34fb")."""
    return str(uuid_module.UUID(bytes=bytes(reversed(value.to_bytes(force_128=True)))))


def address_string(address: Address) -> str:
    return address.to_string(with_type_qualifier=False)


class BumbleScannerBackend(BaseBleakScanner):
    """Scans the simulated radio with its shared central device; reports name, address, RSSI, service UUIDs."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: Literal["active", "passive"] = "active",
        *,
        link: AnyLink | str | None = None,
        **kwargs: Any,  # bluez=, cb= and other platform arguments do not apply
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._link = resolve_link(link)
        self._scanning = False

    async def start(self) -> None:
        self.seen_devices = {}
        central = await self._link.central()
        central.on("advertisement", self._on_advertisement)
        self._scanning = True
        await self._link.acquire_scan()

    async def stop(self) -> None:
        if not self._scanning:
            return
        self._scanning = False
        central = await self._link.central()
        central.remove_listener("advertisement", self._on_advertisement)
        await self._link.release_scan()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        data = advertisement.data
        uuids: list[str] = []
        for ad_type in _UUID_LISTS:
            for uuid_list in data.get_all(ad_type):
                if not isinstance(uuid_list, list):  # UUID list types always decode to lists
                    continue
                for value in uuid_list:
                    text = bleak_uuid(value)
                    if text not in uuids:  # the emulated controller repeats the data as a scan response
                        uuids.append(text)
        if not self.is_allowed_uuid(uuids):
            return
        name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(AdvertisingData.SHORTENED_LOCAL_NAME)
        manufacturer = {
            company: bytes(payload) for company, payload in data.get_all(AdvertisingData.MANUFACTURER_SPECIFIC_DATA)
        }
        tx_power = data.get(AdvertisingData.TX_POWER_LEVEL)
        address = address_string(advertisement.address)
        adv = AdvertisementData(
            local_name=name,
            manufacturer_data=manufacturer,
            service_data={},
            service_uuids=uuids,
            tx_power=tx_power,
            rssi=advertisement.rssi,
            platform_data=(advertisement,),
        )
        device = self.create_or_update_device(address, address, name, advertisement, adv)
        self.call_detection_callbacks(device, adv)


class BumbleClientBackend(BaseBleakClient):
    """A GATT client on the simulated radio's central device: connect, MTU, discovery, read, write, notify."""

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None,
        timeout: float,
        services: set[str] | None = None,
        link: AnyLink | str | None = None,
        mtu: int | None = DEFAULT_MTU,
        **kwargs: Any,  # bluez=, winrt= and other platform arguments do not apply
    ) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout)
        self._name = address_or_ble_device.name if isinstance(address_or_ble_device, BLEDevice) else None
        self._link = resolve_link(link)
        self._requested_mtu = mtu
        self._service_filter = services
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._closing = False
        self._subscribers: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        return self._name or self.address.replace(":", "-")

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    # connectivity ---------------------------------------------------------------------------------------

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        if pair:
            logger.info("pairing is not simulated; connecting without it")
        central = await self._link.central()
        async with self._link.connect_lock():
            # Like BlueZ, only connect to a device seen advertising: Bumble's virtual controller ignores
            # LE Create Connection Cancel, so a connect that times out would block every later one.
            await self._wait_for_advertisement(central)
            try:
                connection = await central.connect(Address(self.address), timeout=self._timeout)
            except core.TimeoutError as error:
                message = f"simulated peripheral {self.address} did not connect"
                raise BleakDeviceNotFoundError(self.address, message) from error
        self._connection = connection
        self._closing = False
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        self._peer = Peer(connection)
        try:
            if self._requested_mtu is not None:
                await self._peer.request_mtu(self._requested_mtu)
            await self._discover()
        except BaseException:
            await self.disconnect()
            raise
        logger.debug("connected to %s, MTU %d", self.address, self.mtu_size)

    async def _wait_for_advertisement(self, central: Device) -> None:
        seen = asyncio.Event()
        wanted = self.address.upper()

        def on_advertisement(advertisement: Advertisement) -> None:
            if address_string(advertisement.address) == wanted and advertisement.is_connectable:
                seen.set()

        central.on("advertisement", on_advertisement)
        await self._link.acquire_scan()
        try:
            await asyncio.wait_for(seen.wait(), self._timeout)
        except TimeoutError:
            raise BleakDeviceNotFoundError(
                self.address, f"simulated peripheral {self.address} not advertising on link {self._link.name!r}"
            ) from None
        finally:
            central.remove_listener("advertisement", on_advertisement)
            await self._link.release_scan()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        self._closing = True
        try:
            await connection.disconnect()
        except Exception as error:  # the link may already be down
            logger.debug("disconnect from %s: %s", self.address, error)
        self._reset()

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        logger.info("pairing is not simulated; nothing to do")

    async def unpair(self) -> None:
        logger.info("pairing is not simulated; nothing to do")

    def _reset(self) -> None:
        self._connection = None
        self._peer = None
        self.services = None
        self._subscribers.clear()

    def _on_disconnection(self, reason: int) -> None:
        unsolicited = not self._closing
        self._reset()
        logger.debug("disconnected from %s (reason 0x%02X, unsolicited=%s)", self.address, reason, unsolicited)
        if unsolicited and self._disconnected_callback is not None:
            self._disconnected_callback()

    # discovery ------------------------------------------------------------------------------------------

    async def _discover(self) -> None:
        peer = self._require_peer()
        await peer.discover_all()
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            service_uuid = bleak_uuid(service.uuid)
            if self._service_filter is not None and service_uuid not in self._service_filter:
                continue
            bleak_service = BleakGATTService(service, service.handle, service_uuid)
            collection.add_service(bleak_service)
            for char in service.characteristics:
                properties = [name for bit, name in CHARACTERISTIC_PROPERTIES.items() if int(char.properties) & bit]
                bleak_char = BleakGATTCharacteristic(
                    char, char.handle, bleak_uuid(char.uuid), properties, self._max_write_size, bleak_service
                )
                collection.add_characteristic(bleak_char)
                for descriptor in char.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(descriptor, descriptor.handle, bleak_uuid(descriptor.type), bleak_char)
                    )
        self.services = collection

    def _max_write_size(self) -> int:
        return self.mtu_size - 3

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"not connected to {self.address}")
        return self._peer

    # I/O ------------------------------------------------------------------------------------------------

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return await self._read(characteristic.obj.handle)

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return await self._read(descriptor.handle)

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: SizedBuffer, response: bool) -> None:
        await self._write(characteristic.obj.handle, bytes(data), response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: SizedBuffer) -> None:
        await self._write(descriptor.handle, bytes(data), True)

    async def _read(self, handle: int) -> bytearray:
        peer = self._require_peer()
        try:
            return bytearray(await peer.read_value(handle))
        except ATT_Error as error:
            raise BleakGATTProtocolError(error.error_code) from error

    async def _write(self, handle: int, data: bytes, response: bool) -> None:
        peer = self._require_peer()
        try:
            await peer.write_value(handle, data, with_response=response)
        except ATT_Error as error:
            raise BleakGATTProtocolError(error.error_code) from error

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._require_peer()
        proxy: CharacteristicProxy = characteristic.obj
        if characteristic.handle in self._subscribers:
            await self.stop_notify(characteristic)

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = deliver
        try:
            await peer.subscribe(proxy, deliver, prefer_notify=True)
        except ATT_Error as error:
            self._subscribers.pop(characteristic.handle, None)
            raise BleakGATTProtocolError(error.error_code) from error

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require_peer()
        deliver = self._subscribers.pop(characteristic.handle, None)
        if deliver is not None:
            await peer.unsubscribe(characteristic.obj, deliver)
