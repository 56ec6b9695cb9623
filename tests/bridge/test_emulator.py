"""Virtual watches for every protocol, driven by a plain bleak client exactly as the protocol says.

Each test runs its own `asyncio.run` (fresh loop, fresh default link). The data is 10 s of a real SPAR recording.
The client subscribes to the data characteristic, performs `start_writes`, decodes every notification with the
protocol's own decoder and must receive exactly `watch.delivered`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bumble")
pytest.importorskip("bleak")

from bleak import BleakClient, BleakScanner
from bleak.exc import BleakGATTProtocolError

from mujo_edge.channels import ChannelSelection
from mujo_edge.data.prepare import load_recordings
from mujo_edge.data.registry import get_loader
from mujo_edge.errors import ConfigError, UnknownNameError
from mujo_edge.firmware_bridge.emulator import VirtualWatch, WatchFaults, watch_from_recording
from mujo_edge.firmware_bridge.protocols import PROTOCOLS, StreamSettings
from mujo_edge.firmware_bridge.protocols import polar_control as pc
from mujo_edge.firmware_bridge.protocols.banglejs import RX_UUID, TX_UUID
from mujo_edge.firmware_bridge.protocols.mujo_profile import CONFIG_UUID, STATUS_UUID, MujoStatus
from mujo_edge.firmware_bridge.samples import AccBatch
from mujo_edge.firmware_bridge.sim import BumbleClientBackend, BumbleScannerBackend, TcpSimLink

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_bridge_waiting", Path(__file__).with_name("waiting.py"))
assert _spec is not None and _spec.loader is not None
waiting = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(waiting)
SPEED = 20.0
SETTINGS = {
    "polar": StreamSettings(52.0, 8),
    "infinitime": StreamSettings(10.0, 2),
    "metawear": StreamSettings(50.0, 4),
    "banglejs": StreamSettings(50.0, 4),
    "mujo": StreamSettings(50.0, 8),
}
ADDR_A = "F0:00:00:00:00:0A"
ADDR_B = "F0:00:00:00:00:0B"


def run(coro_fn: Callable[[], Awaitable[None]], timeout: float = 30.0) -> None:
    async def guarded() -> None:
        await asyncio.wait_for(coro_fn(), timeout)

    asyncio.run(guarded())


@pytest.fixture(scope="module")
def spar(shared_data: Path) -> list:
    loader = get_loader("spar_watch")
    return load_recordings(loader, shared_data / "spar_watch", ChannelSelection(sensors=("acc",)))


@pytest.fixture(scope="module")
def clip(spar: list) -> tuple[np.ndarray, np.ndarray]:
    """10 s of subject 7's first recording: t [501] s, xyz [501, 3] m/s^2."""
    r = spar[0]
    keep = r.t <= r.t[0] + 10.0
    return r.t[keep], r.x[keep].astype(np.float64)


@dataclass
class Session:
    """What one client saw: decoded batches, decode errors, control point frames, disconnect count.

    `changed` is set on every notification, so a test waits on it (`until`) instead of sleeping.
    """

    batches: list[AccBatch] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    control: list[object] = field(default_factory=list)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_control(self, _: object, data: bytearray) -> None:
        self.control.append(pc.parse_control(bytes(data)))
        self.changed.set()

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        await waiting.wait_until(condition, self.changed, timeout, what)

    async def all_of(self, watch: VirtualWatch, timeout: float = 5.0) -> None:
        """Wait until every sample the watch put on air has arrived (or a decode error ended the wait)."""
        await self.until(
            lambda: self.count() >= len(watch.delivered) or bool(self.errors),
            f"all {len(watch.delivered)} samples on air received (have {self.count()})",
            timeout,
        )

    def xyz(self) -> np.ndarray:
        return np.concatenate([b.xyz for b in self.batches]) if self.batches else np.zeros((0, 3))

    def t_device(self) -> np.ndarray:
        return np.concatenate([b.t_device for b in self.batches])

    def count(self) -> int:
        return sum(len(b) for b in self.batches)


