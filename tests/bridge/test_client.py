"""`WatchClient` against minimal virtual watches (a VirtualPeripheral + each protocol's own Encoder) on Bumble.

The watches here are deliberately small (not the emulator): they stream a known signal at a fixed rate, scaled
by `SPEED`, and the client's host clock is scaled the same way, so timing is realistic in stream time.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bumble")
pytest.importorskip("bleak")

from mujo_edge.errors import ConfigError, UnknownNameError
from mujo_edge.firmware_bridge.client import (
    DeviceSamples,
    MultiWatch,
    ReconnectPolicy,
    WatchClient,
    WatchConnectionError,
    default_settings,
    discover,
    protocol_for_uuids,
)
from mujo_edge.firmware_bridge.protocols import PROTOCOLS, StreamSettings, banglejs, infinitime, metawear, mujo_profile
from mujo_edge.firmware_bridge.protocols import polar_control as pc
from mujo_edge.firmware_bridge.sim import (
    BumbleClientBackend,
    BumbleScannerBackend,
    CharacteristicSpec,
    ServiceSpec,
    VirtualPeripheral,
)

_spec = importlib.util.spec_from_file_location("_bridge_waiting", Path(__file__).with_name("waiting.py"))
assert _spec is not None and _spec.loader is not None
waiting = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(waiting)
Arrivals = waiting.Arrivals

SPEED = 4.0
SIM = {"scanner_backend": BumbleScannerBackend, "client_backend": BumbleClientBackend}
FAST = ReconnectPolicy(max_attempts=20, initial_s=0.05, max_s=0.5)
SENSOR_STARTUP_S = 0.01  # host seconds from the start command to the first sample
PER_TICK = {"mujo": 5, "polar": 5, "banglejs": 10, "infinitime": 1, "metawear": 3}


def run(coro_fn: Callable[[], Awaitable[None]], timeout: float = 40.0) -> None:
    async def guarded() -> None:
        await asyncio.wait_for(coro_fn(), timeout)

    asyncio.run(guarded())


def scaled_clock(speed: float = SPEED) -> Callable[[], float]:
    m0 = time.monotonic()
    return lambda: 1.7e9 + speed * (time.monotonic() - m0)


def signal(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 50.0
    return np.stack([np.sin(t * 3 + seed), np.cos(t * 2), 9.0 + 0.1 * np.sin(t)], axis=1) + rng.normal(0, 0.3, (n, 3))


class MiniWatch:
    """A virtual watch speaking `protocol`: GATT per protocol, start/stop from the host's writes, real-time paced.

    Sample i is taken at device time 10 + i / rate; it is put on air when streaming and subscribed, else lost
    (the sampling clock keeps running, like a watch whose host walked away). `sent` holds the indices put on air.
    """

    def __init__(self, protocol: str, name: str, address: str, xyz: np.ndarray, speed: float = SPEED) -> None:
        self.protocol = PROTOCOLS.get(protocol)
        self.settings = default_settings(self.protocol)
        self.rate = self.settings.rate_hz
        self.encoder = self.protocol.encoder(self.settings)
        self.xyz = xyz
        self.speed = speed
        self.per_tick = PER_TICK[protocol]
        self.streaming = protocol == "infinitime"  # streams to any subscriber
        self.sent: list[int] = []
        self.lost = 0
        self.garbage: list[bytes] = []
        self._rx = b""
        self._task: asyncio.Task[None] | None = None
        self.peripheral = VirtualPeripheral(name, address, [self._service()])
        self.done = asyncio.Event()
        self._commanded = asyncio.Event()  # set by every control write the watch obeys

    def _service(self) -> ServiceSpec:
        p = self.protocol
        data = CharacteristicSpec(p.data_uuid, ("notify",))
        if p.name == "mujo":
            chars = (
                data,
                CharacteristicSpec(mujo_profile.CONFIG_UUID, ("read", "write"), on_write=self._mujo),
                CharacteristicSpec(mujo_profile.STATUS_UUID, ("read", "notify")),
            )
        elif p.name == "polar":
            chars = (
                CharacteristicSpec(
                    pc.CONTROL_UUID, ("read", "write", "indicate"), value=b"\x0f\x04", on_write=self._polar
                ),
                data,
            )
        elif p.name == "infinitime":
            chars = (CharacteristicSpec(infinitime.STEP_COUNT_UUID, ("read", "notify")), data)
        elif p.name == "metawear":
            chars = (
                CharacteristicSpec(metawear.COMMAND_UUID, ("write", "write-without-response"), on_write=self._metawear),
                data,
            )
        else:
            chars = (
                CharacteristicSpec(banglejs.RX_UUID, ("write", "write-without-response"), on_write=self._bangle),
                data,
            )
        return ServiceSpec(p.service_uuid, chars)

    def _mujo(self, value: bytes) -> None:
        self.streaming = mujo_profile.MujoConfig.decode(value).streaming
        self._commanded.set()

    def _polar(self, value: bytes) -> None:
        op = value[0]
        self.streaming = op == pc.ControlOp.START
        self._commanded.set()
        # answered by indication, outside the write handler
        asyncio.get_running_loop().call_soon(
            lambda: asyncio.ensure_future(self.peripheral.notify(pc.CONTROL_UUID, bytes([0xF0, op, 2, 0, 0])))
        )

    def _metawear(self, value: bytes) -> None:
        if value == metawear.START:
            self.streaming = True
        elif value == metawear.STOP:
            self.streaming = False
        self._commanded.set()

    def _bangle(self, value: bytes) -> None:
        # Only a console line that calls the function acts; the uploaded app's own lines (`function
        # mujoStart(...) {`, an indented `mujoStop();` inside it) merely define it.
        self._rx += value
        if b"\x10mujoStart(" in self._rx:
            self.streaming, self._rx = True, b""
        elif b"\x10mujoStop(" in self._rx:
            self.streaming, self._rx = False, b""
        self._commanded.set()

    async def __aenter__(self) -> MiniWatch:
        await self.peripheral.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.peripheral.stop()

    async def _run(self) -> None:
        period = self.per_tick / self.rate / self.speed
        start = None
        i = 0
        while i < len(self.xyz):
            live = self.streaming and self.peripheral.is_subscribed(self.protocol.data_uuid)
            if start is None:
                if not live:  # the clock starts with the first stream: wait for a subscriber and a start
                    await self.peripheral.wait_subscribed(self.protocol.data_uuid, timeout=None)
                    await waiting.wait_until(lambda: self.streaming, self._commanded, timeout=None)
                    # The sensor powers up before its first sample (device time; it also lets the host finish
                    # the start exchange, so the first notification is not queued behind it).
                    await asyncio.sleep(SENSOR_STARTUP_S)
                    continue
                start = time.monotonic()
            k = np.arange(i, min(i + self.per_tick, len(self.xyz)))
            if live and self.peripheral.is_connected:
                t_dev = 10.0 + k / self.rate
                for payload in self.encoder.encode(self.xyz[k], t_dev, mtu=self.peripheral.mtu()):
                    await self.peripheral.notify(self.protocol.data_uuid, payload)
                self.sent.extend(int(j) for j in k)
            else:
                self.lost += len(k)
            for g in self.garbage:
                await self.peripheral.notify(self.protocol.data_uuid, g)
            self.garbage.clear()
            i += len(k)
            # Real-time pacing of the watch's sampling clock: time itself is what is emulated here.
            await asyncio.sleep(max(0.0, start + (i / self.per_tick) * period - time.monotonic()))
        self.done.set()


def client(protocol: str, name: str, **kw: object) -> WatchClient:
    return WatchClient(protocol, name=name, reconnect=FAST, host_clock=scaled_clock(), **SIM, **kw)


def received_last(watch: MiniWatch, got: list[DeviceSamples]) -> bool:
    """Whether the last sample the watch put on air has arrived (it always does: the link is up at the end)."""
    if not got or not watch.sent:
        return False
    last = watch.encoder.quantise(watch.xyz[watch.sent[-1:]])
    return bool(np.array_equal(got[-1].xyz[-1:], last))


async def collect_until_done(watch: MiniWatch, got: Arrivals[DeviceSamples]) -> None:
    """Wait until the watch has streamed its whole signal and the client has received its last sample."""
    await asyncio.wait_for(watch.done.wait(), 30)
    await got.until(lambda g: received_last(watch, list(g)), what="the watch's last sample")


@pytest.mark.parametrize("protocol", ["mujo", "polar", "infinitime", "banglejs", "metawear"])
def test_every_sample_in_order(protocol: str) -> None:
    seconds = {"infinitime": 3.0, "banglejs": 6.0}.get(protocol, 8.0)  # stream seconds (real: / SPEED)
    rate = default_settings(PROTOCOLS.get(protocol)).rate_hz
    xyz = signal(int(seconds * rate), seed=1)

    async def main() -> None:
        got: Arrivals[DeviceSamples] = Arrivals()
        async with (
            MiniWatch(protocol, f"W-{protocol}", "F0:00:00:00:01:01", xyz) as watch,
            client(protocol, f"W-{protocol}", on_samples=got.append) as c,
        ):
            await collect_until_done(watch, got)
            stats = c.stats
        assert watch.lost == 0 and watch.sent == list(range(len(xyz)))
        assert got and all(b.device.name == f"W-{protocol}" and b.device.protocol == protocol for b in got)
        received = np.concatenate([b.xyz for b in got])
        np.testing.assert_array_equal(received, watch.encoder.quantise(xyz))
        t = np.concatenate([b.t for b in got])
        assert np.all(np.diff(t) > 0)
        assert sum(b.missing_samples for b in got) == 0 and stats.gaps == 0 and stats.loss_fraction == 0.0
        assert stats.samples == len(xyz) and stats.decode_errors == 0 and stats.reconnects == 0
        assert stats.measured_rate_hz == pytest.approx(rate, rel=0.15)
        if PROTOCOLS.get(protocol).has_device_timestamps:
            t_dev = np.concatenate([b.t_device for b in got])
            np.testing.assert_allclose(t_dev - t_dev[0], np.arange(len(xyz)) / rate, atol=2e-3)
            # device times mapped to the (scaled) host clock: spacing as on the device, within jitter
            np.testing.assert_allclose(np.diff(t), 1 / rate, atol=0.01)
            assert stats.latency_s is not None

    run(main)


@pytest.mark.parametrize("protocol", ["mujo", "polar", "banglejs", "infinitime", "metawear"])
def test_reconnect_counts_every_sample_delivered_or_missing(protocol: str) -> None:
    rate = default_settings(PROTOCOLS.get(protocol)).rate_hz
    xyz = signal(int(12.0 * rate), seed=2)

    async def main() -> None:
        got: Arrivals[DeviceSamples] = Arrivals()
        async with (
            MiniWatch(protocol, "Dropper", "F0:00:00:00:02:02", xyz) as watch,
            client(protocol, "Dropper", on_samples=got.append) as c,
        ):
            # Drop the link 2.5 s into the stream (stream time: the watch's own clock, scaled by SPEED).
            await got.until(lambda g: sum(len(b) for b in g) >= 2.5 * rate, timeout=10, what="2.5 s of samples")
            await watch.peripheral.drop_link(readvertise_after=0.2)
            await collect_until_done(watch, got)
            stats = c.stats
        delivered = sum(len(b) for b in got)
        missing = sum(b.missing_samples for b in got)
        # a notification on air when the link dropped is lost too: it counts in the gap like the others
        assert len(watch.sent) - 2 * PER_TICK[protocol] <= delivered <= len(watch.sent) and watch.lost > 0
        assert stats.reconnects == 1 and stats.gaps >= 1 and stats.missing_samples == missing
        truth = watch.sent[-1] - watch.sent[0] + 1
        if PROTOCOLS.get(protocol).has_device_timestamps:
            assert delivered + missing == truth, (delivered, missing, truth)
        else:  # estimated from the host time spent reconnecting, at the nominal rate
            assert abs(delivered + missing - truth) <= max(3, 0.05 * watch.lost), (delivered, missing, truth)
        gap = next(b for b in got if b.missing_samples)
        assert gap.gap_before_s == pytest.approx(gap.missing_samples / rate, abs=2.5 / rate)
        assert np.all(np.diff(np.concatenate([b.t for b in got])) > 0)

    run(main)


def test_two_watches_at_once_are_never_mixed() -> None:
    a_xyz, b_xyz = signal(300, seed=3), signal(300, seed=4) + 5.0

    async def main() -> None:
        async with (
            MiniWatch("mujo", "WatchA", "F0:00:00:00:03:0A", a_xyz) as a,
            MiniWatch("polar", "WatchB", "F0:00:00:00:03:0B", b_xyz) as b,
        ):
            got: dict[str, list[DeviceSamples]] = {"WatchA": [], "WatchB": []}
            ca, cb = client("mujo", "WatchA"), client("polar", "WatchB")
            async with MultiWatch([ca, cb]) as both:

                async def consume() -> None:
                    async for batch in both.samples():
                        got[batch.device.name].append(batch)
                        if sum(len(x) for x in got["WatchA"]) == 300 and sum(len(x) for x in got["WatchB"]) == 300:
                            return

                await asyncio.wait_for(consume(), 20)
                assert set(both.stats) == {"F0:00:00:00:03:0A", "F0:00:00:00:03:0B"}
        np.testing.assert_array_equal(np.concatenate([x.xyz for x in got["WatchA"]]), a.encoder.quantise(a_xyz))
        np.testing.assert_array_equal(np.concatenate([x.xyz for x in got["WatchB"]]), b.encoder.quantise(b_xyz))
        assert {x.device.protocol for x in got["WatchA"]} == {"mujo"}
        assert {x.device.address for x in got["WatchB"]} == {"F0:00:00:00:03:0B"}

    run(main)


def test_garbage_notifications_are_counted_not_fatal() -> None:
    xyz = signal(200, seed=5)

    async def main() -> None:
        async with MiniWatch("mujo", "Noisy", "F0:00:00:00:04:04", xyz) as watch, client("mujo", "Noisy") as c:
            watch.garbage += [b"garbage!", b"\xff" * 20, b"\x01\x01" + bytes(8)]  # short, bad version, bad count
            received = 0
            async for batch in c.samples():
                received += len(batch)
                if received == len(xyz):
                    break
            stats = c.stats
        assert stats.decode_errors == 3 and "mujo" in (stats.last_error or "")
        assert stats.samples == len(xyz) and stats.gaps == 0

    run(main)


def test_discover_detects_protocols_and_missing_watch_raises() -> None:
    async def main() -> None:
        async with (
            MiniWatch("polar", "Polar H10 1", "F0:00:00:00:05:01", signal(10, 0)),
            MiniWatch("infinitime", "InfiniTime", "F0:00:00:00:05:02", signal(10, 0)),
        ):
            found = await discover(0.3, BumbleScannerBackend)
            by_name = {d.name: d for d in found}
            assert by_name["Polar H10 1"].protocol == "polar" and by_name["InfiniTime"].protocol == "infinitime"
            assert all(d.rssi is not None for d in found)
        with pytest.raises(WatchConnectionError, match="no watch named 'Ghost'"):
            await WatchClient(
                "mujo", name="Ghost", scan_timeout=0.3, reconnect=ReconnectPolicy(max_attempts=1), **SIM
            ).start()

    run(main)


def test_settings_and_policy_validation() -> None:
    assert default_settings(PROTOCOLS.get("infinitime")) == StreamSettings(10.0, 2)
    assert default_settings(PROTOCOLS.get("banglejs")) == StreamSettings(50.0, 4)
    assert protocol_for_uuids([mujo_profile.SERVICE_UUID.upper()]) == "mujo"
    assert protocol_for_uuids(["0000180d-0000-1000-8000-00805f9b34fb"]) is None
    with pytest.raises(ConfigError):
        WatchClient("polar", settings=StreamSettings(rate_hz=33.0))
    with pytest.raises(UnknownNameError):
        WatchClient("fitbit")
    with pytest.raises(ConfigError):
        ReconnectPolicy(max_attempts=0)
    p = ReconnectPolicy(initial_s=0.5, max_s=3.0)
    assert [p.delay(i) for i in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
