"""`mujo-edge live`, `replay` and `devices`: recognise exercise from a watch's stream, or from its recording.

The library core is `run_live(client, recognizer, ...)` (no terminal needed) and `replay_recording`; the
commands add a rich view. A live run feeds `Recognizer.stream()` with the host timestamps the client assigns;
`--record` writes exactly those timestamps and samples (bring-your-own CSV layout, flushed batch by batch), so
`replay` of the file pushes the same numbers through the same streaming code and predicts the same windows.
Torch-free: imports the runtime and the bridge only, both inside the functions.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import typer

from mujo_edge.cli.console import console, err_console
from mujo_edge.errors import ConfigError

if TYPE_CHECKING:
    from mujo_edge.firmware_bridge.client import DeviceSamples, WatchClient
    from mujo_edge.recording import Recording
    from mujo_edge.runtime import Prediction, Recognizer

# --device choices -> protocol ("watch": our own GATT profile on real hardware; "emulator": see --protocol)
DEVICE_PROTOCOLS = {"watch": "mujo", "polar": "polar", "infinitime": "infinitime", "banglejs": "banglejs",
                    "metawear": "metawear"}
DEVICES = (*DEVICE_PROTOCOLS, "emulator")


# --- library core -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LiveSummary:
    """What a live run (or a replay) did. latencies_s: per prediction, host time of the prediction minus the
    window's end (live), or the engine's inference time per window (replay)."""

    device: str
    duration_s: float
    samples: int
    measured_rate_hz: float | None
    gaps: int
    missing_samples: int
    reconnects: int
    decode_errors: int
    predictions: tuple[Prediction, ...]
    latencies_s: tuple[float, ...]
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def loss_fraction(self) -> float:
        total = self.samples + self.missing_samples
        return self.missing_samples / total if total else 0.0

    def latency_percentile(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_s, q)) if self.latencies_s else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device, "duration_s": self.duration_s, "samples": self.samples,
            "measured_rate_hz": self.measured_rate_hz, "gaps": self.gaps, "missing_samples": self.missing_samples,
            "loss_fraction": self.loss_fraction, "reconnects": self.reconnects, "decode_errors": self.decode_errors,
            "latency_p50_s": self.latency_percentile(50), "latency_p95_s": self.latency_percentile(95),
            "warnings": list(self.warnings), **self.extra,
            "predictions": [{"start_s": p.start_s, "end_s": p.end_s, "label": p.label, "smoothed": p.smoothed_label,
                             "confidence": p.confidence, "latency_s": lat}
                            for p, lat in zip(self.predictions, self.latencies_s)],
        }


def stream_channels(recognizer: Recognizer) -> tuple[str, str, str]:
    """Names for a watch's x/y/z columns: the bundle's accelerometer channels (ConfigError if it needs more)."""
    from mujo_edge.channels import Channel

    parsed = [Channel.parse(c) for c in recognizer.channels]
    acc = [c for c in parsed if c.sensor == "acc"]
    placements = sorted({c.placement for c in acc})
    if len(acc) != len(parsed) or len(placements) != 1:
        raise ConfigError(f"a watch streams one accelerometer; the model needs {list(recognizer.channels)}",
                          field="channels")
    return tuple(f"{placements[0]}_acc_{axis}" for axis in "xyz")  # type: ignore[return-value]


class CsvRecorder:
    """Writes a stream in the bring-your-own CSV layout (`timestamp[s]` host time, acceleration in m/s^2),
    flushing after every batch so a crash loses nothing already received.

    Device timestamps, when the protocol has them, go to `<file>.device_times.tsv` beside it (host and device
    time per sample): the CSV layout allows no extra columns, and `predict`/`replay` need only the host times.
    Values are written with `repr`, so reading the file back gives the very floats that were streamed.
    """

    def __init__(self, path: Path, channels: Sequence[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] = self.path.open("w", encoding="utf-8", newline="")
        self._fh.write(",".join(["timestamp[s]", *(f"{c}[m/s^2]" for c in channels)]) + "\n")
        self._fh.flush()
        self._dev: IO[str] | None = None
        self.rows = 0

    @property
    def device_times_path(self) -> Path:
        return self.path.with_name(self.path.name + ".device_times.tsv")

    def write(self, t: np.ndarray, xyz: np.ndarray, t_device: np.ndarray | None = None) -> None:
        self._fh.write("".join(f"{float(ti)!r},{float(a)!r},{float(b)!r},{float(c)!r}\n"
                               for ti, (a, b, c) in zip(t, xyz)))
        self._fh.flush()
        if t_device is not None:
            if self._dev is None:
                self._dev = self.device_times_path.open("w", encoding="utf-8")
                self._dev.write("timestamp[s]\tdevice_time[s]\n")
            self._dev.write("".join(f"{float(a)!r}\t{float(b)!r}\n" for a, b in zip(t, t_device)))
            self._dev.flush()
        self.rows += len(t)

    def close(self) -> None:
        self._fh.close()
        if self._dev is not None:
            self._dev.close()


def _warnings(rate: float | None, model_rate: float, loss: float, saturated: int) -> list[str]:
    out = []
    if rate is not None and rate < 0.9 * model_rate:
        out.append(f"the device delivers {rate:.1f} Hz, below the {model_rate:g} Hz the model was trained on: "
                   f"samples are interpolated and predictions may be less accurate")
    if loss > 0.01:
        out.append(f"{100 * loss:.1f} % of samples lost")
    if saturated:
        out.append(f"{saturated} samples at the accelerometer's range limit (saturated)")
    return out


async def run_live(client: WatchClient, recognizer: Recognizer, *, duration: float | None = None,
                   record: Path | None = None, stop: asyncio.Event | None = None,
                   on_prediction: Callable[[Prediction, float], None] | None = None,
                   on_batch: Callable[[DeviceSamples], None] | None = None) -> LiveSummary:
    """Recognise a started `WatchClient`'s stream until `duration` seconds (host clock) pass or it ends.

    Every batch is pushed to `recognizer.stream()` with the client's host timestamps (and written to `record`
    first, if given). Setting `stop` ends the run early (the CLI sets it on Ctrl-C). `on_prediction(prediction, latency_s)` is called per window, latency being host time now
    minus the window's end. The stream is flushed at the end, as `replay_recording` does.
    """
    channels = stream_channels(recognizer)
    stream = recognizer.stream(channels)
    recorder = CsvRecorder(record, channels) if record is not None else None
    preds: list[Prediction] = []
    lats: list[float] = []
    start = client.now()

    def emit(new: list[Prediction]) -> None:
        now = client.now()
        for p in new:
            preds.append(p)
            lats.append(now - p.end_s)
            if on_prediction is not None:
                on_prediction(p, now - p.end_s)

    async def consume() -> None:
        async for batch in client.samples():
            if recorder is not None:
                recorder.write(batch.t, batch.xyz, batch.t_device)
            if on_batch is not None:
                on_batch(batch)
            emit(stream.push(batch.t, batch.xyz))

    error: str | None = None
    task = asyncio.create_task(consume())
    waiters: set[asyncio.Future[Any]] = {task}
    if stop is not None:
        waiters.add(asyncio.ensure_future(stop.wait()))
    try:
        await asyncio.wait(waiters, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        if recorder is not None:
            recorder.close()
    if task.done() and not task.cancelled() and task.exception() is not None:
        error = str(task.exception())  # the watch gave up reconnecting: keep what was received
    emit(stream.flush())
    stats = client.stats
    warnings = _warnings(stats.measured_rate_hz, recognizer.manifest.window.rate_hz, stats.loss_fraction,
                         stats.saturated_samples)
    if error:
        warnings.append(f"stream ended early: {error}")
    return LiveSummary(device=str(client.device or client.protocol.name), duration_s=client.now() - start,
                       samples=stats.samples, measured_rate_hz=stats.measured_rate_hz, gaps=stats.gaps,
                       missing_samples=stats.missing_samples, reconnects=stats.reconnects,
                       decode_errors=stats.decode_errors, predictions=tuple(preds), latencies_s=tuple(lats),
                       warnings=tuple(warnings),
                       extra={"protocol": client.protocol.name, "drift_ppm": stats.drift_ppm,
                              "record": None if record is None else str(record)})


def load_recorded(path: Path) -> Recording:
    """A recorded stream (or any bring-your-own CSV file) as one Recording."""
    from mujo_edge.channels import ChannelSelection
    from mujo_edge.data.registry import get_loader

    loader = get_loader("csv")
    recordings = loader.read(Path(path), "", ChannelSelection())
    if len(recordings) != 1:
        raise ConfigError(f"{path} holds {len(recordings)} recordings, expected one", field="file")
    return recordings[0]


def replay_recording(recognizer: Recognizer, recording: Recording) -> list[Prediction]:
    """The live pipeline offline: the recording's own timestamps through `recognizer.stream()`, then flush."""
    stream = recognizer.stream(recording.channel_names)
    return stream.push(recording.t, recording.x) + stream.flush()