async def start_stream(
    client: BleakClient, name: str, settings: StreamSettings, session: Session, decoder: object
) -> None:
    """Subscribe to data (and Polar's control point), then do what the protocol's start_writes say."""
    proto = PROTOCOLS.get(name)

    def on_data(_: object, data: bytearray) -> None:
        session.payloads.append(bytes(data))
        try:
            session.batches.append(decoder.decode(bytes(data)))
        except Exception as error:  # a test failure, reported below rather than lost in a callback
            session.errors.append(error)
        session.changed.set()

    await client.start_notify(proto.data_uuid, on_data)
    if name == "polar":
        await client.start_notify(pc.CONTROL_UUID, session.on_control)
    for write in proto.start_writes(settings, client.mtu_size):
        await client.write_gatt_char(write.characteristic, write.value, response=write.response)
        if write.pause_after_s:
            # The protocol itself asks the host to pause here (device time): time is what is being followed.
            await asyncio.sleep(write.pause_after_s)


async def stream_once(watch: VirtualWatch, name: str, settings: StreamSettings, **client_kwargs: object) -> Session:
    session = Session()
    decoder = PROTOCOLS.get(name).decoder(settings)
    async with BleakClient(watch.address, backend=BumbleClientBackend, **client_kwargs) as client:
        await start_stream(client, name, settings, session, decoder)
        await asyncio.wait_for(watch.finished.wait(), 20)
        await session.all_of(watch)
    return session


def assert_exact(session: Session, watch: VirtualWatch) -> None:
    assert session.errors == []
    assert session.count() == len(watch.delivered) > 0
    np.testing.assert_array_equal(session.xyz(), watch.delivered.xyz)
    if watch.protocol.has_device_timestamps:
        np.testing.assert_allclose(session.t_device(), watch.delivered.t_device, rtol=0, atol=1e-6)


# every protocol, plain ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SETTINGS))
def test_every_protocol_streams_exactly_what_went_on_air(name: str, clip: tuple[np.ndarray, np.ndarray]) -> None:
    t, xyz = clip
    settings = SETTINGS[name]

    async def main() -> None:
        async with VirtualWatch(name, t, xyz, speed=SPEED) as watch:
            session = await stream_once(watch, name, settings)
        assert_exact(session, watch)
        assert len(watch.lost) == 0 and watch.stats.samples_lost == 0
        expected = int(np.floor(10.0 * settings.rate_hz + 1e-6)) + 1
        if name == "infinitime":  # notifies only when the value changed
            assert len(watch.delivered) + watch.stats.samples_unchanged == expected
        else:
            assert len(watch.delivered) == expected
        # in stream order, on the device's nominal grid, from the real recording
        assert np.all(np.diff(watch.delivered.t_stream) > 0)
        np.testing.assert_allclose(np.diff(watch.delivered.t_source)[:5], 1 / settings.rate_hz)
        raw = np.interp(watch.delivered.t_source, t, xyz[:, 0])
        limit = settings.range_g * 9.80665
        lsb = {"polar": 1e-3, "infinitime": 1 / 1024, "metawear": 1 / 8192, "banglejs": 1e-3, "mujo": 8 / 32768}
        np.testing.assert_allclose(
            watch.delivered.xyz[:, 0], np.clip(raw, -limit, limit), atol=lsb[name] * 9.80665 / 2 + 1e-9
        )
        if name == "polar":
            assert [r.status for r in session.control] == [0]
            d = watch.delivered.t_device
            np.testing.assert_allclose(np.diff(d), 1 / 52.0, atol=1e-6)  # device times reconstructed per sample
            assert 7.0e8 <= d[0] < 7.0e8 + 1  # seconds since 2000-01-01 (the device's clock)

    run(main)


def test_watch_from_recording_uses_the_wrist_accelerometer(spar: list) -> None:
    watch = watch_from_recording("mujo", spar[1], speed=0)
    assert watch.duration_s == pytest.approx(spar[1].duration_s)
    assert watch.speed == np.inf and watch.name == "mujo-watch"


