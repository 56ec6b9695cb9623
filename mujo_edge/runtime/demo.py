"""The demo as a library: a held-out subject's exercise sets replayed by a virtual watch over an in-process BLE
radio into live recognition, scored against the recording's labels.

Runtime layer (ARCHITECTURE.md): like `runtime.live` it feeds a watch through the bridge (here a virtual one)
into the runtime; it never imports torch, training or export. `mujo-edge demo` prints what `run_demo` returns, and
`examples/count_repetitions.py` passes its own callbacks. The bridge is imported inside the functions so that
importing this module stays cheap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError
from mujo_edge.runtime.session.truth import TrueSet

if TYPE_CHECKING:
    from mujo_edge.bundle import Manifest
    from mujo_edge.firmware_bridge.client import DeviceSamples, WatchClient
    from mujo_edge.runtime import Prediction, Recognizer
    from mujo_edge.runtime.live import LiveSummary, OnSession

DEMO_NAME = "mujo-demo-watch"
DEMO_DATASET = "spar_watch"
SPAR_REPETITIONS = 20  # every SPAR recording is one set of 20 repetitions (the dataset's protocol)

OnPrediction = Callable[["Prediction", float], None]
OnBatch = Callable[["DeviceSamples"], None]
# Given the connected client, a context manager around the run that yields a per-prediction callback: how the CLI
# draws its live view without this module knowing about terminals.
Display = Callable[["WatchClient"], AbstractContextManager[OnPrediction | None]]


@dataclass(frozen=True)
class DemoStream:
    """The subject's sets back to back at 50 Hz: t [N] s from 0, xyz [N, 3] m/s^2, label names [N];
    set_bounds: (exercise, first sample, end sample) of each set, in order."""

    subject: str
    t: np.ndarray
    xyz: np.ndarray
    labels: np.ndarray
    sets: int
    source: str
    set_bounds: tuple[tuple[str, int, int], ...] = ()

    def true_sets(self, offset_s: float = 0.0) -> list[TrueSet]:
        """The sets as done (SPAR: 20 repetitions each), in stream seconds plus `offset_s`."""
        rate = 1.0 / float(self.t[1] - self.t[0]) if len(self.t) > 1 else 50.0
        return [
            TrueSet(name, offset_s + a / rate, offset_s + b / rate, SPAR_REPETITIONS) for name, a, b in self.set_bounds
        ]


@dataclass(frozen=True)
class DemoScore:
    """Accuracy and macro-F1 over the predicted windows that lie inside one exercise set."""

    windows: int  # windows with a true label
    predicted: int  # all predicted windows
    accuracy: float
    macro_f1: float
    smoothed_accuracy: float  # the same, of the majority over the last `smoothing` windows
    smoothed_macro_f1: float


def spar_root(data: Path | None) -> tuple[Path, str]:
    """The SPAR-watch folder and how to name it: `data`, else the data root rule, else seglearn's copy."""
    from mujo_edge.data.base import locate_root
    from mujo_edge.data.registry import get_loader
    from mujo_edge.data.seglearn_source import SEGLEARN_FALLBACK

    found = locate_root(get_loader(DEMO_DATASET).spec, data, fallback=SEGLEARN_FALLBACK)
    return found.path, found.source


def demo_stream(manifest: Manifest, data: Path | None, subject: str | None, max_sets: int | None) -> DemoStream:
    """The stream of one held-out subject, refusing a subject the bundle was trained or validated on."""
    from mujo_edge.channels import ChannelSelection
    from mujo_edge.data.prepare import load_recordings
    from mujo_edge.data.registry import get_loader

    split = manifest.training.split
    unseen = list(manifest.training.held_out)
    seen = list(split.seen) if split is not None else []
    subject = subject or (unseen[0] if unseen else None)
    if subject is None:
        raise ConfigError("the bundle does not record its held-out subjects: pass --subject", field="--subject")
    if subject in seen:
        raise ConfigError(
            f"the model was trained or validated on subject {subject}; pick one of {unseen}", field="--subject"
        )
    root, source = spar_root(data)
    recordings = load_recordings(
        get_loader(DEMO_DATASET), root, ChannelSelection(placements=("wrist",), sensors=("acc",)), WindowConfig()
    )
    mine = sorted((r for r in recordings if r.subject == subject), key=lambda r: (int(r.labels[0]), r.recording_id))
    if not mine:
        raise ConfigError(f"no recording of subject {subject} in {source}", field="--subject")
    mine = mine[:max_sets] if max_sets else mine
    xyz = np.concatenate([r.with_channels(manifest.channels).x for r in mine]).astype(np.float64)
    labels = np.concatenate([np.asarray(r.classes, dtype=str)[r.labels] for r in mine])
    ends = np.cumsum([r.n_samples for r in mine])
    bounds = tuple((str(r.classes[r.labels[0]]), int(e - r.n_samples), int(e)) for r, e in zip(mine, ends))
    rate = manifest.window.rate_hz
    return DemoStream(subject, np.arange(len(xyz)) / rate, xyz, labels, len(mine), source, bounds)


