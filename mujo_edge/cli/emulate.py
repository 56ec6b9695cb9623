"""`mujo-edge emulate`: a virtual watch replaying a real recording over a loopback Bumble radio.

Starts `python -m bumble.apps.controllers` with two linked virtual controllers on 127.0.0.1:PORT and PORT+1, runs
the watch on PORT and tells you how to connect from a second terminal on PORT+1. Thin: the watch lives in
`mujo_edge.firmware_bridge.emulator`, the recording comes from `mujo_edge.runtime.offline.recording_to_replay`;
heavy imports stay inside the functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mujo_edge.cli.console import console, err_console

if TYPE_CHECKING:
    from mujo_edge.firmware_bridge.emulator import VirtualWatch

_STATUS_PERIOD_S = 0.25
_LISTEN_TIMEOUT_S = 10.0
_FINISH_GRACE_S = 0.5


def _start_controllers(port: int) -> subprocess.Popen[bytes]:
    """The two linked loopback controllers, listening on port and port + 1 (ConfigError if they cannot)."""
    from mujo_edge.errors import ConfigError
    from mujo_edge.firmware_bridge.sim import controllers_command

    process = subprocess.Popen(controllers_command(port, port + 1), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.2)
    if process.poll() is not None:
        tail = process.stderr.read().decode(errors="replace").strip().splitlines()[-1:] if process.stderr else []
        raise ConfigError(
            f"bumble controllers could not listen on {port} and {port + 1}: {tail[0] if tail else 'exited'}",
            field="port",
        )
    return process


def _status(watch: VirtualWatch) -> str:
    s = watch.stats
    state = (
        "[bold]finished[/]"
        if watch.finished.is_set()
        else "[green]streaming[/]"
        if watch.streaming
        else ("[yellow]connected[/]" if watch.peripheral.is_connected else "[dim]waiting for a host[/]")
    )
    return (
        f"{state}  sent {s.samples_sent} samples in {s.packets_sent} packets"
        f"  dropped {s.packets_dropped} packets  lost {s.samples_lost} samples  link drops {s.link_drops}"
        f"  MTU {watch.mtu()}"
    )


async def _serve(watch: VirtualWatch, port: int, protocol: str) -> None:
    from rich.live import Live

    await watch.start()
    host = f"tcp:127.0.0.1:{port + 1}"
    console.print(
        f"[bold]virtual {protocol} watch[/] {watch.name!r} ({watch.address}) advertising on "
        f"127.0.0.1:{port}; speed {watch.speed:g}x, {watch.duration_s:.1f} s recording"
        f"{' (looping)' if watch.loop else ''}",
        soft_wrap=True,
    )
    console.print(
        f"  protocol [bold]{protocol}[/]   host link [bold]{host}[/]   name {watch.name!r}   address {watch.address}",
        soft_wrap=True,
    )
    console.print(
        f"  in a second terminal:  [bold cyan]mujo-edge live --device emulator --link {host} --protocol {protocol}[/]",
        soft_wrap=True,
    )
    console.print(
        f"  from Python:  BleakClient({watch.address!r}, backend=BumbleClientBackend, link=TcpSimLink({port + 1}))",
        highlight=False,
        soft_wrap=True,
    )
    with Live(_status(watch), console=console, refresh_per_second=4, transient=False) as live:
        while not watch.finished.is_set():
            with contextlib.suppress(TimeoutError):  # a status line every period until the replay ends
                await asyncio.wait_for(watch.finished.wait(), _STATUS_PERIOD_S)
            live.update(_status(watch))
        await asyncio.sleep(_FINISH_GRACE_S)  # let the last notifications leave before the link closes
        live.update(_status(watch))
    console.print()


def emulate(
    protocol: Annotated[
        str, typer.Option("--protocol", help="Device protocol: polar, infinitime, metawear, banglejs, mujo.")
    ] = "mujo",
    data: Annotated[
        str, typer.Option("--data", help="Dataset name (`mujo-edge data list`) or a CSV file/folder in the csv layout.")
    ] = "spar_watch",
    root: Annotated[
        Path | None,
        typer.Option("--root", help="Dataset folder (default: $MUJO_EDGE_DATA/<name> or ../shared/data/<name>)."),
    ] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Only recordings of this subject.")] = None,
    recording: Annotated[int, typer.Option("--recording", help="Index of the recording (after --subject).")] = 0,
    seconds: Annotated[
        float | None, typer.Option("--seconds", help="Replay only the first SECONDS of the recording.")
    ] = None,
    speed: Annotated[
        float, typer.Option("--speed", help="Replay speed (2 = twice real time; 0 = as fast as possible).")
    ] = 1.0,
    port: Annotated[
        int, typer.Option("--port", help="The watch's controller port; the host connects to PORT+1.")
    ] = 19001,
    drop_link_at: Annotated[
        list[float] | None,
        typer.Option("--drop-link-at", help="Stream time (s) at which the watch drops the link; repeatable."),
    ] = None,
    reconnect_after: Annotated[
        float, typer.Option("--reconnect-after", help="Stream seconds until the watch advertises again after a drop.")
    ] = 0.5,
    drop_packets: Annotated[float, typer.Option("--drop-packets", help="Probability that a packet is lost.")] = 0.0,
    jitter: Annotated[float, typer.Option("--jitter", help="Notification delay jitter, stream seconds.")] = 0.0,
    drift_ppm: Annotated[float, typer.Option("--drift-ppm", help="Device clock drift, ppm (positive = fast).")] = 0.0,
    max_mtu: Annotated[
        int, typer.Option("--max-mtu", help="Largest ATT MTU the watch accepts (23 = 20-byte notifications).")
    ] = 247,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fault random generator.")] = 0,
    name: Annotated[
        str | None, typer.Option("--name", help="Advertised name (default: like the real device's).")
    ] = None,
    address: Annotated[str, typer.Option("--address", help="The watch's BLE address.")] = "F0:00:00:00:00:01",
    loop: Annotated[bool, typer.Option("--loop/--no-loop", help="Replay the recording until Ctrl-C.")] = False,
) -> None:
    """Run a virtual watch that streams a real recording over BLE (a loopback Bumble radio, no hardware)."""
    import numpy as np

    from mujo_edge.errors import ConfigError
    from mujo_edge.firmware_bridge.emulator import WatchFaults, watch_from_recording
    from mujo_edge.firmware_bridge.protocols import PROTOCOLS
    from mujo_edge.firmware_bridge.sim import TcpSimLink
    from mujo_edge.runtime.offline import recording_to_replay

    PROTOCOLS.get(protocol)
    if not 1024 <= port <= 65534:
        raise ConfigError(f"must be in [1024, 65534] (PORT and PORT+1 are used), got {port}", field="port")
    faults = WatchFaults(
        drop_link_at_s=tuple(drop_link_at or ()),
        reconnect_after_s=reconnect_after,
        drop_packet_prob=drop_packets,
        jitter_s=jitter,
        clock_drift_ppm=drift_ppm,
        max_mtu=max_mtu,
        seed=seed,
    )
    rec = recording_to_replay(data, root, subject, recording, seconds)
    err_console.print(
        f"[dim]replaying {rec.recording_id} of subject {rec.subject} ({rec.duration_s:.1f} s, "
        f"{np.count_nonzero(rec.valid)} samples)[/]"
    )
    controllers = _start_controllers(port)
    watch = None

    async def main() -> None:
        nonlocal watch
        watch = watch_from_recording(
            protocol,
            rec,
            name=name,
            address=address,
            speed=speed,
            faults=faults,
            link=TcpSimLink(port, connect_timeout=_LISTEN_TIMEOUT_S),
            loop=loop,
        )
        try:
            await _serve(watch, port, protocol)
        finally:
            await watch.stop()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        console.print("[yellow]stopped (Ctrl-C)[/]")
    except ConnectionError as error:
        raise ConfigError(str(error), field="port") from None
    finally:
        controllers.terminate()
        try:
            controllers.wait(5)
        except subprocess.TimeoutExpired:
            controllers.kill()
            controllers.wait(5)
    if watch is not None:
        s = watch.stats
        console.print(
            f"done: {s.samples_sent} samples in {s.packets_sent} packets sent, {s.samples_lost} lost, "
            f"{s.link_drops} link drops"
        )


def main() -> None:
    """`python -m mujo_edge.cli.emulate ...` (the same command as `mujo-edge emulate`)."""
    import sys

    from mujo_edge.errors import MujoEdgeError

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(emulate)
    try:
        app(standalone_mode=True)
    except MujoEdgeError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