# small MTU ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["infinitime", "metawear", "banglejs", "mujo"])
def test_minimum_mtu_still_streams_everything(name: str, clip: tuple[np.ndarray, np.ndarray]) -> None:
    t, xyz = clip
    t, xyz = t[:151], xyz[:151]

    async def main() -> None:
        async with VirtualWatch(name, t, xyz, speed=SPEED, faults=WatchFaults(max_mtu=23)) as watch:
            session = await stream_once(watch, name, SETTINGS[name])
            assert watch.mtu() == 23 or not watch.peripheral.is_connected
        assert_exact(session, watch)
        assert max(len(p) for p in session.payloads) <= 20

    run(main)


def test_polar_control_point_and_small_mtu_refusal(clip: tuple[np.ndarray, np.ndarray]) -> None:
    t, xyz = clip

    async def main() -> None:
        async with VirtualWatch("polar", t, xyz, speed=SPEED, faults=WatchFaults(max_mtu=23)) as watch:
            session = Session()
            async with BleakClient(watch.address, backend=BumbleClientBackend) as client:
                features = pc.parse_control(bytes(await client.read_gatt_char(pc.CONTROL_UUID)))
                assert features.names >= {"ACC", "ECG"}
                await client.start_notify(pc.DATA_UUID, lambda _, d: session.payloads.append(bytes(d)))
                await client.start_notify(pc.CONTROL_UUID, session.on_control)
                await client.write_gatt_char(pc.CONTROL_UUID, pc.build_get_settings(), response=True)
                for write in PROTOCOLS.get("polar").start_writes(SETTINGS["polar"], client.mtu_size):
                    await client.write_gatt_char(write.characteristic, write.value, response=True)
                await client.write_gatt_char(pc.CONTROL_UUID, pc.build_start(sample_rate=33), response=True)
                await session.until(
                    lambda: sum(r.op == pc.ControlOp.START for r in session.control) == 2, "both START responses"
                )
            *listed, refused, bad_rate = session.control
            assert len(listed) > 1 and [r.more for r in listed] == [True] * (len(listed) - 1) + [False]
            rates = {r for frame in listed for r in frame.settings.sample_rates}
            assert all(r.ok for r in listed) and {50, 52} <= rates
            assert 8 in {g for frame in listed for g in frame.settings.ranges}
            assert (refused.op, refused.status_name) == (pc.ControlOp.START, "INVALID_MTU")
            assert bad_rate.status_name == "INVALID_SAMPLE_RATE"
            assert session.payloads == [] and not watch.streaming and watch.stats.rejected_commands == 2

    run(main)


def test_polar_stream_only_after_start_and_stop_ends_it(clip: tuple[np.ndarray, np.ndarray]) -> None:
    t, xyz = clip

    async def main() -> None:
        async with VirtualWatch("polar", t, xyz, speed=SPEED) as watch:
            session = Session()
            decoder = PROTOCOLS.get("polar").decoder(SETTINGS["polar"])
            async with BleakClient(watch.address, backend=BumbleClientBackend) as client:

                def on_data(_: object, d: bytearray) -> None:
                    session.batches.append(decoder.decode(bytes(d)))
                    session.changed.set()

                await client.start_notify(pc.DATA_UUID, on_data)
                await client.start_notify(pc.CONTROL_UUID, session.on_control)
                await waiting.expect_quiet(session.changed, 0.2, "notification")  # subscribed, not started
                assert session.batches == []
                await start_stream_writes(client, "polar")
                await session.until(lambda: session.count() > 0, "samples after START")
                await client.write_gatt_char(pc.CONTROL_UUID, pc.build_stop(), response=True)
                # Everything put on air before the stop has arrived, and the stop was confirmed ...
                await session.until(
                    lambda: (
                        not watch.streaming
                        and session.count() >= len(watch.delivered)
                        and [r.op for r in session.control][-1:] == [pc.ControlOp.STOP]
                    ),
                    "the stop confirmed and every sample on air received",
                )
                count = session.count()
                await waiting.expect_quiet(session.changed, 0.15, "notification after STOP")  # ... then silence
                assert session.count() == count > 0 and not watch.streaming
            assert [r.op for r in session.control] == [pc.ControlOp.START, pc.ControlOp.STOP]
            np.testing.assert_array_equal(session.xyz(), watch.delivered.xyz)

    run(main)


