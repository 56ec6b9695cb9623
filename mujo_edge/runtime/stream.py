"""Incremental resampling and windowing of a live stream: the same windows offline code would cut.

`StreamWindower.push(t, x)` takes raw samples as they arrive (device timestamps in seconds, SI units, any
rate, any chunk size) and returns every window those samples complete. The windows are exactly those
`mujo_edge.windows.window_recording` cuts from the whole stream at once (same start times, bit-identical
values), because:

- the grid is the offline grid: t0 + k / rate_hz with t0 the first sample's timestamp, computed with the
  same float operations for the same k;
- a grid point is computed once the samples that decide it have arrived (linear: the first sample at or
  after it; pchip: one sample more, since its slopes look one sample ahead), with the very interpolation
  and gap functions offline `resample` uses, on the few samples around it (they depend on nothing else);
- windows start every `step` grid points counted from the first sample, and a window touching a grid point
  inside a gap (> max_gap_s between two samples) is dropped, as offline. After a gap the next window is the
  first one on that lattice lying wholly after the gap.

Pure numpy: no model here, so the live BLE client and the recognizer share it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mujo_edge.config import WindowConfig
from mujo_edge.errors import ConfigError, SampleError

# The private helpers of offline resampling, used as they are: sharing the code is what makes streamed
# windows bit-identical to offline ones.
from mujo_edge.resample import _gap_mask, _interpolate

log = logging.getLogger(__name__)

# Grid points computed per block: bounds memory when one push spans a long gap (a BLE reconnect after hours).
_BLOCK = 4096


@dataclass(frozen=True, eq=False)
class StreamWindow:
    """One window cut from a stream: `x` float32 [C, L] in SI units, starting at `start_s` (source seconds)."""

    start_s: float
    end_s: float  # start + length / rate_hz: the window covers [start_s, end_s)
    x: np.ndarray
    index: int  # grid index of the window's first sample (0 = the stream's first sample)


class StreamWindower:
    """Resamples a stream onto the offline 50 Hz grid and cuts windows as soon as they are complete.

    Shapes: `push(t [N] seconds float64, x [N, C] SI units)` -> list of `StreamWindow`.
    Timestamps must increase strictly across pushes; `reset()` starts a new stream (new grid origin).
    """

    def __init__(self, config: WindowConfig, channels: Sequence[str]) -> None:
        self.config = config
        self.channels = tuple(channels)
        if not self.channels:
            raise ConfigError("a stream needs at least one channel", field="channels")
        # linear: a grid point is final once a sample at or after it arrived; pchip needs one more
        # (its slope at a sample depends on the next one) and one more sample of history behind it.
        self._lookahead = 0 if config.interpolation == "linear" else 1
        self._history = 1 if config.interpolation == "linear" else 2
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next sample starts a new grid and a new window lattice."""
        c = len(self.channels)
        self._t = np.zeros(0, np.float64)  # source samples still needed (the last few)
        self._x = np.zeros((0, c), np.float32)
        self._t0: float | None = None
        self._k_next = 0  # next grid index to compute
        self._buf_k = 0  # grid index of _buf_x[0]
        self._buf_x = np.zeros((0, c), np.float32)
        self._buf_valid = np.zeros(0, bool)
        self._next_start = 0  # grid index of the next window start on the lattice
        self.samples_seen = 0
        self.windows_emitted = 0
        self.windows_dropped = 0  # windows that touched a gap
        self._flushed = False

    @property
    def t0(self) -> float | None:
        """Timestamp of the stream's first sample (the grid origin), None before the first push."""
        return self._t0

    def push(self, t: np.ndarray | Sequence[float], x: np.ndarray) -> list[StreamWindow]:
        """Add samples; returns the windows they complete, oldest first (possibly none)."""
        t = np.ascontiguousarray(t, dtype=np.float64).reshape(-1)
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim == 1 and len(self.channels) == x.shape[0] and t.shape[0] == 1:
            x = x[None, :]
        if self._flushed:
            raise SampleError("the stream was flushed (ended); call reset() to start a new one", field="timestamp")
        self._check(t, x)
        if t.shape[0] == 0:
            return []
        if self._t0 is None:
            self._t0 = float(t[0])
        self.samples_seen += t.shape[0]
        self._t = np.concatenate([self._t, t])
        self._x = np.concatenate([self._x, x])
        return self._advance(len(self._t) - 1 - self._lookahead)

    def flush(self) -> list[StreamWindow]:
        """End the stream: compute the grid points still waiting for a later sample and cut their windows.

        Only pchip holds such points back (its last slope waits for one more sample); with it, the last
        window of a recording comes out here, as offline (which treats the last sample as the end).
        Linear streams have nothing pending. Pushing after a flush needs `reset()` first.
        """
        out = self._advance(len(self._t) - 1) if self._t0 is not None else []
        self._flushed = True
        return out

    def _advance(self, final: int) -> list[StreamWindow]:
        """Compute every grid point at or before sample `final` (which decides them), cut windows, trim."""
        out: list[StreamWindow] = []
        if final < 0:
            return out
        k_last = self._last_index_at_or_before(float(self._t[final]))
        while self._k_next <= k_last:
            gap_end = self._inside_gap_until(self._k_next)
            if gap_end - self._k_next > _BLOCK:
                self._skip_gap(gap_end)
                continue
            k_hi = min(k_last, self._k_next + _BLOCK - 1)
            self._compute(self._k_next, k_hi)
            self._k_next = k_hi + 1
            out.extend(self._cut())
        # keep only the samples the next grid points can depend on
        keep_from = max(0, final - self._history + 1)
        self._t, self._x = self._t[keep_from:], self._x[keep_from:]
        return out

    # --- internals -----------------------------------------------------------------------------------
    def _check(self, t: np.ndarray, x: np.ndarray) -> None:
        c = len(self.channels)
        if x.ndim != 2 or x.shape != (t.shape[0], c):
            raise SampleError(
                f"samples have shape {x.shape}, expected ({t.shape[0]}, {c}) for channels {', '.join(self.channels)}",
                field="x",
            )
        if not np.isfinite(t).all():
            raise SampleError("non-finite timestamp", field="timestamp")
        if not np.isfinite(x).all():
            i = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
            raise SampleError(f"non-finite value at t={t[i]!r}", field="x")
        prev = self._t[-1:] if len(self._t) else np.zeros(0)
        dt = np.diff(np.concatenate([prev, t]))
        if (dt <= 0).any():
            i = int(np.flatnonzero(dt <= 0)[0])
            raise SampleError(
                f"timestamps must increase strictly (sample at {t[i]!r} s after "
                f"{np.concatenate([prev, t])[i]!r} s); call reset() to start a new stream",
                field="timestamp",
            )

    def _grid(self, k_lo: int, k_hi: int) -> np.ndarray:
        # exactly grid_for's arithmetic: t0 + k / rate for the same integers k
        t0 = float(self._t0 or 0.0)  # set by the first push, before any grid point is computed
        return t0 + np.arange(k_lo, k_hi + 1, dtype=np.float64) / self.config.rate_hz

    def _last_index_at_or_before(self, t_end: float) -> int:
        """Largest k with t0 + k / rate <= t_end (exact float comparison, as searchsorted in `_gap_mask`)."""
        t0 = float(self._t0 or 0.0)  # set by the first push, before any grid point is computed
        k = int(np.floor((t_end - t0) * self.config.rate_hz + 1e-9))
        while k >= 0 and t0 + np.float64(k) / self.config.rate_hz > t_end:
            k -= 1
        return k

    def _inside_gap_until(self, k: int) -> int:
        """The last grid index of the gap that grid point `k` lies strictly inside, minus a margin of two points
        (all of them are invalid: no sample within `max_gap_s` on both sides); k - 1 when `k` is not in a gap."""
        t_k = float(self._grid(k, k)[0])
        j = int(np.searchsorted(self._t, t_k, side="left"))
        if j == 0 or j >= len(self._t) or self._t[j] - self._t[j - 1] <= self.config.max_gap_s:
            return k - 1
        if not self._t[j - 1] < t_k < self._t[j]:
            return k - 1
        return self._last_index_at_or_before(float(self._t[j])) - 2

    def _skip_gap(self, last: int) -> None:
        """Grid points k_next..last are all invalid: drop every window that touches them without computing
        them, so a pause of days costs what a pause of seconds does (time grows with samples, not span)."""
        step = self.config.step
        if self._next_start <= last:  # every pending window reaches k_next, so it touches the gap
            n = (last - self._next_start) // step + 1
            self.windows_dropped += n
            self._next_start += n * step
        self._k_next = last + 1
        self._buf_x, self._buf_valid = self._buf_x[:0], self._buf_valid[:0]
        self._buf_k = self._k_next

    def _compute(self, k_lo: int, k_hi: int) -> None:
        """Values and validity of grid points k_lo..k_hi from the samples held, appended to the buffer."""
        grid = self._grid(k_lo, k_hi)
        valid = _gap_mask(self._t, np.ones(len(self._t), bool), grid, self.config.max_gap_s)
        values = _interpolate(self._t, self._x, grid, self.config.interpolation)
        valid &= np.isfinite(values).all(axis=1)
        self._buf_x = np.concatenate([self._buf_x, values])
        self._buf_valid = np.concatenate([self._buf_valid, valid])

    def _cut(self) -> list[StreamWindow]:
        """Every lattice window whose last grid point is computed; then drop buffer rows no window needs."""
        length, step = self.config.length, self.config.step
        out = []
        while self._next_start + length <= self._k_next:
            i = self._next_start - self._buf_k
            if self._buf_valid[i : i + length].all():
                start = float(self._grid(self._next_start, self._next_start)[0])
                out.append(
                    StreamWindow(
                        start_s=start,
                        end_s=start + self.config.window_s,
                        x=np.ascontiguousarray(self._buf_x[i : i + length].T),
                        index=self._next_start,
                    )
                )
                self.windows_emitted += 1
            else:
                self.windows_dropped += 1
            self._next_start += step
        drop = min(self._next_start - self._buf_k, len(self._buf_valid))
        if drop > 0:
            self._buf_x, self._buf_valid = self._buf_x[drop:], self._buf_valid[drop:]
            self._buf_k += drop
        return out
