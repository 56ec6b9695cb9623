"""The dashboard's state hub: what the live pipeline's callbacks report, per watch, kept for the web page.

The pipeline writes (`WatchFeed.on_batch`, `on_prediction`, `on_session`, `finish`) and never waits: each call
takes a lock for a few list and array operations and returns. Browsers read (`DashboardHub.frame`) at their own
pace, each with its own cursors into the traces, so a client that fell behind receives every point it missed
that is still within the trace window in its next frame, and nothing piles up for it in between. The lock makes
the hub safe to write from the event loop and to read from another thread (a test, a second server).

Traces are decimated by time for display (`HubConfig.trace_hz` points per second, a gap never filled) and kept
for `trace_s` seconds in a ring buffer per watch. Times sent to the page are seconds since the watch's first
sample (host clock), rounded to milliseconds; acceleration is m/s^2 rounded to centi-units.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mujo_edge.errors import ConfigError

if TYPE_CHECKING:
    from mujo_edge.firmware_bridge.client import ClientStats, DeviceSamples
    from mujo_edge.runtime.live import LiveSummary
    from mujo_edge.runtime.prediction import Prediction
    from mujo_edge.runtime.session import SessionLog, SessionState

# how far the page's time axis may run past the latest sample (a packet carries at most 0.2 s of samples)
MAX_AHEAD_S = 0.5

OnPrediction = Callable[["Prediction", float], None]
OnBatch = Callable[["DeviceSamples"], None]
OnSession = Callable[["SessionState"], None]


@dataclass(frozen=True)
class HubConfig:
    """trace_s: seconds of acceleration kept per watch; trace_hz: display points per second (the stream's own
    rate when lower); top_k: classes listed with their probability; log_entries: most recent sets listed;
    latency_window: predictions the latency median is taken over; stats_every_s: how often a watch's client
    statistics are read (they summarise seconds of stream, so reading them per frame buys nothing)."""

    trace_s: float = 10.0
    trace_hz: float = 25.0
    top_k: int = 3
    log_entries: int = 50
    latency_window: int = 20
    stats_every_s: float = 0.25

    def __post_init__(self) -> None:
        for name in ("trace_s", "trace_hz", "stats_every_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"must be a finite number > 0, got {value}", field=name)
        for name in ("top_k", "log_entries", "latency_window"):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be >= 1, got {getattr(self, name)}", field=name)

    @property
    def capacity(self) -> int:
        """Trace points a ring buffer holds: the window plus a margin for jitter."""
        return math.ceil(self.trace_s * self.trace_hz * 1.25) + 8


class _Trace:
    """Ring buffer of decimated samples: t [n] host s, xyz [n, 3] m/s^2; `total` counts every point ever kept,
    so a reader's cursor is the total it has seen."""

    def __init__(self, capacity: int, min_dt: float) -> None:
        self.t = np.zeros(capacity)
        self.xyz = np.zeros((capacity, 3))
        self.capacity = capacity
        self.total = 0
        self.min_dt = min_dt
        self._next_t = -math.inf

    def push(self, t: np.ndarray, xyz: np.ndarray) -> None:
        keep: list[int] = []
        next_t = self._next_t
        # a few samples per notification: a plain loop is cheaper than building masks for them
        for i, ti in enumerate(t.tolist()):
            if ti >= next_t:
                keep.append(i)
                next_t = ti + self.min_dt * 0.999  # jitter must not skip a point that is one step late
        self._next_t = next_t
        for i in keep:
            slot = self.total % self.capacity
            self.t[slot] = t[i]
            self.xyz[slot] = xyz[i]
            self.total += 1

    def since(self, cursor: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(index of the first point returned, t, xyz) of the points after `cursor` still held."""
        first = max(cursor, self.total - self.capacity, 0)
        idx = np.arange(first, self.total) % self.capacity
        return first, self.t[idx], self.xyz[idx]

    def latest_t(self) -> float | None:
        return float(self.t[(self.total - 1) % self.capacity]) if self.total else None


class WatchFeed:
    """One watch's part of the hub. Pass its bound methods to `run_live`/`run_demo` (see `callbacks`), set
    `stats` to the client's statistics when you have the client, and call `finish(summary)` at the end."""

    def __init__(self, hub: DashboardHub, key: str, name: str, stats: Callable[[], ClientStats] | None) -> None:
        self.hub = hub
        self.key = key
        self.name = name
        self.stats = stats
        cfg = hub.config
        self._trace = _Trace(cfg.capacity, 1.0 / cfg.trace_hz)
        self._origin: float | None = None
        # (stream time, hub clock) of the first and the latest batch: how fast the stream's clock runs against
        # the hub's (1 live, the replay speed in a demo), so the page's time axis can move between packets
        self._first_seen: tuple[float, float] | None = None
        self._last_seen: tuple[float, float] | None = None
        self._samples = 0
        self._prediction: dict[str, Any] | None = None
        self._predictions = 0
        self._latencies: deque[float] = deque(maxlen=cfg.latency_window)
        self._session: dict[str, Any] | None = None
        self._open_set: dict[str, Any] | None = None
        self._log: list[dict[str, Any]] = []
        self._final: dict[str, Any] | None = None
        self._stats_cache: tuple[float, dict[str, Any] | None] = (-math.inf, None)

    # --- written by the pipeline -------------------------------------------------------------------------
    def on_batch(self, batch: DeviceSamples) -> None:
        """A batch of samples: t [N] host s, xyz [N, 3] m/s^2."""
        with self.hub.lock:
            if len(batch.t):
                if self._origin is None:
                    self._origin = float(batch.t[0])
                self._last_seen = (float(batch.t[-1]), self.hub.clock())
                if self._first_seen is None:
                    self._first_seen = self._last_seen
            self._trace.push(batch.t, batch.xyz)
            self._samples += len(batch.t)
            self.hub.changed()

    def on_prediction(self, p: Prediction, latency_s: float) -> None:
        """A window's prediction and its latency (s from the window's last sample to the prediction)."""
        labels = self.hub.labels
        probs = np.asarray(p.probabilities)
        top = np.argsort(probs)[::-1][: self.hub.config.top_k]
        with self.hub.lock:
            # label: the majority over the recognizer's smoothing windows, with its probability in this window;
            # top: this window's own classes
            self._prediction = {
                "label": p.smoothed_label,
                "raw_label": p.label,
                "text": self.hub.label_texts.get(p.smoothed_label, ""),
                "confidence": round(float(probs[p.smoothed_index]), 4),
                "top": [[labels[i] if i < len(labels) else str(i), round(float(probs[i]), 4)] for i in top],
                "end_s": self._rel(p.end_s),
            }
            self._predictions += 1
            if math.isfinite(latency_s):
                self._latencies.append(latency_s)
            self.hub.changed()

    def on_session(self, state: SessionState) -> None:
        """The session tracker's state after a window. The log so far is assembled from these states: a set
        that closes is listed with the live repetition count; `finish` replaces the list with the tracker's
        own log (which recounts each set over its whole length and drops sets too short to be one)."""
        with self.hub.lock:
            self._session = {
                "status": state.status,
                "exercise": state.exercise,
                "repetitions": state.repetitions,
                "set_number": state.set_number,
                "set_elapsed_s": _round(state.set_elapsed_s, 1),
                "rest_s": _round(state.rest_s, 1),
            }
            if state.set_number is not None and state.exercise is not None:
                start = state.time_s - (state.set_elapsed_s or 0.0)
                self._open_set = {
                    "open": True,
                    "number": state.set_number,
                    "exercise": state.exercise,
                    "start_s": self._rel(start),
                    "end_s": self._rel(state.time_s),
                    "repetitions": state.repetitions,
                }
            elif self._open_set is not None:
                closed, self._open_set = {**self._open_set, "open": False}, None
                # a set the tracker continues (same exercise after a few odd windows) keeps its number
                self._log = [e for e in self._log if e["number"] != closed["number"]] + [closed]
            self.hub.changed()

    def finish(self, summary: LiveSummary | None = None) -> None:
        """The run ended: keep the summary's session log and statistics (the client is gone)."""
        with self.hub.lock:
            self._open_set = None
            log = summary.session if summary is not None else None
            if log is not None:
                self._log = self._log_rows(log)
            self._final = {
                "ended": True,
                "stats": None if summary is None else self._summary_stats(summary),
            }
            self.hub.changed()

    def callbacks(
        self,
        on_prediction: OnPrediction | None = None,
        on_batch: OnBatch | None = None,
        on_session: OnSession | None = None,
    ) -> dict[str, Any]:
        """Keyword arguments for `run_live`/`run_demo`: this feed's callbacks, each calling yours first when
        given (so a terminal view and the page see the same events)."""

        def prediction(p: Prediction, latency: float) -> None:
            if on_prediction is not None:
                on_prediction(p, latency)
            self.on_prediction(p, latency)

        def batch(b: DeviceSamples) -> None:
            if on_batch is not None:
                on_batch(b)
            self.on_batch(b)

        def session(s: SessionState) -> None:
            if on_session is not None:
                on_session(s)
            self.on_session(s)

        return {"on_prediction": prediction, "on_batch": batch, "on_session": session}

    # --- read by the server ------------------------------------------------------------------------------
    def _rel(self, t: float) -> float:
        return round(t - (self._origin or 0.0), 3)

    def _log_rows(self, log: SessionLog) -> list[dict[str, Any]]:
        return [
            {
                "number": s.number,
                "exercise": s.exercise,
                "start_s": self._rel(s.start_s),
                "end_s": self._rel(s.end_s),
                "repetitions": s.repetitions,
                "confidence": round(s.mean_confidence, 3),
                "interrupted": s.interrupted,
            }
            for s in log.sets
        ]

    def _client_stats(self, now: float) -> dict[str, Any] | None:
        at, cached = self._stats_cache
        if self.stats is None or now - at < self.hub.config.stats_every_s:
            return cached
        s = self.stats()
        fresh = {
            "connected": s.connected,
            "rate_hz": _round(s.measured_rate_hz, 1),
            "nominal_hz": s.nominal_rate_hz,
            "loss": round(s.loss_fraction, 5),
            "missing": s.missing_samples,
            "gaps": s.gaps,
            "reconnects": s.reconnects,
            "bad_packets": s.decode_errors,
            "protocol_name": s.device.protocol if s.device is not None else None,
        }
        self._stats_cache = (now, fresh)
        return fresh

    def _summary_stats(self, summary: LiveSummary) -> dict[str, Any]:
        return {
            "connected": False,
            "rate_hz": _round(summary.measured_rate_hz, 1),
            "nominal_hz": None,
            "loss": round(summary.loss_fraction, 5),
            "missing": summary.missing_samples,
            "gaps": summary.gaps,
            "reconnects": summary.reconnects,
            "bad_packets": summary.decode_errors,
            "protocol_name": None,
        }

    def stream_now(self, now: float) -> float | None:
        """The stream's time now (seconds since its first sample): the latest sample's time plus the hub time
        since it arrived, at the stream's own pace; never more than `MAX_AHEAD_S` past the latest sample, so a
        watch that stopped sending does not scroll its trace away."""
        if self._first_seen is None or self._last_seen is None or self._final is not None:
            return None if self._last_seen is None else self._rel(self._last_seen[0])
        (t0, h0), (t1, h1) = self._first_seen, self._last_seen
        pace = (t1 - t0) / (h1 - h0) if h1 - h0 > 1.0 else 1.0
        return self._rel(t1 + min(MAX_AHEAD_S, max(0.0, now - h1) * pace))

    @property
    def live(self) -> bool:
        """Streaming and not finished: its time axis moves even when no packet arrived."""
        return self._last_seen is not None and self._final is None

    def frame(self, cursor: int | None, now: float) -> tuple[dict[str, Any], int]:
        """This watch's part of a frame (caller holds the hub's lock) and the reader's new cursor (None: a new
        reader, which gets every point held)."""
        first, t, xyz = self._trace.since(cursor or 0)
        if len(t):  # the buffer's margin holds a little more than the window: the page shows the window
            recent = t >= t[-1] - self.hub.config.trace_s
            first, t, xyz = first + int(np.argmax(recent)), t[recent], xyz[recent]
        origin = self._origin or 0.0
        lat = sorted(self._latencies)
        stats = (self._final or {}).get("stats") or self._client_stats(now) or {}
        log = [*self._log, *([self._open_set] if self._open_set is not None else [])]
        part = {
            "id": self.key,
            "name": self.name,
            "ended": self._final is not None,
            "now_s": self.stream_now(now),
            "trace": {
                # reset: the reader missed points that are gone (or is new); it drops what it holds
                "reset": cursor is None or first != cursor,
                "t": np.round(t - origin, 3).tolist(),
                "x": np.round(xyz[:, 0], 2).tolist(),
                "y": np.round(xyz[:, 1], 2).tolist(),
                "z": np.round(xyz[:, 2], 2).tolist(),
            },
            "prediction": self._prediction,
            "session": self._session,
            "log": log[-self.hub.config.log_entries :],
            "stats": {
                **stats,
                "samples": self._samples,
                "predictions": self._predictions,
                "latency_ms": round(1e3 * lat[len(lat) // 2], 1) if lat else None,
            },
        }
        return part, self._trace.total


def _round(v: float | None, digits: int) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), digits)


class DashboardHub:
    """The state of every watch the page shows, in the order they were added.

    labels: the bundle's class labels (index -> name, for the top-k); label_texts: label -> description (the
    page shows it under the label, cut to one line). `version` rises on every change, so a reader can skip a
    frame that would repeat the last one.
    """

    def __init__(
        self,
        labels: Sequence[str] = (),
        label_texts: Mapping[str, str] | None = None,
        config: HubConfig = HubConfig(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.labels = tuple(labels)
        self.label_texts = dict(label_texts or {})
        self.config = config
        self.lock = threading.Lock()
        self.version = 0
        self.clock = clock
        self._feeds: dict[str, WatchFeed] = {}

    def changed(self) -> None:
        # an int increment under the GIL; readers compare it without the lock
        self.version += 1

    def watch(self, name: str, stats: Callable[[], ClientStats] | None = None) -> WatchFeed:
        """Add a watch panel (names must be unique: they tell panels apart on the page)."""
        with self.lock:
            if any(f.name == name for f in self._feeds.values()):
                raise ConfigError(f"a watch named {name!r} is already on the dashboard", field="name")
            key = f"w{len(self._feeds)}"
            feed = WatchFeed(self, key, name, stats)
            self._feeds[key] = feed
            self.changed()
            return feed

    @property
    def live(self) -> bool:
        """Some watch is streaming: frames carry a moving time axis even without new samples."""
        with self.lock:
            return any(f.live for f in self._feeds.values())

    @property
    def feeds(self) -> tuple[WatchFeed, ...]:
        with self.lock:
            return tuple(self._feeds.values())

    def frame(self, cursors: dict[str, int] | None = None) -> tuple[dict[str, Any], dict[str, int]]:
        """A frame for one reader: every watch's state, with the trace points after the reader's `cursors`
        (None: a new reader, all points held), and the cursors to pass next time."""
        cursors = cursors or {}
        now = self.clock()
        with self.lock:
            version = self.version
            parts, new = [], {}
            for key, feed in self._feeds.items():
                part, new[key] = feed.frame(cursors.get(key), now)
                parts.append(part)
        return {"type": "frame", "version": version, "trace_s": self.config.trace_s, "watches": parts}, new