async def start_stream_writes(client: BleakClient, name: str) -> None:
    for write in PROTOCOLS.get(name).start_writes(SETTINGS[name], client.mtu_size):
        await client.write_gatt_char(write.characteristic, write.value, response=write.response)


# faults ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mujo", "banglejs"])
def test_dropped_packets_show_up_as_sequence_gaps(name: str, clip: tuple[np.ndarray, np.ndarray]) -> None:
    t, xyz = clip
    faults = WatchFaults(drop_packet_prob=0.2, seed=3)

    async def main() -> None:
        async with VirtualWatch(name, t, xyz, speed=SPEED, faults=faults) as watch:
            session = await stream_once(watch, name, SETTINGS[name])
        assert_exact(session, watch)
        assert watch.stats.packets_dropped > 3
        # every dropped packet is a sequence gap (packets before the first one received: its seq, counted from 0),
        # except those after the last packet received
        first_seq = next(b.seq for b in session.batches if len(b))
        gaps = first_seq + sum(b.lost_before for b in session.batches)
        assert gaps == watch.stats.packets_dropped - _packets_after(watch)
        assert len(watch.delivered) + len(watch.lost) == 501
        if name == "mujo":
            assert watch.model.dropped_samples == watch.stats.samples_lost_dropped

    run(main)


def _packets_after(watch: VirtualWatch) -> int:
    """Dropped packets after the last delivered sample (no later packet reveals their gap)."""
    after = watch.lost.t_stream[watch.lost.t_stream > watch.delivered.t_stream[-1]]
    if len(after) == 0:
        return 0
    unit = {"mujo": 10, "banglejs": 10}[watch.protocol.name]
    return int(np.ceil(len(after) / unit))


def test_jitter_delays_but_never_reorders(clip: tuple[np.ndarray, np.ndarray]) -> None:
    t, xyz = clip

    async def main() -> None:
        async with VirtualWatch("mujo", t, xyz, speed=SPEED, faults=WatchFaults(jitter_s=0.4, seed=1)) as watch:
            session = await stream_once(watch, "mujo", SETTINGS["mujo"])
        assert_exact(session, watch)
        assert [b.seq for b in session.batches] == list(range(len(session.batches)))
        assert all(b.lost_before == 0 for b in session.batches)

    run(main)


def test_drop_link_fires_disconnect_then_watch_readvertises_and_gap_is_countable(
    clip: tuple[np.ndarray, np.ndarray],
) -> None:
    t, xyz = clip
    faults = WatchFaults(drop_link_at_s=(3.0,), reconnect_after_s=1.0)
    settings = SETTINGS["mujo"]

    async def main() -> None:
        async with VirtualWatch("mujo", t, xyz, speed=SPEED, faults=faults) as watch:
            session = Session()
            decoder = PROTOCOLS.get("mujo").decoder(settings)
            client = BleakClient(
                watch.address, backend=BumbleClientBackend, disconnected_callback=lambda _: session.dropped.set()
            )
            await client.connect()
            await start_stream(client, "mujo", settings, session, decoder)
            await asyncio.wait_for(session.dropped.wait(), 5)
            assert not client.is_connected and watch.stats.link_drops == 1
            before = session.count()
            await client.connect(timeout=5)  # the watch advertises again after reconnect_after_s
            decoder.reset()
            await start_stream(client, "mujo", settings, session, decoder)
            await asyncio.wait_for(watch.finished.wait(), 10)
            await session.all_of(watch)
            await client.disconnect()
        assert_exact(session, watch)
        assert watch.peripheral.stats.connections == 2
        # every sample from 3 s until the restart is lost, and the device clock shows exactly that many
        t_dev = session.t_device()
        gap = t_dev[before] - t_dev[before - 1]
        missing = round(gap * settings.rate_hz) - 1
        assert missing == len(watch.lost) == watch.stats.samples_lost_offline >= 1.0 * settings.rate_hz
        assert np.all(watch.lost.t_stream >= 3.0)
        assert len(watch.delivered) + len(watch.lost) == 501

    run(main)