def replay_summary(recognizer: Recognizer, recording: Recording) -> LiveSummary:
    """`replay_recording` plus the same statistics a live run reports (rate from the median sample step;
    a step over 1.5 periods is a gap whose missing samples are estimated at that rate)."""
    preds = replay_recording(recognizer, recording)
    dt = np.diff(recording.t)
    rate = 1.0 / float(np.median(dt)) if dt.size else None
    gaps = dt[dt > 1.5 / rate] if rate else np.zeros(0)
    missing = int(sum(max(0, round(g * rate) - 1) for g in gaps)) if rate else 0
    warnings = _warnings(rate, recognizer.manifest.window.rate_hz, missing / max(1, missing + recording.n_samples), 0)
    return LiveSummary(device=recording.source, duration_s=recording.duration_s, samples=recording.n_samples,
                       measured_rate_hz=rate, gaps=int(gaps.size), missing_samples=missing, reconnects=0,
                       decode_errors=0, predictions=tuple(preds), latencies_s=tuple(p.latency_s for p in preds),
                       warnings=tuple(warnings))


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

    def update(self, p: Prediction, latency: float) -> None:
        self.last, self.latency = p, latency
        self.count += 1

    def __rich__(self) -> Any:
        from rich.table import Table

        s = self.client.stats
        texts = self.recognizer.manifest.label_texts
        t = Table(title=f"{s.device or self.client.protocol.name}  [dim]{self.client.protocol.name}[/]",
                  show_header=False, title_justify="left")
        t.add_column(style="bold")
        t.add_column()
        p = self.last
        if p is None:
            t.add_row("exercise", "[dim]waiting for the first window...[/]")
        else:
            t.add_row("exercise", f"[bold green]{p.smoothed_label}[/] {texts.get(p.smoothed_label, '')}")
            t.add_row("confidence", f"{p.confidence:.2f}")
            top = np.argsort(p.probabilities)[::-1][:3]
            t.add_row("top-3", ", ".join(f"{self.recognizer.labels[i]} {p.probabilities[i]:.2f}" for i in top))
        t.add_row("rate", f"{_fmt(s.measured_rate_hz, '.1f', ' Hz')} (nominal {s.nominal_rate_hz:g} Hz)")
        t.add_row("loss", f"{100 * s.loss_fraction:.2f} % ({s.missing_samples} missing in {s.gaps} gaps), "
                          f"{s.reconnects} reconnects, {s.decode_errors} bad packets")
        t.add_row("latency", f"{_fmt(None if self.latency is None else 1e3 * self.latency, '.0f', ' ms')} "
                             f"window end -> prediction ({self.count} predictions)")
        for w in _warnings(s.measured_rate_hz, self.recognizer.manifest.window.rate_hz, s.loss_fraction,
                           s.saturated_samples):
            t.add_row("[yellow]warning[/]", f"[yellow]{w}[/]")
        if not s.connected:
            t.add_row("[yellow]link[/]", f"[yellow]reconnecting... {s.last_error or ''}[/]")
        return t


