"""Live recognition as a library: `run_live(client, recognizer, ...)` feeds a started watch client's stream
into `Recognizer.stream()`; `replay_recording` runs a recorded stream through the same streaming code.

A live run pushes the host timestamps the client assigns; `record=` writes exactly those timestamps and samples
(bring-your-own CSV layout, flushed batch by batch and synced to disk every second), so replaying the file
pushes the same numbers through the same code and predicts the same windows. The client is duck-typed
(`samples()`, `now()`, `stats`, `protocol`, optionally `drain()`): this module imports neither the BLE stack
nor torch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from mujo_edge.errors import ConfigError, MujoEdgeError, SampleError

if TYPE_CHECKING:
    from mujo_edge.bundle import Manifest
    from mujo_edge.firmware_bridge.client import DeviceSamples, WatchClient
    from mujo_edge.recording import Recording
    from mujo_edge.runtime import Prediction, Recognizer
    from mujo_edge.runtime.session import SessionLog, SessionState, SessionTracker

log = logging.getLogger(__name__)

OnSession = Callable[["SessionState"], None]

# --- -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveSummary:
    """What a live run (or a replay) did. latencies_s: per prediction, host time of the prediction minus the
    host time of the window's last sample (live: never negative, the window cannot be predicted before its data
    exists), or the engine's inference time per window (replay). decode_errors: bad packets, the ones the decoder
    or clock refused plus the batches the pipeline could not use (`extra["pipeline_rejected"]`); the samples of
    the latter count as missing."""

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
    # sets, repetitions and rests (None: the stream or bundle lacks what the tracker needs; a warning says why)
    session: SessionLog | None = None

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
            "session": None if self.session is None else self.session.to_dict(),
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
    """Writes a stream in the bring-your-own CSV layout (`timestamp[s]` host time, acceleration in m/s^2).

    Durable: every batch is flushed to the operating system as it is written (a killed process loses nothing
    written), and synced to disk (`os.fsync`) at most every `sync_every_s` seconds and on close, so a power cut
    or crash of the machine loses at most that interval. Each batch is one write of whole lines.

    Device timestamps, when the protocol has them, go to `<file>.device_times.tsv` beside it (host and device
    time per sample): the CSV layout allows no extra columns, and `predict`/`replay` need only the host times.
    Values are written with `repr`, so reading the file back gives the very floats that were streamed.
    `clock` (monotonic seconds) is replaceable for tests.
    """

    def __init__(
        self,
        path: Path,
        channels: Sequence[str],
        *,
        sync_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sync_every_s = sync_every_s
        self._clock = clock
        self._fh: IO[str] = self.path.open("w", encoding="utf-8", newline="")
        self._dev: IO[str] | None = None
        self._fh.write(",".join(["timestamp[s]", *(f"{c}[m/s^2]" for c in channels)]) + "\n")
        self._sync()
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
        if self._clock() - self._synced_at >= self.sync_every_s:
            self._sync()

    def close(self) -> None:
        self._sync()
        self._fh.close()
        if self._dev is not None:
            self._dev.close()

    def _sync(self) -> None:
        for fh in (self._fh, self._dev):
            if fh is not None:
                fh.flush()
                os.fsync(fh.fileno())
        self._synced_at = self._clock()


def stream_warnings(rate: float | None, manifest: Manifest, loss: float, saturated: int) -> list[str]:
    out = []
    # compared with the rate of the recordings the model learned from: a model trained on 12.5 Hz data and fed
    # 12.5 Hz sees what it was trained on, although both are resampled to the window's 50 Hz
    source = manifest.training.source_rate_hz
    if rate is not None and source is not None and rate < 0.9 * source:
        out.append(
            f"the device delivers {rate:.1f} Hz, below the {source:.1f} Hz the model's training recordings were "
            f"made at: predictions may be less accurate"
        )
    elif rate is not None and source is None and rate < 0.9 * manifest.window.rate_hz:
        out.append(
            f"the device delivers {rate:.1f} Hz, below the model's {manifest.window.rate_hz:g} Hz (the bundle "
            f"does not record its training recordings' rate): samples are interpolated and predictions may be "
            f"less accurate"
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
    on_session: OnSession | None = None,
) -> LiveSummary:
    """Recognise a started `WatchClient`'s stream until `duration` seconds (host clock) pass or it ends.

    Every batch is pushed to `recognizer.stream()` with the client's host timestamps, then written to `record`.
    A batch the pipeline refuses (times that do not increase, non-finite values) is a bad packet: counted,
    skipped, and the session goes on; only the transport ending (the client giving up) ends it early.
    Setting `stop` ends the run (the CLI sets it on Ctrl-C); batches already received then are still consumed,
    so the summary counts exactly what the recording holds. `on_prediction(prediction, latency_s)` is called per
    window, latency being host time now minus the time of the window's last sample (when its data was
    complete). The stream is flushed at the end, as `replay_recording` does. A `SessionTracker` follows the
    stream (sets, repetitions, rest): `on_session(state)` is called after each window, and the summary's
    `session` is its log.
    """
    session = _Session(recognizer, record, on_prediction, on_batch, client.now, on_session)

    async def consume() -> None:
        async for batch in client.samples():
            session.take(batch)

    error: str | None = None
    start = client.now()
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
        drain = getattr(client, "drain", None)
        for batch in drain() if drain is not None else []:
            session.take(batch)
        session.close()
    if task.done() and not task.cancelled() and task.exception() is not None:
        error = str(task.exception())  # the watch gave up reconnecting: keep what was received
    session.emit(session.stream.flush())
    return session.summary(client, client.now() - start, error)


class _Session:
    """What `run_live` holds while it runs: the streaming recognizer, the recorder, predictions, latencies and
    the batches the pipeline refused."""

    def __init__(
        self,
        recognizer: Recognizer,
        record: Path | None,
        on_prediction: Callable[[Prediction, float], None] | None,
        on_batch: Callable[[DeviceSamples], None] | None,
        now: Callable[[], float],
        on_session: OnSession | None = None,
    ) -> None:
        channels = stream_channels(recognizer)
        self.recognizer = recognizer
        self.record = record
        self.stream = recognizer.stream(channels)
        self.recorder = CsvRecorder(record, channels) if record is not None else None
        self.on_prediction, self.on_batch, self.now = on_prediction, on_batch, now
        # the window's data is complete at its last sample, one period before end_s
        self.period = 1.0 / recognizer.manifest.window.rate_hz
        self.preds: list[Prediction] = []
        self.lats: list[float] = []
        self.rejected = self.rejected_samples = 0
        self.last_rejection: str | None = None
        self.tracker, self.tracker_warning = session_tracker(recognizer, channels)
        self.on_session = on_session

    def take(self, batch: DeviceSamples) -> None:
        try:
            new = self.stream.push(batch.t, batch.xyz)
        except MujoEdgeError as e:  # the windower checks before it changes anything: skip the batch, go on
            self.rejected += 1
            self.rejected_samples += len(batch.t)
            self.last_rejection = str(e)
            log.warning("skipped a batch the pipeline cannot use: %s", e)
            return
        if self.recorder is not None:
            self.recorder.write(batch.t, batch.xyz, batch.t_device)
        if self.tracker is not None:  # the samples first: the tracker measures the windows they complete
            self.tracker.push_samples(batch.t, batch.xyz)
        if self.on_batch is not None:
            self.on_batch(batch)
        self.emit(new)

    def emit(self, new: list[Prediction]) -> None:
        now = self.now()
        for p in new:
            latency = now - (p.end_s - self.period)
            self.preds.append(p)
            self.lats.append(latency)
            if self.on_prediction is not None:
                self.on_prediction(p, latency)
            if self.tracker is not None:
                state = self.tracker.push_prediction(p)
                if self.on_session is not None:
                    self.on_session(state)

    def close(self) -> None:
        if self.recorder is not None:
            self.recorder.close()

    def summary(self, client: WatchClient, duration_s: float, error: str | None) -> LiveSummary:
        stats = client.stats
        # a refused batch's samples never reached the model: lost to it, like a packet lost on air
        samples = stats.samples - self.rejected_samples
        missing = stats.missing_samples + self.rejected_samples
        loss = missing / (samples + missing) if samples + missing else 0.0
        warnings = stream_warnings(stats.measured_rate_hz, self.recognizer.manifest, loss, stats.saturated_samples)
        if self.rejected:
            warnings.append(f"{self.rejected} batches skipped, the pipeline could not use them: {self.last_rejection}")
        if error:
            warnings.append(f"stream ended early: {error}")
        if self.tracker_warning:
            warnings.append(self.tracker_warning)
        return LiveSummary(
            device=str(client.device or client.protocol.name),
            duration_s=duration_s,
            samples=samples,
            measured_rate_hz=stats.measured_rate_hz,
            gaps=stats.gaps,
            missing_samples=missing,
            reconnects=stats.reconnects,
            decode_errors=stats.decode_errors + self.rejected,
            predictions=tuple(self.preds),
            latencies_s=tuple(self.lats),
            warnings=tuple(warnings),
            extra={
                "protocol": client.protocol.name,
                "drift_ppm": stats.drift_ppm,
                "record": None if self.record is None else str(self.record),
                "pipeline_rejected": self.rejected,
            },
            session=None if self.tracker is None else self.tracker.finish(),
        )


def prepare_sessions() -> None:
    """Load what the session tracker needs (scipy.signal takes about a second to import the first time). Call it
    before the watch starts streaming: `run_live` builds its tracker when it starts, and a second of blocking
    then is a second of samples arriving late, at a high replay speed enough to end the run before they do."""
    from mujo_edge.runtime.repetitions import RepetitionConfig, warm_up

    warm_up(RepetitionConfig())


def recording_session(
    recognizer: Recognizer, recording: Recording, predictions: Sequence[Prediction]
) -> tuple[SessionLog | None, str | None]:
    """The session log of a recorded stream and its predictions (in time order), or None and the reason
    (`session_tracker`'s): what `replay` and `predict` show."""
    tracker, why = session_tracker(recognizer, recording.channel_names, [c.unit for c in recording.channels])
    if tracker is None:
        return None, why
    valid = np.asarray(recording.valid, dtype=bool)
    try:
        tracker.push_samples(recording.t[valid], recording.x[valid])
        for p in predictions:
            tracker.push_prediction(p)
    except MujoEdgeError as e:  # samples the tracker cannot use: the predictions stand, the log keeps what it saw
        log.warning("session tracking stopped: %s", e)
        return tracker.finish(), f"session tracking stopped: {e}"
    return tracker.finish(), None


def session_tracker(
    recognizer: Recognizer, channels: Sequence[str], units: Sequence[str] | None = None
) -> tuple[SessionTracker | None, str | None]:
    """A SessionTracker for a stream of `channels` in `units` (default: a watch's accelerometer, m/s^2) with the
    bundle's calibration, or None and the reason: without one, recognition goes on and only sets and
    repetitions are missing."""
    from mujo_edge.runtime.session import SessionTracker, config_for_bundle

    manifest = recognizer.manifest
    units = list(units) if units is not None else ["m/s^2"] * len(channels)
    try:
        return SessionTracker(channels, units, manifest.window, config_for_bundle(manifest)), None
    except ConfigError as e:
        log.warning("no sets or repetitions for this stream: %s", e)
        return None, f"no sets or repetitions: {e.message}"


def load_recorded(path: Path) -> Recording:
    """A recorded stream (or any bring-your-own CSV file) as one Recording."""
    from mujo_edge.channels import ChannelSelection
    from mujo_edge.data.csv_layout import BYO_CSV
    from mujo_edge.data.registry import get_loader

    loader = get_loader(BYO_CSV)
    recordings = loader.read(Path(path), "", ChannelSelection())
    if len(recordings) != 1:
        raise ConfigError(f"{path} holds {len(recordings)} recordings, expected one", field="file")
    return recordings[0]


def replay_recording(recognizer: Recognizer, recording: Recording) -> list[Prediction]:
    """The live pipeline offline: the recording's own timestamps through `recognizer.stream()`, then flush."""
    stream = recognizer.stream(recording.channel_names)
    return stream.push(recording.t, recording.x) + stream.flush()


def replay_summary(recognizer: Recognizer, recording: Recording) -> LiveSummary:
    """`replay_recording` plus the same statistics a live run reports: rate, gaps and missing samples from the
    recording's own timestamps (`stream_gaps`: jitter is not loss). Timestamps whose rate no wearable has
    (milliseconds under a `[s]` header) are a SampleError naming the file, not a replay that predicts nothing."""
    rate, gaps, missing = stream_gaps(recording.t)
    check_stream_rate(rate, recording.source)
    preds = replay_recording(recognizer, recording)
    loss = missing / max(1, missing + recording.n_samples)
    warnings = stream_warnings(rate, recognizer.manifest, loss, 0)
    session, why = recording_session(recognizer, recording, preds)
    if why:
        warnings.append(why)
    return LiveSummary(
        device=recording.source,
        duration_s=recording.duration_s,
        samples=recording.n_samples,
        measured_rate_hz=rate,
        gaps=gaps,
        missing_samples=missing,
        reconnects=0,
        decode_errors=0,
        predictions=tuple(preds),
        latencies_s=tuple(p.latency_s for p in preds),
        warnings=tuple(warnings),
        session=session,
    )


def check_stream_rate(rate_hz: float | None, source: str) -> None:
    """SampleError naming `source` when a stream's rate is not one a wearable has (`mujo_edge.recording`'s bounds,
    which the CSV loader checks too): the signature of a timestamp unit the header gets wrong, e.g. milliseconds
    read as seconds give 0.05 Hz for 50 Hz. A recording from elsewhere reaches replay without that loader."""
    from mujo_edge.recording import MAX_RATE_HZ, MIN_RATE_HZ

    if rate_hz is None or MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
        return
    hint = "milliseconds (timestamp[ms])" if rate_hz < MIN_RATE_HZ else "a smaller unit (timestamp[us])"
    raise SampleError(
        f"the timestamps give {rate_hz:.4g} samples per second, outside what a wearable records "
        f"({MIN_RATE_HZ:g}-{MAX_RATE_HZ:g} Hz): are they {hint}?",
        path=source,
        field="timestamp",
    )


def stream_gaps(t: np.ndarray) -> tuple[float | None, int, int]:
    """(rate Hz, gaps, missing samples) of a stream's timestamps `t` [N] s, counting real gaps only.

    A step is a gap when the stream's own jitter cannot explain it: longer than 1.5 periods and than the median
    step plus 5 robust standard deviations of the steps (timestamps jittering by +-9.9 ms at 50 Hz give steps of
    0.2-39.8 ms, none of them a lost sample). A gap of duration d misses round(d * rate) - 1 samples. The rate
    is the intervals (received and missing) per second of the span, so jitter averages out of it; None for
    fewer than two samples.
    """
    dt = np.diff(np.asarray(t, dtype=np.float64))
    if dt.size == 0 or not dt.sum() > 0:
        return None, 0, 0
    period = float(np.median(dt))
    jitter = 1.4826 * float(np.median(np.abs(dt - period)))
    steps = dt[dt > max(1.5 * period, period + 5 * jitter)]
    missing = 0
    for _ in range(3):  # each pass's rate from the span refines the next one's count
        missing = int(np.sum(np.maximum(np.rint(steps / period) - 1, 0)))
        period = float(dt.sum()) / (dt.size + missing)
    return 1.0 / period, int(steps.size), missing