@pytest.mark.parametrize("name", ["mujo", "polar", "banglejs"])
def test_clock_drift_scales_device_time_by_the_ppm(name: str, clip: tuple[np.ndarray, np.ndarray]) -> None:
    t, xyz = clip
    ppm = 500.0

    async def main() -> None:
        async with VirtualWatch(name, t, xyz, speed=0, faults=WatchFaults(clock_drift_ppm=ppm)) as watch:
            session = await stream_once(watch, name, SETTINGS[name])
        assert_exact(session, watch)
        d, e = watch.delivered.t_device, watch.delivered.t_stream
        ratio = (d[-1] - d[0]) / (e[-1] - e[0])
        tolerance = 2e-3 / (e[-1] - e[0]) if name == "banglejs" else 1e-9  # Bangle.js times are whole ms
        assert ratio - 1 == pytest.approx(ppm * 1e-6, abs=tolerance)
        # the device samples at its nominal rate on its own clock: the true rate is off by the same factor
        np.testing.assert_allclose(np.diff(e), 1 / (SETTINGS[name].rate_hz * (1 + ppm * 1e-6)))

    run(main)


def test_two_watches_on_one_link_never_mix(spar: list) -> None:
    a, b = spar[0], spar[50]

    async def main() -> None:
        wa = watch_from_recording("mujo", a, name="WatchA", address=ADDR_A, speed=SPEED)
        wb = watch_from_recording("polar", b, name="WatchB", address=ADDR_B, speed=SPEED)
        async with wa, wb:
            sa, sb = Session(), Session()
            da = PROTOCOLS.get("mujo").decoder(SETTINGS["mujo"])
            db = PROTOCOLS.get("polar").decoder(SETTINGS["polar"])
            async with (
                BleakClient(ADDR_A, backend=BumbleClientBackend) as ca,
                BleakClient(ADDR_B, backend=BumbleClientBackend) as cb,
            ):
                await start_stream(ca, "mujo", SETTINGS["mujo"], sa, da)
                await start_stream(cb, "polar", SETTINGS["polar"], sb, db)
                await sa.until(lambda: sa.count() > 100, "100 samples from WatchA")
                await sb.until(lambda: sb.count() > 100, "100 samples from WatchB")
            assert sa.errors == sb.errors == []
        for session, watch in ((sa, wa), (sb, wb)):
            assert session.count() > 100
            n = session.count()
            np.testing.assert_array_equal(session.xyz(), watch.delivered.xyz[:n])
        assert not np.array_equal(sa.xyz()[:100], sb.xyz()[:100])

    run(main)


# control protocol details ---------------------------------------------------------------------------------


def test_banglejs_needs_the_upload_before_streaming(clip: tuple[np.ndarray, np.ndarray]) -> None:
    t, xyz = clip

    async def main() -> None:
        async with VirtualWatch("banglejs", t, xyz, speed=SPEED) as watch:
            text = bytearray()
            changed = asyncio.Event()

            def on_text(_: object, d: bytearray) -> None:
                text.extend(d)
                changed.set()

            async with BleakClient(watch.address, backend=BumbleClientBackend) as client:
                await client.start_notify(TX_UUID, on_text)
                await client.write_gatt_char(RX_UUID, b"\x10mujoStart(50,10);\n", response=False)
                await client.write_gatt_char(RX_UUID, b"1+1\n", response=False)
                # The console answers each line in order: the reply to the second line comes last.
                await waiting.wait_until(lambda: b"1+1\r\n=undefined\r\n" in text, changed, what="the console reply")
            assert b'Uncaught ReferenceError: "mujoStart" is not defined' in text
            assert b"1+1\r\n=undefined\r\n" in text and b"MJ:" not in text
            assert not watch.streaming and watch.stats.rejected_commands == 1

    run(main)


