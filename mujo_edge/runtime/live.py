"""Live recognition as a library: `run_live(client, recognizer, ...)` feeds a started watch client's stream
into `Recognizer.stream()`; `replay_recording` runs a recorded stream through the same streaming code.

A live run pushes the host timestamps the client assigns; `record=` writes exactly those timestamps and samples
(bring-your-own CSV layout, flushed batch by batch), so replaying the file pushes the same numbers through the
same code and predicts the same windows. The client is duck-typed (`samples()`, `now()`, `stats`, `protocol`):
this module imports neither the BLE stack nor torch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from mujo_edge.errors import ConfigError

if TYPE_CHECKING:
    from mujo_edge.firmware_bridge.client import DeviceSamples, WatchClient
    from mujo_edge.recording import Recording
    from mujo_edge.runtime import Prediction, Recognizer


# --- -------------------------------------------------------------------------------------------


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
            "device": self.device,
            "duration_s": self.duration_s,
            "samples": self.samples,
            "measured_rate_hz": self.measured_rate_hz,
            "gaps": self.gaps,
            "missing_samples": self.missing_samples,
            "loss_fraction": self.loss_fraction,
            "reconnects": self.reconnects,
            "decode_errors": self.decode_errors,
            "latency_p50_s": self.latency_percentile(50),
            "latency_p95_s": self.latency_percentile(95),
            "warnings": list(self.warnings),
            **self.extra,
            "predictions": [
                {
                    "start_s": p.start_s,
                    "end_s": p.end_s,
                    "label": p.label,
                    "smoothed": p.smoothed_label,
                    "confidence": p.confidence,
                    "latency_s": lat,
                }
                for p, lat in zip(self.predictions, self.latencies_s)
            ],
        }


def stream_channels(recognizer: Recognizer) -> tuple[str, str, str]:
    """Names for a watch's x/y/z columns: the bundle's accelerometer channels (ConfigError if it needs more)."""
    from mujo_edge.channels import Channel

    parsed = [Channel.parse(c) for c in recognizer.channels]
    acc = [c for c in parsed if c.sensor == "acc"]
    placements = sorted({c.placement for c in acc})
    if len(acc) != len(parsed) or len(placements) != 1:
        raise ConfigError(
            f"a watch streams one accelerometer; the model needs {list(recognizer.channels)}", field="channels"
        )
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
        self._fh.write(
            "".join(f"{float(ti)!r},{float(a)!r},{float(b)!r},{float(c)!r}\n" for ti, (a, b, c) in zip(t, xyz))
        )
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


def stream_warnings(rate: float | None, model_rate: float, loss: float, saturated: int) -> list[str]:
    out = []
    if rate is not None and rate < 0.9 * model_rate:
        out.append(
            f"the device delivers {rate:.1f} Hz, below the {model_rate:g} Hz the model was trained on: "
            f"samples are interpolated and predictions may be less accurate"
        )
    if loss > 0.01:
        out.append(f"{100 * loss:.1f} % of samples lost")
    if saturated:
        out.append(f"{saturated} samples at the accelerometer's range limit (saturated)")
    return out


async def run_live(
    client: WatchClient,
    recognizer: Recognizer,
    *,
    duration: float | None = None,
    record: Path | None = None,
    stop: asyncio.Event | None = None,
    on_prediction: Callable[[Prediction, float], None] | None = None,
    on_batch: Callable[[DeviceSamples], None] | None = None,
) -> LiveSummary:
    """Recognise a started `WatchClient`'s stream until `duration` seconds (host clock) pass or it ends.

    Every batch is pushed to `recognizer.stream()` with the client's host timestamps (and written to `record`
    first, if given). Setting `stop` ends the run early (the CLI sets it on Ctrl-C).
    `on_prediction(prediction, latency_s)` is called per window, latency being host time now minus the window's
    end. The stream is flushed at the end, as `replay_recording` does.
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
    warnings = stream_warnings(
        stats.measured_rate_hz, recognizer.manifest.window.rate_hz, stats.loss_fraction, stats.saturated_samples
    )
    if error:
        warnings.append(f"stream ended early: {error}")
    return LiveSummary(
        device=str(client.device or client.protocol.name),
        duration_s=client.now() - start,
        samples=stats.samples,
        measured_rate_hz=stats.measured_rate_hz,
        gaps=stats.gaps,
        missing_samples=stats.missing_samples,
        reconnects=stats.reconnects,
        decode_errors=stats.decode_errors,
        predictions=tuple(preds),
        latencies_s=tuple(lats),
        warnings=tuple(warnings),
        extra={
            "protocol": client.protocol.name,
            "drift_ppm": stats.drift_ppm,
            "record": None if record is None else str(record),
        },
    )


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
    loss = missing / max(1, missing + recording.n_samples)
    warnings = stream_warnings(rate, recognizer.manifest.window.rate_hz, loss, 0)
    return LiveSummary(
        device=recording.source,
        duration_s=recording.duration_s,
        samples=recording.n_samples,
        measured_rate_hz=rate,
        gaps=int(gaps.size),
        missing_samples=missing,
        reconnects=0,
        decode_errors=0,
        predictions=tuple(preds),
        latencies_s=tuple(p.latency_s for p in preds),
        warnings=tuple(warnings),
    )
