"""`mujo-edge live`, `replay` and `devices`: recognise exercise from a watch's stream, or from its recording.

The library core is `run_live(client, recognizer, ...)` (no terminal needed) and `replay_recording`; the
commands add a rich view. A live run feeds `Recognizer.stream()` with the host timestamps the client assigns;
`--record` writes exactly those timestamps and samples (bring-your-own CSV layout; flushed batch by batch, so a
killed process loses nothing it wrote, and synced to disk every second, so a crashed machine loses at most that
second), so `replay` of the file pushes the same numbers through the same streaming code and predicts the same
windows.
Torch-free: imports the runtime and the bridge only, both inside the functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer

from mujo_edge.cli.console import HostOption, PortOption, ServeFlag, console, err_console, short_text
from mujo_edge.errors import ConfigError
from mujo_edge.metrics import dumps_strict
from mujo_edge.runtime.live import (
    LiveSummary,
    load_recorded,
    prepare_sessions,
    replay_summary,
    run_live,
    stream_channels,
    stream_warnings,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from mujo_edge.firmware_bridge.client import WatchClient
    from mujo_edge.runtime import Prediction, Recognizer
    from mujo_edge.runtime.dashboard.server import ServeConfig
    from mujo_edge.runtime.session import SessionLog, SessionState

# --device choices -> protocol ("watch": our own GATT profile on real hardware; "emulator": see --protocol)
DEVICE_PROTOCOLS = {
    "watch": "mujo",
    "polar": "polar",
    "infinitime": "infinitime",
    "banglejs": "banglejs",
    "metawear": "metawear",
}
DEVICES = (*DEVICE_PROTOCOLS, "emulator")


# --- terminal output -------------------------------------------------------------------------------------------


def _fmt(v: float | None, spec: str, unit: str = "") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:{spec}}{unit}"


class LiveView:
    """The rich renderable of a running session: current exercise, confidence, top-3 and stream health."""

    def __init__(self, client: WatchClient, recognizer: Recognizer) -> None:
        self.client = client
        self.recognizer = recognizer
        self.last: Prediction | None = None
        self.latency: float | None = None
        self.count = 0
        self.session: SessionState | None = None

    def update(self, p: Prediction, latency: float) -> None:
        self.last, self.latency = p, latency
        self.count += 1

    def update_session(self, state: SessionState) -> None:
        self.session = state

    def __rich__(self) -> Any:
        from rich.table import Table

        s = self.client.stats
        texts = self.recognizer.manifest.label_texts
        t = Table(
            title=f"{s.device or self.client.protocol.name}  [dim]{self.client.protocol.name}[/]",
            show_header=False,
            title_justify="left",
        )
        t.add_column(style="bold")
        t.add_column()
        p = self.last
        if p is None:
            t.add_row("exercise", "[dim]waiting for the first window...[/]")
        else:
            if self.session is not None:
                t.add_row("now", session_text(self.session, texts))
            t.add_row("exercise", f"[bold green]{p.smoothed_label}[/] {short_text(texts, p.smoothed_label)}")
            t.add_row("confidence", f"{p.confidence:.2f}")
            top = np.argsort(p.probabilities)[::-1][:3]
            t.add_row("top-3", ", ".join(f"{self.recognizer.labels[i]} {p.probabilities[i]:.2f}" for i in top))
        t.add_row("rate", f"{_fmt(s.measured_rate_hz, '.1f', ' Hz')} (nominal {s.nominal_rate_hz:g} Hz)")
        t.add_row(
            "loss",
            f"{100 * s.loss_fraction:.2f} % ({s.missing_samples} missing in {s.gaps} gaps), "
            f"{s.reconnects} reconnects, {s.decode_errors} bad packets",
        )
        t.add_row(
            "latency",
            f"{_fmt(None if self.latency is None else 1e3 * self.latency, '.0f', ' ms')} "
            f"window's last sample -> prediction ({self.count} predictions)",
        )
        for w in stream_warnings(s.measured_rate_hz, self.recognizer.manifest, s.loss_fraction, s.saturated_samples):
            t.add_row("[yellow]warning[/]", f"[yellow]{w}[/]")
        if not s.connected:
            t.add_row("[yellow]link[/]", f"[yellow]reconnecting... {s.last_error or ''}[/]")
        return t


def session_text(state: SessionState, texts: Any = None) -> str:
    """One line of the live view: the open set's exercise and repetitions, or rest with its timer."""
    from mujo_edge.runtime.session import EXERCISE, UNKNOWN

    if state.status == EXERCISE and state.exercise is not None:
        name = short_text(texts or {}, state.exercise)
        return (
            f"[bold green]set {state.set_number}: {state.exercise}[/] {name}  "
            f"[bold]{state.repetitions}[/] repetitions  ({_fmt(state.set_elapsed_s, '.0f', ' s')})"
        )
    what = "moving, not a trained exercise" if state.status == UNKNOWN else "rest"
    return f"[cyan]{what}[/]  rest timer {_clock(state.rest_s)}"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