def test_mujo_refuses_a_bad_config_and_notifies_status(clip: tuple[np.ndarray, np.ndarray]) -> None:
    t, xyz = clip

    async def main() -> None:
        async with VirtualWatch("mujo", t, xyz, speed=SPEED) as watch:
            statuses: waiting.Arrivals[MujoStatus] = waiting.Arrivals()
            async with BleakClient(watch.address, backend=BumbleClientBackend) as client:
                await client.start_notify(STATUS_UUID, lambda _, d: statuses.append(MujoStatus.decode(bytes(d))))
                with pytest.raises(BleakGATTProtocolError):
                    await client.write_gatt_char(CONFIG_UUID, b"\x01\x09\x00\x01", response=True)
                await start_stream_writes(client, "mujo")
                await statuses.at_least(1)
                for write in PROTOCOLS.get("mujo").stop_writes():
                    await client.write_gatt_char(write.characteristic, write.value, response=True)
                await statuses.at_least(2)
            assert [s.state.name for s in statuses] == ["STREAMING", "IDLE"]
            assert watch.stats.rejected_commands == 1

    run(main)


def test_bad_arguments_raise_config_errors(clip: tuple[np.ndarray, np.ndarray]) -> None:
    t, xyz = clip
    for kwargs, name in [
        ({"drop_packet_prob": 1.0}, "drop_packet_prob"),
        ({"jitter_s": -1}, "jitter_s"),
        ({"max_mtu": 22}, "max_mtu"),
        ({"drop_link_at_s": (2.0, 1.0)}, "drop_link_at_s"),
        ({"clock_drift_ppm": float("nan")}, "clock_drift_ppm"),
        ({"reconnect_after_s": -1}, "reconnect_after_s"),
        ({"seed": -1}, "seed"),
    ]:
        with pytest.raises(ConfigError) as info:
            WatchFaults(**kwargs)
        assert info.value.field == name
    with pytest.raises(ConfigError, match="speed"):
        VirtualWatch("mujo", t, xyz, speed=-1)
    with pytest.raises(ConfigError, match="xyz"):
        VirtualWatch("mujo", t, xyz[:, :2])
    with pytest.raises(ConfigError, match="t"):
        VirtualWatch("mujo", t[::-1], xyz)
    with pytest.raises(ConfigError, match="rate_hz"):
        VirtualWatch("mujo", t, xyz, settings=StreamSettings(33.0, 8))
    with pytest.raises(UnknownNameError):
        VirtualWatch("fitbit", t, xyz)


# the CLI ----------------------------------------------------------------------------------------------------


def free_port_pair() -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    pytest.skip("no two consecutive free ports")


def test_emulate_cli_streams_over_tcp_and_exits(shared_data: Path) -> None:
    port = free_port_pair()
    command = [
        sys.executable,
        "-m",
        "mujo_edge.cli.emulate",
        "--protocol",
        "mujo",
        "--data",
        "spar_watch",
        "--root",
        str(shared_data / "spar_watch"),
        "--seconds",
        "6",
        "--speed",
        "10",
        "--port",
        str(port),
        "--name",
        "CliWatch",
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    settings = SETTINGS["mujo"]
    session = Session()

    async def main() -> None:
        link = TcpSimLink(port + 1, connect_timeout=20)
        try:
            decoder = PROTOCOLS.get("mujo").decoder(settings)
            device = await BleakScanner.find_device_by_name(
                "CliWatch", timeout=20, backend=BumbleScannerBackend, link=link
            )
            assert device is not None and device.address == "F0:00:00:00:00:01"
            client = BleakClient(
                device,
                backend=BumbleClientBackend,
                link=link,
                timeout=20,
                disconnected_callback=lambda _: session.dropped.set(),
            )
            await client.connect()
            await start_stream(client, "mujo", settings, session, decoder)
            await asyncio.wait_for(session.dropped.wait(), 20)  # the watch ends the link when it is done
        finally:
            await link.close()

    try:
        run(main, timeout=40)
        out, err = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    text = out.decode()
    assert process.returncode == 0, err.decode()[-2000:]
    assert session.errors == [] and session.count() == 301
    assert f"tcp:127.0.0.1:{port + 1}" in text and "mujo" in text
    assert "done: 301 samples" in text