def window_truth(stream: DemoStream, starts_source: np.ndarray, window: WindowConfig) -> list[str | None]:
    """Label of each window [start, start + length) in stream time, by training's rule
    (`mujo_edge.windows.window_labels`): the majority label if it covers min_purity of the window, else None
    (a window across two sets, or past the end)."""
    from mujo_edge.windows import window_labels

    # a window starting before the stream (clock offset rounding) is read from its first sample
    first = np.maximum(np.round(np.asarray(starts_source, dtype=np.float64) * window.rate_hz).astype(np.int64), 0)
    majority, pure = window_labels(stream.labels, first, window.length, window.min_purity)
    return [str(m) if ok else None for m, ok in zip(majority, pure)]


def score(predictions: Sequence[Prediction], truth: Sequence[str | None]) -> DemoScore | None:
    """Scores of the windows with a true label (None when no predicted window has one)."""
    from mujo_edge.metrics import accuracy, macro_f1

    pairs = [(t, p) for t, p in zip(truth, predictions) if t is not None]
    if not pairs:
        return None
    y = [t for t, _ in pairs]
    raw = [p.label for _, p in pairs]
    smooth = [p.smoothed_label for _, p in pairs]
    return DemoScore(
        windows=len(pairs),
        predicted=len(truth),
        accuracy=accuracy(y, raw),
        macro_f1=macro_f1(y, raw),
        smoothed_accuracy=accuracy(y, smooth),
        smoothed_macro_f1=macro_f1(y, smooth),
    )


async def run_demo(
    recognizer: Recognizer,
    stream: DemoStream,
    *,
    speed: float,
    protocol: str = "mujo",
    on_prediction: OnPrediction | None = None,
    on_batch: OnBatch | None = None,
    on_session: OnSession | None = None,
    display: Display | None = None,
) -> tuple[LiveSummary, list[str | None]]:
    """Stream `stream` from a virtual watch through the BLE client into `recognizer`, calling your
    `on_prediction(prediction, latency_s)` / `on_batch(samples)` as `run_live` does (and `display`'s callback,
    inside its context, when given) and `on_session(state)` after each window (sets, repetitions, rest); returns
    the LiveSummary and the true label of each predicted window (None: across two sets). The summary's
    extra["source_offset_s"] is host time minus stream time: `stream.true_sets(offset)` are on the log's clock."""
    from mujo_edge.firmware_bridge.client import WatchClient, scaled_clock
    from mujo_edge.firmware_bridge.emulator import VirtualWatch
    from mujo_edge.firmware_bridge.sim import BumbleClientBackend, BumbleScannerBackend
    from mujo_edge.runtime.live import prepare_sessions, run_live

    prepare_sessions()
    first: list[float] = []
    watch = VirtualWatch(protocol, stream.t, stream.xyz, name=DEMO_NAME, speed=speed)
    client = WatchClient(
        protocol,
        name=DEMO_NAME,
        scanner_backend=BumbleScannerBackend,
        client_backend=BumbleClientBackend,
        host_clock=scaled_clock(speed),
    )
    stop = asyncio.Event()

    async def stop_when_sent() -> None:
        await watch.finished.wait()
        await asyncio.sleep(max(1.0 / speed, 0.3))  # the last notifications are still in flight
        stop.set()

    shown = display(client) if display is not None else nullcontext(None)
    async with watch, client:
        waiter = asyncio.create_task(stop_when_sent())
        with shown as show:

            def prediction(p: Prediction, latency: float) -> None:
                if show is not None:
                    show(p, latency)
                if on_prediction is not None:
                    on_prediction(p, latency)

            def batch(b: DeviceSamples) -> None:
                if not first:
                    first.append(float(b.t[0]))
                if on_batch is not None:
                    on_batch(b)

            summary = await run_live(
                client, recognizer, stop=stop, on_prediction=prediction, on_batch=batch, on_session=on_session
            )
        waiter.cancel()
    # host seconds and stream seconds have the same length (scaled clock): one offset maps them
    offset = first[0] - float(watch.delivered.t_source[0]) if first else 0.0
    summary.extra["source_offset_s"] = offset
    starts = np.array([p.start_s - offset for p in summary.predictions])
    return summary, window_truth(stream, starts, recognizer.manifest.window)
