"""Several watches at once (`MultiWatch`) and finding watches nearby (`discover`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from mujo_edge.errors import ConfigError
from mujo_edge.firmware_bridge.client.types import ClientStats, DeviceSamples, FoundDevice, protocol_for_uuids
from mujo_edge.firmware_bridge.client.watch import WatchClient

log = logging.getLogger(__name__)


class MultiWatch:
    """Runs several `WatchClient`s together; every batch stays tagged with its device.

        async with MultiWatch([WatchClient("polar", name="A"), WatchClient("mujo", name="B")]) as watches:
            async for batch in watches.samples():
                print(batch.device, len(batch))

    Each client keeps its own callback, clock, decoder and reconnect supervision: one watch dropping out never
    stalls or mixes into another. Entering starts them all (and stops the started ones if one cannot start).
    """

    def __init__(self, clients: Sequence[WatchClient]) -> None:
        if not clients:
            raise ConfigError("MultiWatch needs at least one WatchClient", field="clients")
        if len({id(c) for c in clients}) != len(clients):
            raise ConfigError("the same WatchClient was given twice", field="clients")
        self.clients = tuple(clients)

    async def __aenter__(self) -> MultiWatch:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        # one at a time: scanning and connecting share the adapter, and a failure stops the rest cleanly
        started: list[WatchClient] = []
        try:
            for c in self.clients:
                await c.start()
                started.append(c)
        except BaseException:
            await asyncio.gather(*(c.stop() for c in started), return_exceptions=True)
            raise

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.clients), return_exceptions=True)

    async def samples(self) -> AsyncIterator[DeviceSamples]:
        """Batches of every watch, merged in arrival order, until all clients stopped.

        A client that gives up reconnecting ends its part quietly (its error stays on `client.error`).
        """
        merged: asyncio.Queue[DeviceSamples | None] = asyncio.Queue()

        async def forward(client: WatchClient) -> None:
            try:
                async for batch in client.samples():
                    merged.put_nowait(batch)
            except Exception as e:
                log.warning("%s: stream ended: %s", client.device, e)
            finally:
                merged.put_nowait(None)

        tasks = [asyncio.create_task(forward(c)) for c in self.clients]
        running = len(tasks)
        try:
            while running:
                item = await merged.get()
                if item is None:
                    running -= 1
                    continue
                yield item
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def stats(self) -> dict[str, ClientStats]:
        """Per-device statistics keyed by address (or protocol before the scan found the watch)."""
        return {c.address or c.protocol.name: c.stats for c in self.clients}


async def discover(timeout: float = 5.0, scanner_backend: type | None = None, **kwargs: Any) -> list[FoundDevice]:
    """Watches advertising nearby, strongest signal first, with the protocol detected from their service UUIDs.

    `kwargs` reach bleak's scanner backend (e.g. `link=` for the simulator). Devices advertising no known
    service are listed with protocol None (their service may only show after connecting).
    """
    from bleak import BleakScanner

    if scanner_backend is not None:
        kwargs["backend"] = scanner_backend
    found = await BleakScanner.discover(timeout=timeout, return_adv=True, **kwargs)
    out = []
    for device, adv in found.values():
        uuids = tuple(u.lower() for u in adv.service_uuids)
        out.append(
            FoundDevice(
                name=adv.local_name or device.name,
                address=device.address.upper(),
                rssi=adv.rssi,
                protocol=protocol_for_uuids(uuids),
                service_uuids=uuids,
            )
        )
    return sorted(out, key=lambda d: -(d.rssi if d.rssi is not None else -999))