def session_table(log: SessionLog, title: str = "session") -> Any:
    """The session log as a rich table (times in s from the session's first window)."""
    from rich.table import Table

    table = Table(
        title=f"{title}: {len(log.sets)} sets, {sum(s.repetitions for s in log.sets)} repetitions",
        title_justify="left",
    )
    for col in ("", "start", "end", "duration", "exercise", "repetitions", "confidence", "note"):
        table.add_column(col, justify="left" if col in ("", "exercise", "note") else "right")
    for row in log.rows():
        if row["kind"] == "set":
            cells = [f"[bold]set {row['number']}[/]", row["exercise"], str(row["repetitions"])]
            cells += [f"{row['mean_confidence']:.2f}", "ended by a gap" if row["interrupted"] else ""]
        else:
            cells = [f"[dim]{row['kind']}[/]", "", "", "", ""]
        times = [f"{row['start_s']:.1f}", f"{row['end_s']:.1f}", f"{row['duration_s']:.1f}"]
        table.add_row(cells[0], *times, *cells[1:])
    return table


def print_session(log: SessionLog | None) -> None:
    """The session table and its notes."""
    if log is None:
        return
    console.print(session_table(log))
    for note in log.notes:
        err_console.print(f"[yellow]session:[/] {note}")


def print_summary(summary: LiveSummary, recognizer: Recognizer, title: str) -> None:
    from rich.table import Table

    from mujo_edge.runtime.timeline import segments

    head = Table(title=title, show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column()
    head.add_row("device", summary.device)
    head.add_row("duration", f"{summary.duration_s:.1f} s")
    head.add_row("samples", f"{summary.samples} at {_fmt(summary.measured_rate_hz, '.1f', ' Hz')}")
    head.add_row(
        "gaps", f"{summary.gaps} ({summary.missing_samples} missing samples, {100 * summary.loss_fraction:.2f} % loss)"
    )
    head.add_row("reconnects / bad packets", f"{summary.reconnects} / {summary.decode_errors}")
    head.add_row("predictions", str(len(summary.predictions)))
    p50, p95 = summary.latency_percentile(50), summary.latency_percentile(95)
    head.add_row(
        "latency p50 / p95",
        f"{_fmt(None if p50 is None else 1e3 * p50, '.1f')} / {_fmt(None if p95 is None else 1e3 * p95, '.1f')} ms",
    )
    console.print(head)
    for w in summary.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")
    window = recognizer.manifest.window
    segs = segments(
        summary.predictions,
        [None] * len(summary.predictions),
        window.step / window.rate_hz,
        smoothed=recognizer.smoothing > 1,
    )
    if not segs:
        print_session(summary.session)
        return
    t0 = summary.predictions[0].start_s
    table = Table(title="timeline (s from the first window)", title_justify="left")
    for col in ("start", "end", "exercise", "activity", "confidence", "windows"):
        table.add_column(col, justify="right" if col in ("start", "end", "confidence", "windows") else "left")
    texts = recognizer.manifest.label_texts
    for s in segs:
        table.add_row(
            f"{s.start_s - t0:.1f}",
            f"{s.end_s - t0:.1f}",
            f"[bold]{s.label}[/]",
            short_text(texts, s.label),
            f"{s.confidence:.2f}",
            str(s.windows),
        )
    console.print(table)
    print_session(summary.session)


def _write_json(path: Path | None, summary: LiveSummary, *, replayed: bool = False) -> None:
    if path is not None:
        data = replay_dict(summary) if replayed else summary.to_dict()
        path.write_text(dumps_strict(data, indent=2) + "\n")


def _write_session(path: Path | None, summary: LiveSummary) -> None:
    if path is None:
        return
    if summary.session is None:
        err_console.print(f"[yellow]warning:[/] no session log to write to {path} (see the warnings above)")
        return
    summary.session.write(path)
    console.print(f"session log written to {path}")


def replay_dict(summary: LiveSummary) -> dict[str, Any]:
    """`summary.to_dict()` of a replay without a latency per prediction: replay hands the whole recording to the
    engine at once, so each window's latency_s is the batch's time over its size, one number repeated, which
    reads as a measurement it is not. The engine's mean inference time per window is given once instead."""
    data = summary.to_dict()
    for key in ("latency_p50_s", "latency_p95_s"):
        data.pop(key, None)
    for p in data["predictions"]:
        p.pop("latency_s", None)
    lat = summary.latencies_s
    data["inference_s_per_window"] = sum(lat) / len(lat) if lat else None
    return data


# --- commands ----------------------------------------------------------------------------------------------------


def _sim_backends(link: str | None) -> tuple[type, type, dict[str, Any]]:
    """Bumble backends and the link for `--link` (`tcp:HOST:PORT`, or an in-process link name)."""
    from mujo_edge.firmware_bridge.sim import BumbleClientBackend, BumbleScannerBackend, TcpSimLink

    if link is not None and link.startswith("tcp:"):
        try:
            host, port = link[4:].rsplit(":", 1)
            resolved: Any = TcpSimLink(int(port), host=host or "127.0.0.1")
        except ValueError:
            raise ConfigError(f"expected tcp:HOST:PORT, got {link!r}", field="link") from None
    else:
        resolved = link  # a registered in-process link name, or None for the default link
    return BumbleScannerBackend, BumbleClientBackend, {"link": resolved}


async def _close_link(link: Any) -> None:
    """Close a simulator link this command opened (a TCP radio port serves one connection at a time)."""
    if link is not None and not isinstance(link, str) and hasattr(link, "close"):
        await link.close()


def _client_kwargs(device: str, link: str | None) -> dict[str, Any]:
    if device == "emulator":
        scanner, client, kw = _sim_backends(link)
        return {"scanner_backend": scanner, "client_backend": client, "backend_kwargs": kw}
    if link is not None:
        raise ConfigError("--link only applies to --device emulator", field="link")
    return {}


def devices(
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to scan.")] = 5.0,
    link: Annotated[
        str | None, typer.Option("--link", help="Scan the emulator's radio instead: tcp:HOST:PORT or a link name.")
    ] = None,
) -> None:
    """List watches advertising nearby: name, address, signal strength and detected protocol."""
    from rich.table import Table

    from mujo_edge.firmware_bridge.client import discover

    async def scan() -> list[Any]:
        if link is None:
            return await discover(timeout)
        scanner, _, kw = _sim_backends(link)
        try:
            return await discover(timeout, scanner, **kw)
        finally:
            await _close_link(kw["link"])

    found = asyncio.run(scan())
    table = Table(title=f"{len(found)} devices ({timeout:g} s scan)", title_justify="left")
    for col in ("name", "address", "RSSI", "protocol"):
        table.add_column(col, justify="right" if col == "RSSI" else "left")
    for d in found:
        table.add_row(d.name or "[dim]?[/]", d.address, _fmt(d.rssi, "d", " dBm"), d.protocol or "[dim]unknown[/]")
    console.print(table)


def live(
    bundle: Annotated[
        Path | None, typer.Option("--bundle", help="Model bundle folder or .zip (default: the embedded one).")
    ] = None,
    device: Annotated[str, typer.Option("--device", help=f"One of {', '.join(DEVICES)}.")] = "watch",
    address: Annotated[
        str | None, typer.Option("--address", help="The watch's address (default: first one found).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The watch's advertised name.")] = None,
    protocol: Annotated[
        str, typer.Option("--protocol", help="Protocol the emulator speaks (--device emulator).")
    ] = "mujo",
    link: Annotated[
        str | None, typer.Option("--link", help="Emulator radio: tcp:HOST:PORT or an in-process link name.")
    ] = None,
    record: Annotated[
        Path | None,
        typer.Option(
            "--record", help="Save the raw stream as CSV, synced to disk every second (replay it with `replay`)."
        ),
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", min=0.1, help="Seconds to run (default: until Ctrl-C).")
    ] = None,
    smoothing: Annotated[int, typer.Option("--smoothing", min=1, help="Majority over the last K windows.")] = 1,
    engine: Annotated[str | None, typer.Option("--engine", help="litert, executorch or onnxruntime.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json-out", help="Write the summary and predictions as JSON.")
    ] = None,
    session_out: Annotated[
        Path | None, typer.Option("--session-out", help="Write the session log (sets, rests): .json or .csv.")
    ] = None,
    serve: ServeFlag = False,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8765,
) -> None:
    """Recognise exercise live from a watch: current set, repetitions and rest, confidence, rate, loss, latency."""
    from rich.live import Live

    from mujo_edge.default_model import bundle_path
    from mujo_edge.firmware_bridge.client import WatchClient
    from mujo_edge.runtime import Recognizer

    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}", field="device")
    dashboard = dashboard_config(serve, host, port)
    proto = protocol if device == "emulator" else DEVICE_PROTOCOLS[device]
    bundle = bundle or bundle_path()
    recognizer = Recognizer.from_bundle(bundle, engine=engine, smoothing=smoothing)
    stream_channels(recognizer)  # fail before scanning when the model needs more than an accelerometer
    prepare_sessions()  # before the watch streams: its first import takes a while
    client = WatchClient(proto, name=name, address=address, **_client_kwargs(device, link))
    view = LiveView(client, recognizer)

    async def main() -> LiveSummary:
        stop = asyncio.Event()
        # Ctrl-C ends the run with a summary instead of a traceback (not on Windows, nor off the main thread)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
        try:
            async with client:
                with Live(view, console=console, refresh_per_second=4, transient=False):
                    kwargs: dict[str, Any] = {"duration": duration, "record": record, "stop": stop}
                    kwargs.update(on_prediction=view.update, on_session=view.update_session)
                    if dashboard is None:
                        return await run_live(client, recognizer, **kwargs)
                    from mujo_edge.runtime.dashboard import serve_live

                    return await serve_live(client, recognizer, dashboard, **dashboard_messages(), **kwargs)
        finally:
            await _close_link(client.backend_kwargs.get("link"))

    summary = asyncio.run(main())
    print_summary(summary, recognizer, f"live: {recognizer.artifact.name} on {recognizer.artifact.engine}")
    _write_session(session_out, summary)
    if record is not None:
        console.print(f"recorded to {record} (replay: mujo-edge replay {record} --bundle {bundle})")
    _write_json(json_out, summary)


