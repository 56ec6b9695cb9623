"""`WatchClient`: one watch's accelerometer stream over bleak, supervised, on the host clock.

    async with WatchClient("polar", name="Polar H10 1234", on_samples=print) as watch:
        await asyncio.sleep(60)
        print(watch.stats)

Flow per connection: scan (by address, name or the protocol's service UUID), connect (MTU 247 is requested by
BlueZ itself; the simulator backend takes `mtu=`), subscribe to the data characteristic FIRST, then run the
protocol's start writes in order (honouring their pauses). Each notification is decoded, placed on the host
clock (`StreamTimer`) and delivered as `DeviceSamples`, to the `on_samples` callback and/or `samples()`.
When the link drops the supervisor reconnects with exponential backoff, re-subscribes, resets the decoder and
re-runs the start writes; the time spent away is counted as a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from mujo_edge.errors import ConfigError
from mujo_edge.firmware_bridge.client.control import ControlHandler, control_handler
from mujo_edge.firmware_bridge.client.types import (
    ClientStats,
    DeviceId,
    DeviceSamples,
    ReconnectPolicy,
    WatchConnectionError,
    default_settings,
    wall_clock,
)
from mujo_edge.firmware_bridge.clock import StreamTimer
from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.protocols import PROTOCOLS, StreamSettings

log = logging.getLogger(__name__)

_END = object()  # queue sentinel: the stream ended


class WatchClient:
    """A supervised accelerometer stream from one watch; an async context manager shaped like bleak's clients.

    Args:
        protocol: registry name: "mujo", "polar", "infinitime", "banglejs" or "metawear".
        name / address: which watch; neither = the first one advertising the protocol's service.
        settings: rate and range to start the stream with (default: 50 Hz +-8 g where the device has them).
        on_samples: called in the event loop with every `DeviceSamples`; keep it quick.
        on_streaming: called in the event loop with True once the stream (re)started (`stats.reconnects` already
            counts it) and with False when the link is lost; keep it quick.
        reconnect: backoff and attempt limit for (re)connecting.
        scanner_backend / client_backend: bleak backend classes (the simulator's Bumble backends); None = the
            platform's. backend_kwargs: extra keyword arguments for both (e.g. `{"link": link}`).
        mtu: ATT MTU requested by the simulator backend (real stacks negotiate it themselves).
        host_clock: host time in seconds (default: epoch-anchored monotonic time). The emulator's tests pass a
            clock scaled by its speed so a 20x replay keeps its real-time timestamps.
        queue_batches: bound of the `samples()` queue (the oldest batch is dropped and counted when full).
    """

    def __init__(
        self,
        protocol: str,
        *,
        name: str | None = None,
        address: str | None = None,
        settings: StreamSettings | None = None,
        on_samples: Callable[[DeviceSamples], None] | None = None,
        on_streaming: Callable[[bool], None] | None = None,
        reconnect: ReconnectPolicy = ReconnectPolicy(),
        scanner_backend: type | None = None,
        client_backend: type | None = None,
        backend_kwargs: dict[str, Any] | None = None,
        mtu: int = 247,
        scan_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        start_timeout: float = 2.0,
        host_clock: Callable[[], float] | None = None,
        queue_batches: int = 10_000,
    ) -> None:
        self.protocol = PROTOCOLS.get(protocol)
        self.settings = self.protocol.check(settings) if settings is not None else default_settings(self.protocol)
        if queue_batches < 1:
            raise ConfigError(f"must be >= 1, got {queue_batches}", field="queue_batches")
        self.name = name
        self.address = address.upper() if address else None
        self.on_samples = on_samples
        self.on_streaming = on_streaming
        self.reconnect = reconnect
        self.scanner_backend = scanner_backend
        self.client_backend = client_backend
        self.backend_kwargs = dict(backend_kwargs or {})
        self.mtu = mtu
        self.scan_timeout = scan_timeout
        self.connect_timeout = connect_timeout
        self.start_timeout = start_timeout
        self.now = host_clock or wall_clock()
        self.device: DeviceId | None = None
        self.decoder = self.protocol.decoder(self.settings)
        self.timer = StreamTimer(
            self.settings.rate_hz,
            device_timestamps=self.protocol.has_device_timestamps,
            retime_stretched=self.protocol.has_device_timestamps and not self.protocol.has_sequence_numbers,
            range_g=self.settings.range_g,
            protocol=self.protocol.name,
        )
        self._queue: asyncio.Queue[object] = asyncio.Queue(maxsize=queue_batches)
        self._client: Any = None  # the BleakClient of the current connection
        self._control: ControlHandler | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()
        self._stopping = asyncio.Event()
        self._closing = False
        self._streaming = False
        self.error: BaseException | None = None
        self.notifications = self.reconnects = self.decode_errors = self.callback_errors = self.dropped = 0
        self.internal_errors = 0  # decode_errors that were not ProtocolError: bugs, logged with a traceback
        self.last_error: str | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------
    async def __aenter__(self) -> WatchClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Find, connect and start streaming; returns once samples flow (WatchConnectionError if it cannot)."""
        if self._task is not None:
            return
        self._closing = False
        self._ready, self._lost, self._stopping = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.error = None
        self._task = asyncio.create_task(self._supervise(), name=f"watch-{self.protocol.name}")
        waiter = asyncio.create_task(self._ready.wait())
        await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self.error is not None and not self._streaming:
            await self.stop()
            raise self.error

    async def stop(self) -> None:
        """Stop the stream (stop writes, unsubscribe), disconnect and end `samples()`."""
        self._closing = True
        self._stopping.set()
        self._lost.set()
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.connect_timeout + 5)
            except (TimeoutError, Exception):
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        await self._close_connection(graceful=True)
        self._put(_END)

    @property
    def is_streaming(self) -> bool:
        return self._streaming

    # --- supervision ---------------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        failures = 0
        started_once = False
        while not self._closing:
            try:
                await self._connect_and_start()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # bleak errors, timeouts, a refused start: all retried the same way
                failures += 1
                self.last_error = f"{type(e).__name__}: {e}"
                log.info("%s: attempt %d failed: %s", self.address or self.protocol.name, failures, self.last_error)
                await self._close_connection(graceful=False)
                limit = self.reconnect.max_attempts
                if limit is not None and failures >= limit:
                    self.error = (
                        e
                        if isinstance(e, WatchConnectionError)
                        else WatchConnectionError(
                            f"could not {'restart' if started_once else 'start'} the stream: {self.last_error}",
                            address=self.address,
                            attempts=failures,
                        )
                    )
                    self._end_with_error()
                    return
                await self._sleep(self.reconnect.delay(failures))
                continue
            if started_once:
                self.reconnects += 1
            started_once, failures = True, 0
            self._ready.set()
            self._notify_streaming(True)
            await self._lost.wait()
            if self._closing:
                return
            self._streaming = False
            self.timer.disconnected()
            log.warning("%s: link lost; reconnecting", self.device)
            self._notify_streaming(False)
            await self._close_connection(graceful=False)
            await self._sleep(self.reconnect.delay(1))

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0 and not self._closing:
            with contextlib.suppress(TimeoutError):  # the delay passed without a stop
                await asyncio.wait_for(self._stopping.wait(), seconds)

    def _notify_streaming(self, streaming: bool) -> None:
        if self.on_streaming is None:
            return
        try:
            self.on_streaming(streaming)
        except Exception as e:  # a callback bug must not take the supervisor down: count it, keep going
            self.callback_errors += 1
            self.last_error = f"on_streaming raised {type(e).__name__}: {e}"
            log.exception("%s: on_streaming callback failed", self.device)

    def _end_with_error(self) -> None:
        self._ready.set()
        self._put(_END)

    async def _connect_and_start(self) -> None:
        from bleak import BleakClient

        self._lost.clear()  # before the first await: a stop() from here on sets it again
        target = await self._find()
        kwargs = dict(self.backend_kwargs)
        if self.client_backend is not None:
            kwargs["backend"] = self.client_backend
            kwargs.setdefault("mtu", self.mtu)
        client = BleakClient(target, disconnected_callback=self._on_disconnect, timeout=self.connect_timeout, **kwargs)
        self._client = client
        await client.connect()
        self.decoder.reset()
        self._control = control_handler(self.protocol.name, self.decoder)
        # subscribe BEFORE starting: Polar drops the first frames otherwise
        await client.start_notify(self.protocol.data_uuid, lambda _sender, data: self.receive(bytes(data)))
        if self._control is not None and self.protocol.control_uuid is not None:
            char = client.services.get_characteristic(self.protocol.control_uuid)
            if char is not None and {"notify", "indicate"} & set(char.properties):
                await client.start_notify(self.protocol.control_uuid, self._on_control)
        for w in self.protocol.start_writes(self.settings, client.mtu_size):
            await client.write_gatt_char(w.characteristic, w.value, response=w.response)
            if w.pause_after_s:
                await asyncio.sleep(w.pause_after_s)
        if self._control is not None:
            await self._control.wait_started(self.start_timeout)
        if self._lost.is_set():
            raise WatchConnectionError("the link dropped while starting the stream", address=self.address)
        self._streaming = True
        log.info(
            "%s: streaming %s at %g Hz, MTU %d", self.device, self.protocol.name, self.settings.rate_hz, client.mtu_size
        )

    async def _find(self) -> Any:
        """The BLEDevice to connect to (by address string once known: reconnects skip the scan)."""
        if self.device is not None:
            return self.device.address
        from bleak import BleakScanner

        service = self.protocol.service_uuid

        def match(device: Any, adv: Any) -> bool:
            if self.address is not None:
                return device.address.upper() == self.address
            if self.name is not None:
                return self.name in (adv.local_name, device.name)
            return service in [u.lower() for u in adv.service_uuids]

        kwargs = dict(self.backend_kwargs)
        if self.scanner_backend is not None:
            kwargs["backend"] = self.scanner_backend
        found = await BleakScanner.find_device_by_filter(match, timeout=self.scan_timeout, **kwargs)
        if found is None:
            what = self.address or (f"named {self.name!r}" if self.name else f"advertising {self.protocol.name}")
            raise WatchConnectionError(f"no watch {what} found within {self.scan_timeout:g} s", address=self.address)
        self.device = DeviceId(found.address.upper(), found.name or self.name, self.protocol.name)
        self.address = self.device.address
        return found

    async def _close_connection(self, *, graceful: bool) -> None:
        client, self._client = self._client, None
        self._streaming = False
        if client is None:
            return
        try:
            if graceful and client.is_connected:
                for w in self.protocol.stop_writes():
                    await client.write_gatt_char(w.characteristic, w.value, response=w.response)
                await client.stop_notify(self.protocol.data_uuid)
        except Exception as e:  # stopping is best effort: the link may be going down
            log.debug("%s: stop failed: %s", self.device, e)
        try:
            await client.disconnect()
        except Exception as e:
            log.debug("%s: disconnect failed: %s", self.device, e)

    # --- callbacks (run in the event loop) -------------------------------------------------------------------
    def _on_disconnect(self, _client: Any) -> None:
        self._lost.set()

    def _on_control(self, _sender: Any, data: bytearray) -> None:
        if self._control is not None:
            self._control.on_value(bytes(data))
            if self._control.error:
                self.last_error = self._control.error

    def receive(self, data: bytes) -> None:
        """Handle one notification of the data characteristic as arriving now: decode, time, deliver.

        What the BLE callback calls; a replay or a fuzzer feeds notifications here directly (set `device`
        first). A packet that cannot be decoded or timed is a bad packet: counted in `decode_errors` and
        skipped; nothing a packet holds ends the stream.
        """
        arrival = self.now()
        self.notifications += 1
        before = self.decoder.snapshot()
        try:
            batch = self.decoder.decode(data)
            try:
                timed = self.timer.add(batch, arrival)
            except ProtocolError:
                self.decoder.restore(before)  # the clock refused it: judge the next packet against the last good one
                raise
        except ProtocolError as e:
            self.decode_errors += 1
            self.last_error = str(e)
            log.debug("%s: %s", self.device, e)
            return
        except Exception as e:  # a bug must not take the stream down: count it, keep going
            self.decode_errors += 1
            self.internal_errors += 1
            self.last_error = f"{type(e).__name__}: {e}"
            log.exception("%s: cannot decode a notification", self.device)
            return
        if len(timed.t) == 0 or self.device is None:
            return
        samples = DeviceSamples(
            self.device, timed.t, timed.t_device, timed.xyz, timed.gap_before_s, timed.missing_samples
        )
        if self.on_samples is not None:
            try:
                self.on_samples(samples)
            except Exception as e:
                self.callback_errors += 1
                self.last_error = f"on_samples raised {type(e).__name__}: {e}"
                log.exception("%s: on_samples callback failed", self.device)
        self._put(samples)

    def _put(self, item: object) -> None:
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(item)

    # --- consumers -----------------------------------------------------------------------------------------
    async def samples(self) -> AsyncIterator[DeviceSamples]:
        """Every batch in arrival order until `stop()`; raises WatchConnectionError if reconnecting gave up."""
        while True:
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)  # later iterators end too
                if self.error is not None:
                    raise self.error
                return
            yield item  # type: ignore[misc]

    def drain(self) -> list[DeviceSamples]:
        """The batches received but not yet taken from `samples()`, without waiting (the end of the stream, if
        queued, stays for `samples()`): what a consumer that stops takes so it leaves nothing counted behind."""
        out: list[DeviceSamples] = []
        ended = False
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _END:
                ended = True
            else:
                out.append(item)  # type: ignore[arg-type]
        if ended:
            self._queue.put_nowait(_END)
        return out

    @property
    def stats(self) -> ClientStats:
        t = self.timer.stats()
        client = self._client
        return ClientStats(
            device=self.device,
            connected=self._streaming,
            mtu=client.mtu_size if client is not None and client.is_connected else None,
            notifications=self.notifications,
            samples=t.samples,
            gaps=t.gaps,
            missing_samples=t.missing_samples,
            measured_rate_hz=t.measured_rate_hz,
            nominal_rate_hz=self.settings.rate_hz,
            drift_ppm=t.drift_ppm,
            latency_s=t.latency_s,
            reconnects=self.reconnects,
            decode_errors=self.decode_errors,
            callback_errors=self.callback_errors,
            dropped_batches=self.dropped,
            saturated_samples=t.saturated_samples,
            last_error=self.last_error,
        )
