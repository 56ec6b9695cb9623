"""`mujo-edge emulate`: a virtual watch replaying a real recording over a loopback Bumble radio.

Starts `python -m bumble.apps.controllers` with two linked virtual controllers on 127.0.0.1:PORT and PORT+1, runs
the watch on PORT and tells you how to connect from a second terminal on PORT+1. Thin: the watch lives in
`mujo_edge.firmware_bridge.emulator`; heavy imports stay inside the functions.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mujo_edge.cli.console import console, err_console

if TYPE_CHECKING:
    from mujo_edge.firmware_bridge.emulator import VirtualWatch
    from mujo_edge.recording import Recording

_STATUS_PERIOD_S = 0.25
_LISTEN_TIMEOUT_S = 10.0
_FINISH_GRACE_S = 0.5


def load_replay(data: str, root: Path | None, subject: str | None, index: int) -> Recording:
    """Recording `index` (of `subject`, if given) of dataset `data`, or of CSV recordings at the path `data`."""
    from mujo_edge.channels import ChannelSelection
    from mujo_edge.data.base import resolve_root
    from mujo_edge.data.prepare import load_recordings
    from mujo_edge.data.registry import DATASETS, get_loader
    from mujo_edge.errors import ConfigError, DataNotFoundError

    if data in DATASETS:
        loader = get_loader(data)
        path = resolve_root(loader.spec, root)
    elif Path(data).expanduser().exists():
        loader, path = get_loader("csv"), Path(data).expanduser()
    else:
        raise DataNotFoundError(f"neither a dataset ({', '.join(DATASETS.names())}) nor an existing file or folder",
                                path=data)
    recordings = load_recordings(loader, path, ChannelSelection(sensors=("acc",)))
    if subject is not None:
        recordings = [r for r in recordings if r.subject == subject]
        if not recordings:
            raise ConfigError(f"no recording of subject {subject!r} in {data}", field="subject")
    if not 0 <= index < len(recordings):
        raise ConfigError(f"must be in [0, {len(recordings) - 1}], got {index}", field="recording")
    return recordings[index]


def _start_controllers(port: int) -> subprocess.Popen[bytes]:
    """The two linked loopback controllers, listening on port and port + 1 (ConfigError if they cannot)."""
    from mujo_edge.errors import ConfigError
    from mujo_edge.firmware_bridge.sim import controllers_command

    process = subprocess.Popen(controllers_command(port, port + 1), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    time.sleep(0.2)
    if process.poll() is not None:
        tail = process.stderr.read().decode(errors="replace").strip().splitlines()[-1:] if process.stderr else []
        raise ConfigError(f"bumble controllers could not listen on {port} and {port + 1}: "
                          f"{tail[0] if tail else 'exited'}", field="port")
    return process


def _status(watch: VirtualWatch) -> str:
    s = watch.stats
    state = "[bold]finished[/]" if watch.finished.is_set() else "[green]streaming[/]" if watch.streaming else (
        "[yellow]connected[/]" if watch.peripheral.is_connected else "[dim]waiting for a host[/]")
    return (f"{state}  sent {s.samples_sent} samples in {s.packets_sent} packets"
            f"  dropped {s.packets_dropped} packets  lost {s.samples_lost} samples  link drops {s.link_drops}"
            f"  MTU {watch.mtu()}")


async def _serve(watch: VirtualWatch, port: int, protocol: str) -> None:
    from rich.live import Live

    await watch.start()
    host = f"tcp:127.0.0.1:{port + 1}"
    console.print(f"[bold]virtual {protocol} watch[/] {watch.name!r} ({watch.address}) advertising on "
                  f"127.0.0.1:{port}; speed {watch.speed:g}x, {watch.duration_s:.1f} s recording"
                  f"{' (looping)' if watch.loop else ''}", soft_wrap=True)
    console.print(f"  protocol [bold]{protocol}[/]   host link [bold]{host}[/]   name {watch.name!r}   "
                  f"address {watch.address}", soft_wrap=True)
    console.print(f"  in a second terminal:  [bold cyan]mujo-edge live --device emulator --link {host} "
                  f"--protocol {protocol}[/]", soft_wrap=True)
    console.print(f"  from Python:  BleakClient({watch.address!r}, backend=BumbleClientBackend, "
                  f"link=TcpSimLink({port + 1}))", highlight=False, soft_wrap=True)
    with Live(_status(watch), console=console, refresh_per_second=4, transient=False) as live:
        while not watch.finished.is_set():
            try:
                await asyncio.wait_for(watch.finished.wait(), _STATUS_PERIOD_S)
            except asyncio.TimeoutError:
                pass
            live.update(_status(watch))
        await asyncio.sleep(_FINISH_GRACE_S)  # let the last notifications leave before the link closes
        live.update(_status(watch))
    console.print()


def emulate(
    protocol: str = typer.Option("mujo", "--protocol", help="Device protocol: polar, infinitime, metawear, "
                                                            "banglejs, mujo."),
    data: str = typer.Option("spar_watch", "--data", help="Dataset name (`mujo-edge data list`) or a CSV file/"
                                                          "folder in the csv layout."),
    root: Path = typer.Option(None, "--root", help="Dataset folder (default: $MUJO_EDGE_DATA/<name> or "
                                                   "../shared/data/<name>)."),
    subject: str = typer.Option(None, "--subject", help="Only recordings of this subject."),
    recording: int = typer.Option(0, "--recording", help="Index of the recording (after --subject)."),
    seconds: float = typer.Option(None, "--seconds", help="Replay only the first SECONDS of the recording."),
    speed: float = typer.Option(1.0, "--speed", help="Replay speed (2 = twice real time; 0 = as fast as "
                                                     "possible)."),
    port: int = typer.Option(19001, "--port", help="The watch's controller port; the host connects to PORT+1."),
    drop_link_at: list[float] = typer.Option(None, "--drop-link-at", help="Stream time (s) at which the watch "
                                                                          "drops the link; repeatable."),
    reconnect_after: float = typer.Option(0.5, "--reconnect-after", help="Stream seconds until the watch "
                                                                         "advertises again after a drop."),
    drop_packets: float = typer.Option(0.0, "--drop-packets", help="Probability that a packet is lost."),
    jitter: float = typer.Option(0.0, "--jitter", help="Notification delay jitter, stream seconds."),
    drift_ppm: float = typer.Option(0.0, "--drift-ppm", help="Device clock drift, ppm (positive = fast)."),
    max_mtu: int = typer.Option(247, "--max-mtu", help="Largest ATT MTU the watch accepts (23 = 20-byte "
                                                       "notifications)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the fault random generator."),
    name: str = typer.Option(None, "--name", help="Advertised name (default: like the real device's)."),
    address: str = typer.Option("F0:00:00:00:00:01", "--address", help="The watch's BLE address."),
    loop: bool = typer.Option(False, "--loop/--no-loop", help="Replay the recording until Ctrl-C."),
) -> None:
    """Run a virtual watch that streams a real recording over BLE (a loopback Bumble radio, no hardware)."""
    import numpy as np

    from mujo_edge.errors import ConfigError
    from mujo_edge.firmware_bridge.emulator import WatchFaults, watch_from_recording
    from mujo_edge.firmware_bridge.protocols import PROTOCOLS
    from mujo_edge.firmware_bridge.sim import TcpSimLink

    PROTOCOLS.get(protocol)
    if not 1024 <= port <= 65534:
        raise ConfigError(f"must be in [1024, 65534] (PORT and PORT+1 are used), got {port}", field="port")
    faults = WatchFaults(drop_link_at_s=tuple(drop_link_at or ()), reconnect_after_s=reconnect_after,
                         drop_packet_prob=drop_packets, jitter_s=jitter, clock_drift_ppm=drift_ppm,
                         max_mtu=max_mtu, seed=seed)
    rec = load_replay(data, root, subject, recording)
    if seconds is not None:
        if not seconds > 0:
            raise ConfigError(f"must be > 0, got {seconds}", field="seconds")
        keep = rec.t <= rec.t[0] + seconds
        rec = type(rec).create(rec.t[keep], rec.x[keep], rec.channels, subject=rec.subject, source=rec.source,
                               recording_id=rec.recording_id, classes=rec.classes, labels=rec.labels[keep],
                               valid=rec.valid[keep], meta=dict(rec.meta))
    err_console.print(f"[dim]replaying {rec.recording_id} of subject {rec.subject} ({rec.duration_s:.1f} s, "
                      f"{np.count_nonzero(rec.valid)} samples)[/]")
    controllers = _start_controllers(port)
    watch = None

    async def main() -> None:
        nonlocal watch
        watch = watch_from_recording(protocol, rec, name=name, address=address, speed=speed, faults=faults,
                                     link=TcpSimLink(port, connect_timeout=_LISTEN_TIMEOUT_S), loop=loop)
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
        console.print(f"done: {s.samples_sent} samples in {s.packets_sent} packets sent, {s.samples_lost} lost, "
                      f"{s.link_drops} link drops")


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
