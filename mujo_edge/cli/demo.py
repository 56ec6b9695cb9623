"""`mujo-edge demo`: the whole product in one command, no hardware.

A virtual watch on an in-process Bumble radio replays every exercise set of a subject the embedded model never
saw (one continuous stream, as if the person did the sets back to back); the BLE client receives it exactly as
from a real watch; the embedded int8 bundle recognises it live; the run ends with accuracy against the
recording's labels, latency, measured rate and loss.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import typer

from mujo_edge.cli.console import console, err_console

DEMO_NAME = "mujo-demo-watch"


@dataclass(frozen=True)
class DemoStream:
    """The subject's sets back to back at 50 Hz: t [N] s from 0, xyz [N, 3] m/s^2, label names [N]."""

    subject: str
    t: np.ndarray
    xyz: np.ndarray
    labels: np.ndarray
    sets: int
    source: str


def spar_root(data: Path | None) -> tuple[Path, str]:
    """The SPAR-watch folder: --data, else $MUJO_EDGE_DATA or ../shared/data, else seglearn's copy."""
    from mujo_edge.data.base import DATA_ENV
    from mujo_edge.data.seglearn_source import spar_from_seglearn

    if data is not None:
        return data, str(data)
    base = Path(os.environ[DATA_ENV]) if os.environ.get(DATA_ENV) else Path("..") / "shared" / "data"
    if (base / "spar_watch").is_dir():
        return base / "spar_watch", str(base / "spar_watch")
    return spar_from_seglearn(), "seglearn 1.2.5 (the demo extra)"


def demo_stream(manifest: Any, data: Path | None, subject: str | None, max_sets: int | None) -> DemoStream:
    """The stream of one held-out subject, refusing a subject the bundle was trained or validated on."""
    from mujo_edge.channels import ChannelSelection
    from mujo_edge.config import WindowConfig
    from mujo_edge.data.prepare import load_recordings
    from mujo_edge.data.registry import get_loader
    from mujo_edge.errors import ConfigError

    split = dict(manifest.training).get("split", {})
    unseen = [str(s) for s in split.get("test", [])]
    seen = sorted({str(s) for part in ("train", "val") for s in split.get(part, [])})
    subject = subject or (unseen[0] if unseen else None)
    if subject is None:
        raise ConfigError("the bundle does not record its held-out subjects: pass --subject", field="--subject")
    if subject in seen:
        raise ConfigError(f"the model was trained or validated on subject {subject}; pick one of {unseen}",
                          field="--subject")
    root, source = spar_root(data)
    recordings = load_recordings(get_loader("spar_watch"), root, ChannelSelection(placements=("wrist",),
                                                                                 sensors=("acc",)), WindowConfig())
    mine = sorted((r for r in recordings if r.subject == subject), key=lambda r: (int(r.labels[0]), r.recording_id))
    if not mine:
        raise ConfigError(f"no recording of subject {subject} in {source}", field="--subject")
    mine = mine[:max_sets] if max_sets else mine
    idx = [mine[0].channel_names.index(c) for c in manifest.channels]
    xyz = np.concatenate([r.x[:, idx] for r in mine]).astype(np.float64)
    labels = np.concatenate([np.asarray(r.classes, dtype=str)[r.labels] for r in mine])
    rate = manifest.window.rate_hz
    return DemoStream(subject, np.arange(len(xyz)) / rate, xyz, labels, len(mine), source)


def window_truth(stream: DemoStream, starts_source: np.ndarray, window: Any) -> list[str | None]:
    """Label of each window [start, start + length) in stream time: the majority label if it covers
    min_purity of the window (training's rule), else None (a window across two sets)."""
    out: list[str | None] = []
    rate = window.rate_hz
    for s in starts_source:
        i0 = int(round(s * rate))
        seg = stream.labels[max(i0, 0):max(i0, 0) + window.length]
        if len(seg) < window.length:
            out.append(None)
            continue
        values, counts = np.unique(seg, return_counts=True)
        best = int(counts.argmax())
        out.append(str(values[best]) if counts[best] >= window.min_purity * window.length else None)
    return out


