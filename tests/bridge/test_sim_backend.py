"""The unchanged bleak API against virtual peripherals on a Bumble link (in-process and loopback TCP).

pytest-asyncio is not a dependency: each test runs its own `asyncio.run`, so every test gets a fresh loop
and a fresh default link.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

pytest.importorskip("bumble")
pytest.importorskip("bleak")

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakDeviceNotFoundError

from mujo_edge.errors import ConfigError, UnknownNameError
from mujo_edge.firmware_bridge.sim import (
    BumbleClientBackend,
    BumbleScannerBackend,
    CharacteristicSpec,
    ServiceSpec,
    SimLink,
    TcpSimLink,
    VirtualPeripheral,
    controllers_command,
    register_link,
)

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("_bridge_waiting", Path(__file__).with_name("waiting.py"))
assert _spec is not None and _spec.loader is not None
waiting = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(waiting)
Arrivals = waiting.Arrivals
SVC = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"
RX = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
TX = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"
INFO = "6e400004-b5a3-f393-e0a9-e50e24dcca9e"
ADDR_A = "F0:00:00:00:00:0A"
ADDR_B = "F0:00:00:00:00:0B"


def run(coro_fn: Callable[[], Awaitable[None]], timeout: float = 20.0) -> None:
    async def guarded() -> None:
        await asyncio.wait_for(coro_fn(), timeout)

    asyncio.run(guarded())


def make_watch(name: str = "SimWatch", address: str = ADDR_A, **kwargs: object) -> VirtualPeripheral:
    """A generic UART-like peripheral: write RX (echoed into `written`), notify TX, read INFO."""
    written: list[bytes] = Arrivals()
    services = [
        ServiceSpec(
            SVC,
            (
                CharacteristicSpec(RX, ("write", "write-without-response"), on_write=written.append),
                CharacteristicSpec(TX, ("notify",)),
                CharacteristicSpec(INFO, ("read",), value=b"fw-1.0"),
            ),
        )
    ]
    watch = VirtualPeripheral(name, address, services, **kwargs)
    watch.written = written  # type: ignore[attr-defined]
    return watch


def test_scan_finds_peripheral_by_name_address_and_service_uuid() -> None:
    async def main() -> None:
        async with make_watch():
            found = await BleakScanner.discover(timeout=0.3, return_adv=True, backend=BumbleScannerBackend)
            assert ADDR_A in found
            device, adv = found[ADDR_A]
            assert device.name == "SimWatch" and adv.local_name == "SimWatch"
            assert adv.service_uuids == [SVC]
            assert adv.rssi < 0
            by_name = await BleakScanner.find_device_by_name("SimWatch", timeout=2, backend=BumbleScannerBackend)
            assert by_name is not None and by_name.address == ADDR_A
            by_addr = await BleakScanner.find_device_by_address(ADDR_A.lower(), timeout=2, backend=BumbleScannerBackend)
            assert by_addr is not None and by_addr.name == "SimWatch"
            filtered = await BleakScanner.discover(
                timeout=0.2, service_uuids=[SVC.upper()], backend=BumbleScannerBackend
            )
            assert [d.address for d in filtered] == [ADDR_A]
            other = await BleakScanner.discover(
                timeout=0.2, service_uuids=["0000180d-0000-1000-8000-00805f9b34fb"], backend=BumbleScannerBackend
            )
            assert other == []

    run(main)


def test_connect_mtu_discovery_read_write() -> None:
    async def main() -> None:
        async with make_watch() as watch:
            device = await BleakScanner.find_device_by_name("SimWatch", timeout=2, backend=BumbleScannerBackend)
            async with BleakClient(device, backend=BumbleClientBackend) as client:
                assert client.is_connected and client.mtu_size == 247 and watch.mtu() == 247
                assert client.name == "SimWatch"
                service = client.services.get_service(SVC)
                assert service is not None
                props = {c.uuid: sorted(c.properties) for c in service.characteristics}
                assert props == {
                    RX: ["write", "write-without-response"],
                    TX: ["notify"],
                    INFO: ["read"],
                }
                tx = service.get_characteristic(TX)
                assert [d.uuid for d in tx.descriptors] == ["00002902-0000-1000-8000-00805f9b34fb"]
                assert tx.max_write_without_response_size == 244
                assert client.services.get_service("00001800-0000-1000-8000-00805f9b34fb") is not None  # GAP
                assert await client.read_gatt_char(INFO) == bytearray(b"fw-1.0")
                await client.write_gatt_char(RX, b"\x01\x02", response=True)
                await client.write_gatt_char(RX, b"\x03", response=False)
                await client.write_gatt_char(RX, bytes(range(200)), response=True)
                await watch.written.at_least(3)  # a write without response is not confirmed: wait for it
                assert watch.written == [b"\x01\x02", b"\x03", bytes(range(200))]
                watch.set_value(INFO, b"fw-2.0")
                assert await client.read_gatt_char(INFO) == bytearray(b"fw-2.0")
                cccd = tx.descriptors[0]
                assert await client.read_gatt_descriptor(cccd) == bytearray(b"\x00\x00")
            assert not client.is_connected

    run(main)


def test_1000_notifications_in_order_none_lost() -> None:
    async def main() -> None:
        async with make_watch() as watch:
            got: list[bytes] = []
            done = asyncio.Event()

            def on_data(sender: BleakGATTCharacteristic, data: bytearray) -> None:
                assert sender.uuid == TX
                got.append(bytes(data))
                if len(got) == 1000:
                    done.set()

            async with BleakClient(ADDR_A, backend=BumbleClientBackend) as client:
                await client.start_notify(TX, on_data)
                await watch.wait_subscribed(TX)
                for i in range(1000):
                    await watch.notify(TX, i.to_bytes(4, "little") + bytes(36))
                await asyncio.wait_for(done.wait(), 10)
                await client.stop_notify(TX)
                await watch.wait_unsubscribed(TX)
                assert not watch.is_subscribed(TX)
            assert [int.from_bytes(g[:4], "little") for g in got] == list(range(1000))
            assert {len(g) for g in got} == {40}
            assert watch.stats.notified == 1000

    run(main)


def test_without_mtu_exchange_notifications_are_cut_to_20_bytes() -> None:
    async def main() -> None:
        async with make_watch() as watch:
            got: Arrivals[bytes] = Arrivals()
            async with BleakClient(ADDR_A, backend=BumbleClientBackend, mtu=None) as client:
                assert client.mtu_size == 23
                await client.start_notify(TX, lambda _, data: got.append(bytes(data)))
                await watch.notify(TX, bytes(range(40)))
                await got.at_least(1)
            assert got == [bytes(range(20))]

    run(main)


def test_peripheral_drop_fires_disconnected_callback_then_reconnect_and_resubscribe() -> None:
    async def main() -> None:
        async with make_watch() as watch:
            dropped = asyncio.Event()
            got: Arrivals[bytes] = Arrivals()
            client = BleakClient(ADDR_A, disconnected_callback=lambda c: dropped.set(), backend=BumbleClientBackend)
            await client.connect()
            await client.start_notify(TX, lambda _, data: got.append(bytes(data)))
            await watch.notify(TX, b"before")
            await watch.drop_link()
            await asyncio.wait_for(dropped.wait(), 2)
            assert not client.is_connected
            await client.connect()  # the peripheral advertises again after the drop
            assert client.is_connected and client.mtu_size == 247
            await client.start_notify(TX, lambda _, data: got.append(bytes(data)))
            await watch.wait_subscribed(TX)
            await watch.notify(TX, b"after")
            await got.at_least(2)
            dropped.clear()
            await client.disconnect()
            await watch.wait_disconnected()
            await waiting.expect_quiet(dropped, 0.05, "disconnected callback")  # our own disconnect is no drop
            assert got == [b"before", b"after"]
            assert watch.stats.connections == 2 and watch.stats.disconnections == 2

    run(main)


def test_two_peripherals_notifications_never_mixed() -> None:
    async def main() -> None:
        async with make_watch("WatchA", ADDR_A) as a, make_watch("WatchB", ADDR_B) as b:
            got: dict[str, Arrivals[bytes]] = {"A": Arrivals(), "B": Arrivals()}
            async with (
                BleakClient(ADDR_A, backend=BumbleClientBackend) as ca,
                BleakClient(ADDR_B, backend=BumbleClientBackend) as cb,
            ):
                await ca.start_notify(TX, lambda _, d: got["A"].append(bytes(d)))
                await cb.start_notify(TX, lambda _, d: got["B"].append(bytes(d)))
                for i in range(200):
                    await a.notify(TX, b"A" + bytes([i]))
                    await b.notify(TX, b"B" + bytes([i]))
                await got["A"].at_least(200)
                await got["B"].at_least(200)
            assert got["A"] == [b"A" + bytes([i]) for i in range(200)]
            assert got["B"] == [b"B" + bytes([i]) for i in range(200)]

    run(main)


def test_notification_filter_drops_and_delays_without_reordering() -> None:
    async def main() -> None:
        def faults(uuid: str, value: bytes) -> float | None:
            index = value[0]
            if index % 10 == 3:
                return None  # lost
            return 0.02 if index % 10 == 5 else 0.0  # a late packet holds back the next ones

        async with make_watch(notification_filter=faults) as watch:
            got: Arrivals[int] = Arrivals()
            async with BleakClient(ADDR_A, backend=BumbleClientBackend) as client:
                await client.start_notify(TX, lambda _, d: got.append(d[0]))
                for i in range(50):
                    await watch.notify(TX, bytes([i]))
                await watch.flush()
                await got.until(lambda g: bool(g) and g[-1] == 49, what="the last notification")
            assert got == [i for i in range(50) if i % 10 != 3]
            assert watch.stats.dropped == 5 and watch.stats.delayed == 5

    run(main)


def test_named_link_reaches_only_its_own_peripherals() -> None:
    async def main() -> None:
        other = SimLink("bench")
        register_link(other)
        try:
            async with make_watch("Elsewhere", ADDR_B, link="bench"):
                on_default = await BleakScanner.discover(timeout=0.2, backend=BumbleScannerBackend)
                on_bench = await BleakScanner.discover(timeout=0.2, backend=BumbleScannerBackend, link=other)
                assert on_default == []
                assert [d.name for d in on_bench] == ["Elsewhere"]
                async with BleakClient(ADDR_B, backend=BumbleClientBackend, link="bench") as client:
                    assert client.mtu_size == 247
        finally:
            await other.close()

    run(main)


def test_unknown_address_raises_device_not_found_and_address_is_reusable_after_stop() -> None:
    async def main() -> None:
        with pytest.raises(BleakDeviceNotFoundError):
            await BleakClient(ADDR_B, backend=BumbleClientBackend, timeout=0.3).connect()
        for round_ in range(2):  # stop() frees the address: an emulator can restart in the same loop
            async with (
                make_watch(f"Round{round_}") as watch,
                BleakClient(ADDR_A, backend=BumbleClientBackend) as client,
            ):
                assert client.is_connected and watch.is_connected

    run(main)


def test_bad_descriptions_raise_project_errors() -> None:
    with pytest.raises(ConfigError, match="properties"):
        CharacteristicSpec(TX, ("notify", "shout"))

    async def main() -> None:
        async with make_watch() as watch:
            with pytest.raises(UnknownNameError):
                await watch.notify("0000ffff-0000-1000-8000-00805f9b34fb", b"x")
            with pytest.raises(ConfigError, match="address"):
                await make_watch("Twin", ADDR_A).start()

    run(main)


# loopback TCP -----------------------------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture
def tcp_controllers() -> tuple[int, int]:
    """Two linked controllers in a `bumble.apps.controllers` subprocess; skip if it cannot start."""
    ports = free_ports(2)
    process = subprocess.Popen(
        controllers_command(*ports),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    waiting.wait_listening(process, ports)
    try:
        yield ports[0], ports[1]
    finally:
        process.kill()
        process.wait(5)


def test_loopback_tcp_two_tasks(tcp_controllers: tuple[int, int]) -> None:
    central_port, peripheral_port = tcp_controllers

    async def main() -> None:
        host_link = TcpSimLink(central_port)
        watch = make_watch(link=TcpSimLink(peripheral_port))
        await watch.start()
        try:
            got: Arrivals[bytes] = Arrivals()
            device = await BleakScanner.find_device_by_name(
                "SimWatch", timeout=5, backend=BumbleScannerBackend, link=host_link
            )
            assert device is not None and device.address == ADDR_A
            async with BleakClient(device, backend=BumbleClientBackend, link=host_link) as client:
                assert client.mtu_size == 247
                assert await client.read_gatt_char(INFO) == bytearray(b"fw-1.0")
                await client.start_notify(TX, lambda _, d: got.append(bytes(d)))
                await watch.wait_subscribed(TX)
                for i in range(200):
                    await watch.notify(TX, i.to_bytes(2, "little") * 20)
                await got.at_least(200)
            assert [int.from_bytes(g[:2], "little") for g in got] == list(range(200))
        finally:
            await watch.stop()
            await host_link.close()

    run(main, timeout=30)


PERIPHERAL_PROCESS = textwrap.dedent(
    """
    import asyncio, sys
    from mujo_edge.firmware_bridge.sim import CharacteristicSpec, ServiceSpec, TcpSimLink, VirtualPeripheral

    async def main(port):
        svc = ServiceSpec("{svc}", (CharacteristicSpec("{tx}", ("notify",)),))
        watch = VirtualPeripheral("ProcWatch", "{addr}", [svc], link=TcpSimLink(port))
        await watch.start()
        await watch.wait_subscribed("{tx}", timeout=20)
        for i in range(300):
            await watch.notify("{tx}", i.to_bytes(2, "little") * 10)
        try:
            await watch.wait_disconnected(timeout=10)  # until the host disconnects
        finally:
            await watch.stop()

    asyncio.run(main(int(sys.argv[1])))
    """
).format(svc=SVC, tx=TX, addr=ADDR_B)


def test_loopback_tcp_across_processes(tcp_controllers: tuple[int, int], tmp_path: Path) -> None:
    central_port, peripheral_port = tcp_controllers
    script = tmp_path / "peripheral.py"
    script.write_text(PERIPHERAL_PROCESS)
    process = subprocess.Popen([sys.executable, str(script), str(peripheral_port)], cwd=REPO, stderr=subprocess.PIPE)

    async def main() -> None:
        host_link = TcpSimLink(central_port)
        try:
            got: list[bytes] = []
            done = asyncio.Event()

            def on_data(_: BleakGATTCharacteristic, data: bytearray) -> None:
                got.append(bytes(data))
                if len(got) == 300:
                    done.set()

            device = await BleakScanner.find_device_by_name(
                "ProcWatch", timeout=10, backend=BumbleScannerBackend, link=host_link
            )
            assert device is not None, "peripheral process never advertised"
            async with BleakClient(device, backend=BumbleClientBackend, link=host_link) as client:
                await client.start_notify(TX, on_data)
                await asyncio.wait_for(done.wait(), 10)
            assert [int.from_bytes(g[:2], "little") for g in got] == list(range(300))
            assert {len(g) for g in got} == {20}
        finally:
            await host_link.close()

    try:
        run(main, timeout=30)
    finally:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    assert process.returncode == 0, process.stderr.read().decode()[-500:]