def print_summary(summary: LiveSummary, recognizer: Recognizer, title: str) -> None:
    from rich.table import Table

    from mujo_edge.cli.runtime import segments

    head = Table(title=title, show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column()
    head.add_row("device", summary.device)
    head.add_row("duration", f"{summary.duration_s:.1f} s")
    head.add_row("samples", f"{summary.samples} at {_fmt(summary.measured_rate_hz, '.1f', ' Hz')}")
    head.add_row("gaps", f"{summary.gaps} ({summary.missing_samples} missing samples, "
                         f"{100 * summary.loss_fraction:.2f} % loss)")
    head.add_row("reconnects / bad packets", f"{summary.reconnects} / {summary.decode_errors}")
    head.add_row("predictions", str(len(summary.predictions)))
    p50, p95 = summary.latency_percentile(50), summary.latency_percentile(95)
    head.add_row("latency p50 / p95", f"{_fmt(None if p50 is None else 1e3 * p50, '.1f')} / "
                                      f"{_fmt(None if p95 is None else 1e3 * p95, '.1f')} ms")
    console.print(head)
    for w in summary.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")
    w = recognizer.manifest.window
    segs = segments(summary.predictions, [None] * len(summary.predictions), w.step / w.rate_hz,
                    smoothed=recognizer.smoothing > 1)
    if not segs:
        return
    t0 = summary.predictions[0].start_s
    table = Table(title="timeline (s from the first window)", title_justify="left")
    for col in ("start", "end", "exercise", "activity", "confidence", "windows"):
        table.add_column(col, justify="right" if col in ("start", "end", "confidence", "windows") else "left")
    texts = recognizer.manifest.label_texts
    for s in segs:
        table.add_row(f"{s['start_s'] - t0:.1f}", f"{s['end_s'] - t0:.1f}", f"[bold]{s['label']}[/]",
                      texts.get(s["label"], ""), f"{s['confidence']:.2f}", str(s["windows"]))
    console.print(table)


def _write_json(path: Path | None, summary: LiveSummary) -> None:
    if path is not None:
        path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n")


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
    timeout: float = typer.Option(5.0, "--timeout", min=0.1, help="Seconds to scan."),
    link: str = typer.Option(None, "--link", help="Scan the emulator's radio instead: tcp:HOST:PORT or a link "
                                                  "name."),
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
        table.add_row(d.name or "[dim]?[/]", d.address, _fmt(d.rssi, "d", " dBm"),
                      d.protocol or "[dim]unknown[/]")
    console.print(table)


def live(
    bundle: Path = typer.Option(..., "--bundle", help="Model bundle folder or .zip."),
    device: str = typer.Option("watch", "--device", help=f"One of {', '.join(DEVICES)}."),
    address: str = typer.Option(None, "--address", help="The watch's address (default: first one found)."),
    name: str = typer.Option(None, "--name", help="The watch's advertised name."),
    protocol: str = typer.Option("mujo", "--protocol", help="Protocol the emulator speaks (--device emulator)."),
    link: str = typer.Option(None, "--link", help="Emulator radio: tcp:HOST:PORT or an in-process link name."),
    record: Path = typer.Option(None, "--record", help="Save the raw stream as CSV (replay it with `replay`)."),
    duration: float = typer.Option(None, "--duration", min=0.1, help="Seconds to run (default: until Ctrl-C)."),
    smoothing: int = typer.Option(1, "--smoothing", min=1, help="Majority over the last K windows."),
    engine: str = typer.Option(None, "--engine", help="litert, executorch or onnxruntime."),
    json_out: Path = typer.Option(None, "--json-out", help="Write the summary and predictions as JSON."),
) -> None:
    """Recognise exercise live from a watch: current activity, confidence, rate, loss and latency."""
    from rich.live import Live

    from mujo_edge.firmware_bridge.client import WatchClient
    from mujo_edge.runtime import Recognizer

    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}", field="device")
    proto = protocol if device == "emulator" else DEVICE_PROTOCOLS[device]
    recognizer = Recognizer.from_bundle(bundle, engine=engine, smoothing=smoothing)
    stream_channels(recognizer)  # fail before scanning when the model needs more than an accelerometer
    client = WatchClient(proto, name=name, address=address, **_client_kwargs(device, link))
    view = LiveView(client, recognizer)

    async def main() -> LiveSummary:
        stop = asyncio.Event()
        try:  # Ctrl-C ends the run with a summary instead of a traceback
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            pass
        try:
            async with client:
                with Live(view, console=console, refresh_per_second=4, transient=False):
                    return await run_live(client, recognizer, duration=duration, record=record, stop=stop,
                                          on_prediction=view.update)
        finally:
            await _close_link(client.backend_kwargs.get("link"))

    summary = asyncio.run(main())
    print_summary(summary, recognizer, f"live: {recognizer.artifact.name} on {recognizer.artifact.engine}")
    if record is not None:
        console.print(f"recorded to {record} (replay: mujo-edge replay {record} --bundle {bundle})")
    _write_json(json_out, summary)


def replay(
    file: Path = typer.Argument(..., help="A CSV written by `live --record` (or any bring-your-own CSV)."),
    bundle: Path = typer.Option(..., "--bundle", help="Model bundle folder or .zip."),
    smoothing: int = typer.Option(1, "--smoothing", min=1, help="Majority over the last K windows."),
    engine: str = typer.Option(None, "--engine", help="litert, executorch or onnxruntime."),
    json_out: Path = typer.Option(None, "--json-out", help="Write the summary and predictions as JSON."),
) -> None:
    """Re-run live recognition on a recorded stream, with its recorded timestamps (same windows as live)."""
    from mujo_edge.runtime import Recognizer

    recognizer = Recognizer.from_bundle(bundle, engine=engine, smoothing=smoothing)
    summary = replay_summary(recognizer, load_recorded(file))
    print_summary(summary, recognizer, f"replay: {recognizer.artifact.name} on {recognizer.artifact.engine}")
    _write_json(json_out, summary)
