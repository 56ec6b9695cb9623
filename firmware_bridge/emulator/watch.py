"""`VirtualWatch`: a recording replayed by an emulated watch over a simulated BLE link, in (scaled) real time.

    async with VirtualWatch("polar", t, xyz, speed=20) as watch:          # advertises on the default SimLink
        async with BleakClient(watch.address, backend=BumbleClientBackend) as client:
            ...  # subscribe to the protocol's data_uuid, then perform its start_writes
        await watch.finished.wait()
    watch.delivered   # exactly what went on air: device times, quantised m/s^2

Time model. The watch's clock starts when a host first starts a stream. From then on stream time runs at
`speed` x host time, whether or not anyone listens; the device samples the recording at its nominal rate on its
own clock (a crystal off by `clock_drift_ppm` samples faster or slower in true time and stamps accordingly),
packs samples into the protocol's notification units and sends each unit when its last sample was taken.
Samples taken while the stream is stopped or the link is down are lost (`watch.lost`). At infinite speed there
is no real time: the watch sends as fast as the link takes and pauses while nobody can receive.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque

import numpy as np
from bumble.core import UUID
from bumble.device import Connection

from mujo_edge.errors import ConfigError
from mujo_edge.firmware_bridge.emulator.faults import SampleLog, WatchFaults, WatchStats
from mujo_edge.firmware_bridge.emulator.model import DEVICE_MODELS, DeviceModel
from mujo_edge.firmware_bridge.errors import PeripheralStateError
from mujo_edge.firmware_bridge.protocols.base import PROTOCOLS, Encoder, Protocol, StreamSettings
from mujo_edge.firmware_bridge.samples import STANDARD_GRAVITY
from mujo_edge.firmware_bridge.sim.link import AnyLink
from mujo_edge.firmware_bridge.sim.peripheral import VirtualPeripheral
from mujo_edge.recording import Recording

logger = logging.getLogger(__name__)

DEFAULT_ADDRESS = "F0:00:00:00:00:01"
_MAX_EVENTS = 200


class _Segment:
    """A run of samples at one nominal rate.

    Sample j is at stream time e0 + j / true_rate and at device time d0 + j / rate.
    """

    def __init__(self, e0: float, d0: float, rate: float, drift: float) -> None:
        self.e0, self.d0, self.rate = e0, d0, rate
        self.true_rate = rate * (1.0 + drift)
        self.j = 0

    def times(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        k = self.j + np.arange(n, dtype=np.float64)
        return self.e0 + k / self.true_rate, self.d0 + k / self.rate

    @property
    def next_e(self) -> float:
        return self.e0 + self.j / self.true_rate


def _check_recording(t: np.ndarray, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(t, dtype=np.float64)
    x = np.asarray(xyz, dtype=np.float64)
    if t.ndim != 1 or t.shape[0] < 2:
        raise ConfigError(f"needs shape [N >= 2] (seconds), got {t.shape}", field="t")
    if x.shape != (t.shape[0], 3):
        raise ConfigError(f"needs shape [{t.shape[0]}, 3] (m/s^2), got {x.shape}", field="xyz")
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ConfigError("times must be finite and strictly increasing", field="t")
    if not np.all(np.isfinite(x)):
        raise ConfigError("samples must be finite (drop gaps before replaying)", field="xyz")
    return t, x


class VirtualWatch:
    """An emulated watch of `protocol` replaying `xyz` [N, 3] m/s^2 (specific force) sampled at `t` [N] s.

    Args:
        protocol: a name in `PROTOCOLS` ("polar", "infinitime", "metawear", "banglejs", "mujo").
        t, xyz: the recording; any rate, resampled (linear interpolation) to the rate the host configures.
        name: advertised name (default: a name like the real device's, e.g. "Polar H10 0A1B2C3D").
        address: random static BLE address; give each watch on one link its own.
        speed: stream seconds per host second (2.0 = twice real time); 0 or inf = as fast as possible.
        faults: `WatchFaults` to inject.
        link: the simulated radio (`SimLink`, `TcpSimLink`, a registered name, or None for the default).
        settings: the device's power-on rate and range (default: the device's own); the host's control writes
            replace them, as on the real device.
        loop: replay the recording over and over (then `finished` is never set).

    Ground truth: `delivered` and `lost` (`SampleLog`s), `stats` (`WatchStats`), `finished` (set once the whole
    recording has been sent or lost), `peripheral` (the `VirtualPeripheral`, with its own stats).
    """

    def __init__(
        self,
        protocol: str,
        t: np.ndarray,
        xyz: np.ndarray,
        *,
        name: str | None = None,
        address: str = DEFAULT_ADDRESS,
        speed: float = 1.0,
        faults: WatchFaults = WatchFaults(),
        link: AnyLink | str | None = None,
        settings: StreamSettings | None = None,
        loop: bool = False,
    ) -> None:
        self.protocol: Protocol = PROTOCOLS.get(protocol)
        self._t, self._xyz = _check_recording(t, xyz)
        if math.isnan(speed) or speed < 0:
            raise ConfigError(f"must be > 0 (or 0 / inf for as fast as possible), got {speed}", field="speed")
        self.speed = math.inf if speed == 0 else float(speed)
        if not isinstance(faults, WatchFaults):
            raise ConfigError(f"must be a WatchFaults, got {type(faults).__name__}", field="faults")
        self.faults = faults
        self.loop = loop
        self.model: DeviceModel = DEVICE_MODELS.get(protocol)(self)
        self.settings: StreamSettings = (
            self.protocol.check(settings) if settings is not None else self.model.default_settings
        )
        self.name = name or self.model.default_name
        self.address = address.upper()
        self.peripheral = VirtualPeripheral(
            self.name, self.address, self.model.services(), link=link, max_mtu=faults.max_mtu
        )
        self.delivered = SampleLog(self.protocol.has_device_timestamps)
        self.lost = SampleLog(self.protocol.has_device_timestamps)
        self.stats = WatchStats()
        self.finished = asyncio.Event()
        self.streaming = False
        dt = np.diff(self._t)
        self.duration_s = float(self._t[-1] - self._t[0])
        self._period = self.duration_s + float(np.median(dt))
        self._uuids = [(UUID(c.uuid), c.uuid) for s in self.model.services() for c in s.characteristics]
        self._encoder: Encoder | None = None
        self._rng = np.random.default_rng(faults.seed)
        self._clock_started = asyncio.Event()
        self._state = asyncio.Event()
        self._h0 = 0.0
        self._since = 0.0
        self._outage_end = -math.inf
        self._last_send_e = -math.inf
        self._replan = False
        self._segment: _Segment | None = None
        self._controls: deque[tuple[str, bytes]] = deque()
        self._send_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._control_task: asyncio.Task[None] | None = None

    # lifecycle -----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Power on: advertise and wait for a host."""
        if self._task is not None:
            return
        await self.peripheral.start()
        device = self.peripheral.device
        if device is None:  # start() creates it; a stop() racing this start leaves none
            raise PeripheralStateError("stopped while starting", name=self.name, address=self.address)
        device.on("characteristic_subscription", self._on_subscription)
        device.on(device.EVENT_CONNECTION, self._on_connection)
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-stream")
        logger.info("virtual %s watch %r (%s) advertising", self.protocol.name, self.name, self.address)

    async def stop(self) -> None:
        """Stop streaming and advertising; drop any connection."""
        for task in (self._task, self._control_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._task = self._control_task = None
        await self.peripheral.stop()

    async def __aenter__(self) -> VirtualWatch:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # what device models use (WatchPort) ----------------------------------------------------------------

    def begin_stream(self, settings: StreamSettings, *, new_session: bool = False) -> None:
        first = not self._clock_started.is_set()
        if first:
            self._h0 = asyncio.get_running_loop().time()
            self._clock_started.set()
        changed = settings != self.settings
        if settings.rate_hz != self.settings.rate_hz:
            self._replan = True
        if not self.streaming:
            self._since = 0.0 if first else self._now_e()
        if self._encoder is None or new_session or changed or not self.streaming:
            self.settings = settings
            self._encoder = self.model.make_encoder(settings, self._encoder)
        self.streaming = True
        self.stats.starts += 1
        self._state.set()

    def end_stream(self) -> None:
        self.streaming = False
        self._state.set()

    def mtu(self) -> int:
        return self.peripheral.mtu()

    def device_clock_now(self) -> float:
        return self._now_e() * (1.0 + self.faults.drift)

    def send_control(self, uuid: str, value: bytes) -> None:
        self._controls.append((uuid, bytes(value)))
        if self._control_task is None or self._control_task.done():
            self._control_task = asyncio.create_task(self._flush_controls_locked())

    def record_event(self, text: str, *, rejected: bool = False) -> None:
        logger.debug("%s: %s", self.name, text)
        self.stats.rejected_commands += rejected
        if len(self.stats.events) < _MAX_EVENTS:
            self.stats.events.append(text)

    # clock -----------------------------------------------------------------------------------------------

    def _now_e(self) -> float:
        """Current stream time: host time scaled by speed, or (infinite speed) the next sample's time."""
        if math.isfinite(self.speed) and self._clock_started.is_set():
            return (asyncio.get_running_loop().time() - self._h0) * self.speed
        return self._segment.next_e if self._segment is not None else 0.0

    async def _sleep_until(self, e: float) -> None:
        if math.isfinite(self.speed):
            delay = self._h0 + e / self.speed - asyncio.get_running_loop().time()
            await asyncio.sleep(max(delay, 0.0))
        else:
            await asyncio.sleep(0)

    def _source_times(self, e: np.ndarray) -> np.ndarray:
        return self._t[0] + (np.mod(e, self._period) if self.loop else e)

    def _values(self, source_t: np.ndarray) -> np.ndarray:
        out = np.empty((len(source_t), 3))
        for axis in range(3):
            out[:, axis] = np.interp(source_t, self._t, self._xyz[:, axis])
        limit = self.settings.range_g * STANDARD_GRAVITY  # the sensor saturates at its configured range
        return np.clip(out, -limit, limit)

    # the stream --------------------------------------------------------------------------------------------

    def _deliverable(self) -> bool:
        return self.peripheral.is_connected and self.peripheral.is_subscribed(self.protocol.data_uuid)

    async def _run(self) -> None:
        await self._clock_started.wait()
        drift = self.faults.drift
        seg = self._segment = _Segment(0.0, 0.0, self.settings.rate_hz, drift)
        drops = list(self.faults.drop_link_at_s)
        while True:
            if self._replan:
                self._replan = False
                e0 = max(self._now_e(), seg.next_e)
                seg = self._segment = _Segment(e0, e0 * (1.0 + drift), self.settings.rate_hz, drift)
            if (
                not math.isfinite(self.speed)
                and not (self.streaming and self._deliverable())
                and seg.next_e >= self._outage_end
            ):
                self._state.clear()  # nothing takes real time at infinite speed: wait for a host
                await self._state.wait()
                continue
            e, d = seg.times(self.model.unit_samples(self.settings, self.mtu()))
            keep = np.ones(len(e), dtype=bool)
            if not self.loop:
                keep &= e <= self.duration_s + 1e-9
            if drops:
                keep &= e < drops[0]
            n = int(np.argmin(keep)) if not keep.all() else len(e)
            if n == 0:
                if drops and (self.loop or drops[0] <= self.duration_s):
                    await self._sleep_until(drops[0])
                    await self._drop_link(drops.pop(0))
                    continue
                break
            e, d = e[:n], d[:n]
            await self._sleep_until(float(e[-1]))
            await self._emit(e, d)
            seg.j += n
            if self.loop:
                self.stats.passes = int(seg.next_e // self._period)
        self.stats.passes = 1
        self._state.clear()
        await self._flush_controls_locked()
        self.finished.set()
        logger.info(
            "%s: recording finished (%d samples sent, %d lost)",
            self.name,
            self.stats.samples_sent,
            self.stats.samples_lost,
        )

    async def _emit(self, e: np.ndarray, d: np.ndarray) -> None:
        """One notification unit's samples: encode and send, or account for them as lost."""
        source_t = self._source_times(e)
        xyz = self._values(source_t)
        if not self.streaming:
            self._lose(e, source_t, None, xyz, offline=True)
            return
        taken = (e >= self._since) & (e >= self._outage_end)  # samples taken before the (re)start are gone
        if not taken.all():
            self._lose(e[~taken], source_t[~taken], None, xyz[~taken], offline=True)
            e, d, source_t, xyz = e[taken], d[taken], source_t[taken], xyz[taken]
            if len(e) == 0:
                return
        if not (self._deliverable() or self.model.keeps_running_offline):
            self._lose(e, source_t, None, xyz, offline=True)
            return
        encoder = self._encoder
        if encoder is None:  # begin_stream() makes one before anything streams; nothing can be encoded without
            self._lose(e, source_t, None, xyz, offline=True)
            return
        t_proto = self.model.device_times(d)
        quantised = encoder.quantise(xyz)
        if not self.model.accept_unit(quantised):
            self.stats.samples_unchanged += len(e)
            return
        payloads = encoder.encode(xyz, t_proto, mtu=self.mtu())
        on_air = self.model.on_air_times(t_proto, self.settings) if t_proto is not None else None
        if self.faults.drop_packet_prob > 0 and self._rng.random() < self.faults.drop_packet_prob:
            self._lose(e, source_t, on_air, quantised, offline=False)
            self.model.on_unit_lost(len(e))
            return
        if self.faults.jitter_s > 0:
            target = max(float(e[-1]) + self._rng.uniform(0.0, self.faults.jitter_s), self._last_send_e)
            self._last_send_e = target
            await self._sleep_until(target)
        if not self._deliverable():
            self._lose(e, source_t, on_air, quantised, offline=True)
            return
        async with self._send_lock:
            await self._flush_controls()
            for payload in payloads:
                await self.peripheral.notify(self.protocol.data_uuid, payload)
            sent = self._deliverable()
        if not sent:  # the link went down while the unit was going out
            self._lose(e, source_t, on_air, quantised, offline=True)
            return
        self.delivered.add(e, source_t, on_air, quantised)
        self.stats.samples_sent += len(e)
        self.stats.packets_sent += 1
        self.stats.notifications += len(payloads)

    def _lose(
        self, e: np.ndarray, source_t: np.ndarray, on_air: np.ndarray | None, xyz: np.ndarray, *, offline: bool
    ) -> None:
        if self.protocol.has_device_timestamps and on_air is None:
            on_air = np.full(len(e), np.nan)  # never encoded: no on-air time exists
        self.lost.add(e, source_t, on_air, xyz)
        if offline:
            self.stats.samples_lost_offline += len(e)
        else:
            self.stats.samples_lost_dropped += len(e)
            self.stats.packets_dropped += 1

    async def _drop_link(self, at_e: float) -> None:
        self.stats.link_drops += 1
        self._outage_end = at_e + self.faults.reconnect_after_s
        delay = self.faults.reconnect_after_s / self.speed if math.isfinite(self.speed) else 0.0
        self.record_event(f"link dropped at stream time {at_e:.3f} s")
        await self.peripheral.drop_link(readvertise_after=delay)

    # control output ----------------------------------------------------------------------------------------

    async def _flush_controls(self) -> None:
        while self._controls:
            uuid, value = self._controls.popleft()
            try:
                await self.peripheral.notify(uuid, value)
            except Exception as error:  # a host that went away must not stop the watch
                logger.debug("%s: control notify on %s failed: %s", self.name, uuid, error)

    async def _flush_controls_locked(self) -> None:
        async with self._send_lock:
            await self._flush_controls()

    # link events -------------------------------------------------------------------------------------------

    def _on_subscription(self, bearer: object, attribute: object, notify: bool, indicate: bool) -> None:
        uuid = getattr(attribute, "uuid", None)
        for key, text in self._uuids:
            if key == uuid:
                self.model.on_subscription(text, notify or indicate)
                break
        self._state.set()

    def _on_connection(self, connection: Connection) -> None:
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        self._state.set()

    def _on_disconnection(self, reason: int) -> None:
        self.model.on_disconnect()
        self._state.set()


def _acc_columns(recording: Recording) -> list[int]:
    by_placement: dict[str, dict[str, int]] = {}
    for i, channel in enumerate(recording.channels):
        if channel.sensor == "acc":
            by_placement.setdefault(channel.placement, {})[channel.axis] = i
    complete = {p: axes for p, axes in by_placement.items() if set(axes) == {"x", "y", "z"}}
    if not complete:
        raise ConfigError(
            f"recording {recording.recording_id} has no x/y/z accelerometer channels "
            f"({', '.join(recording.channel_names)})",
            field="channels",
        )
    axes = complete.get("wrist") or next(iter(complete.values()))
    return [axes["x"], axes["y"], axes["z"]]


def watch_from_recording(protocol: str, recording: Recording, **kwargs: object) -> VirtualWatch:
    """A `VirtualWatch` replaying the recording's wrist accelerometer (or its first x/y/z accelerometer).

    Grid points the resampler marked invalid (gaps) are left out; keyword arguments go to `VirtualWatch`.
    """
    columns = _acc_columns(recording)
    valid = recording.valid & np.isfinite(recording.x[:, columns]).all(axis=1)
    kwargs.setdefault("name", None)
    return VirtualWatch(protocol, recording.t[valid], recording.x[valid][:, columns].astype(np.float64), **kwargs)  # type: ignore[arg-type]