def dashboard_config(serve: bool, host: str, port: int) -> ServeConfig | None:
    """`--serve --host --port` as the dashboard's ServeConfig (None without --serve); a ConfigError naming the
    extra when starlette or uvicorn is not installed."""
    if not serve:
        return None
    try:
        from mujo_edge.runtime.dashboard.server import ServeConfig
    except ImportError as e:
        raise ConfigError(
            f"needs the serve extra: pip install 'mujo-edge[serve]' ({e.name} is missing)", field="--serve"
        ) from None
    return ServeConfig(host=host, port=port)


def dashboard_messages() -> dict[str, Any]:
    """`on_url` and `warn` for serve_live/serve_demo: the dashboard's URL and its exposure warning go to the
    console, above the live view."""
    messages: dict[str, Callable[[str], None]] = {
        "on_url": lambda url: console.print(f"dashboard: [bold]{url}[/]"),
        "warn": lambda text: err_console.print(f"[yellow]warning:[/] {text}"),
    }
    return dict(messages)


def replay(
    file: Annotated[Path, typer.Argument(help="A CSV written by `live --record` (or any bring-your-own CSV).")],
    bundle: Annotated[Path, typer.Option("--bundle", help="Model bundle folder or .zip.")],
    smoothing: Annotated[int, typer.Option("--smoothing", min=1, help="Majority over the last K windows.")] = 1,
    engine: Annotated[str | None, typer.Option("--engine", help="litert, executorch or onnxruntime.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json-out", help="Write the summary and predictions as JSON.")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Fail instead of warning when the data fails a sanity check (wrong units)."),
    ] = False,
    session_out: Annotated[
        Path | None, typer.Option("--session-out", help="Write the session log (sets, rests): .json or .csv.")
    ] = None,
) -> None:
    """Re-run live recognition on a recorded stream, with its recorded timestamps (same windows as live)."""
    from mujo_edge.runtime import Recognizer
    from mujo_edge.units import strict_units

    recognizer = Recognizer.from_bundle(bundle, engine=engine, smoothing=smoothing)
    with strict_units(strict):
        recording = load_recorded(file)
    summary = replay_summary(recognizer, recording)
    print_summary(summary, recognizer, f"replay: {recognizer.artifact.name} on {recognizer.artifact.engine}")
    _write_json(json_out, summary, replayed=True)
    _write_session(session_out, summary)