async def run_demo(recognizer: Any, stream: DemoStream, *, speed: float, protocol: str = "mujo",
                   show: bool = False, on_prediction: Any = None, on_batch: Any = None
                   ) -> tuple[Any, list[str | None]]:
    """Stream `stream` from a virtual watch through the BLE client into `recognizer` (with the live view when
    `show`; your `on_prediction(prediction, latency_s)` / `on_batch(samples)` callbacks as in `run_live`);
    returns the LiveSummary and the true label of each predicted window (None: across two sets)."""
    from contextlib import nullcontext

    from rich.live import Live

    from mujo_edge.cli.live import LiveView
    from mujo_edge.runtime.live import run_live
    from mujo_edge.firmware_bridge.client import WatchClient, scaled_clock
    from mujo_edge.firmware_bridge.emulator import VirtualWatch
    from mujo_edge.firmware_bridge.sim import BumbleClientBackend, BumbleScannerBackend

    first: list[float] = []
    watch = VirtualWatch(protocol, stream.t, stream.xyz, name=DEMO_NAME, speed=speed)
    client = WatchClient(protocol, name=DEMO_NAME, scanner_backend=BumbleScannerBackend,
                         client_backend=BumbleClientBackend, host_clock=scaled_clock(speed))
    stop = asyncio.Event()

    async def stop_when_sent() -> None:
        await watch.finished.wait()
        await asyncio.sleep(max(1.0 / speed, 0.3))  # the last notifications are still in flight
        stop.set()

    view = LiveView(client, recognizer)
    live = Live(view, console=console, refresh_per_second=4, transient=True) if show else nullcontext()
    async with watch, client:
        waiter = asyncio.create_task(stop_when_sent())
        def prediction(p: Any, latency: float) -> None:
            view.update(p, latency)
            if on_prediction is not None:
                on_prediction(p, latency)

        def batch(b: Any) -> None:
            if not first:
                first.append(float(b.t[0]))
            if on_batch is not None:
                on_batch(b)

        with live:
            summary = await run_live(client, recognizer, stop=stop, on_prediction=prediction, on_batch=batch)
        waiter.cancel()
    # host seconds and stream seconds have the same length (scaled clock): one offset maps them
    offset = first[0] - float(watch.delivered.t_source[0]) if first else 0.0
    starts = np.array([p.start_s - offset for p in summary.predictions])
    return summary, window_truth(stream, starts, recognizer.manifest.window)


def demo(
    speed: float = typer.Option(10.0, "--speed", min=0.1, help="Replay speed (1 = real time; 10 plays ~8 min of "
                                                               "exercise in under a minute)."),
    subject: str = typer.Option(None, "--subject", help="SPAR subject to replay (default: one the model never saw)."),
    sets: int = typer.Option(None, "--sets", min=1, help="Only the first N exercise sets."),
    data: Path = typer.Option(None, "--data", help="SPAR-watch folder (default: ../shared/data, else seglearn)."),
    bundle: Path = typer.Option(None, "--bundle", help="Bundle to run (default: the embedded one)."),
    protocol: str = typer.Option("mujo", "--protocol", help="Protocol the virtual watch speaks: mujo, polar, "
                                                          "metawear, banglejs, infinitime."),
    smoothing: int = typer.Option(5, "--smoothing", min=1, help="Majority over the last K windows."),
    quiet: bool = typer.Option(False, "--quiet", help="No live view; only the summary."),
) -> None:
    """Replay a real recording of an unseen subject from a virtual watch over BLE into live recognition."""
    from rich.table import Table

    from mujo_edge.cli.live import print_summary
    from mujo_edge.default_model import bundle_path
    from mujo_edge.metrics import accuracy, macro_f1
    from mujo_edge.runtime import Recognizer

    recognizer = Recognizer.from_bundle(bundle or bundle_path(), smoothing=smoothing)
    stream = demo_stream(recognizer.manifest, data, subject, sets)
    cv = dict(recognizer.manifest.metrics).get("cross_validated", {})
    console.print(f"[bold]mujo-edge demo[/]: subject {stream.subject} ({stream.sets} exercise sets, "
                  f"{len(stream.t) / recognizer.manifest.window.rate_hz / 60:.1f} min, from {stream.source}) "
                  f"-> virtual {protocol} watch at {speed:g}x -> BLE -> {recognizer.artifact.name} "
                  f"on {recognizer.artifact.engine}"
                  + (f"; cross-validated macro-F1 {cv['macro_f1_mean']:.3f}" if cv else ""))

    summary, truth = asyncio.run(run_demo(recognizer, stream, speed=speed, protocol=protocol, show=not quiet))
    print_summary(summary, recognizer, f"demo: subject {stream.subject}")
    pairs = [(t, p) for t, p in zip(truth, summary.predictions) if t is not None]
    if not pairs:
        err_console.print("[red]no labelled window was predicted[/]")
        raise typer.Exit(1)
    table = Table(title=f"against the recording's labels ({len(pairs)} windows of {len(truth)})", title_justify="left")
    for col in ("", "accuracy", "macro-F1"):
        table.add_column(col, justify="right")
    for name, key in (("per window", "label"), (f"majority of {smoothing}", "smoothed_label")):
        y, p = [t for t, _ in pairs], [getattr(q, key) for _, q in pairs]
        table.add_row(name, f"{accuracy(y, p):.3f}", f"{macro_f1(y, p):.3f}")
    console.print(table)
