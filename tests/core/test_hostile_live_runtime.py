"""Issue 15, the live path's runtime half: `run_live` survives any batch, its summary matches its recording and its
latency is never negative; `replay` tells jitter from loss and refuses timestamps in the wrong unit; `--record`
is durable. Bad inputs are generated here; the model is the embedded default bundle."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from mujo_edge.errors import MujoEdgeError, SampleError
from mujo_edge.recording import Recording
from mujo_edge.runtime import Recognizer
from mujo_edge.runtime.live import CsvRecorder, load_recorded, replay_summary, run_live

REPO = Path(__file__).resolve().parents[2]
H0 = 1_700_000_000.0
CHANNELS = ("wrist_acc_x", "wrist_acc_y", "wrist_acc_z")


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    from mujo_edge.default_model import bundle_path

    try:
        return Recognizer.from_bundle(bundle_path())
    except MujoEdgeError as e:
        pytest.skip(f"no engine for the default bundle: {e}")


@dataclass(frozen=True)
class Batch:
    """What `run_live` needs of a `DeviceSamples`."""

    t: np.ndarray
    xyz: np.ndarray
    t_device: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.t)


@dataclass
class Stats:
    samples: int = 0
    gaps: int = 0
    missing_samples: int = 0
    reconnects: int = 0
    decode_errors: int = 0
    measured_rate_hz: float | None = 50.0
    drift_ppm: float | None = None
    saturated_samples: int = 0
    loss_fraction: float = 0.0


class FakeClient:
    """A duck-typed watch client: `consumed` batches come out of `samples()` one by one (the clock set to each
    one's arrival), then it waits for the stop; `queued` batches arrived (and are counted) but nobody took them
    from the queue before the run ended."""

    def __init__(self, consumed: list[Batch], queued: list[Batch] = (), arrival_delay: float = 0.0) -> None:
        self.consumed, self.queued = list(consumed), list(queued)
        self.delay = arrival_delay
        self.protocol = type("P", (), {"name": "fake"})()
        self.device = "fake watch"
        self.stats = Stats(samples=sum(len(b) for b in self.consumed + self.queued))
        self._now = H0
        self.done = asyncio.Event()

    def now(self) -> float:
        return self._now

    async def samples(self):
        for b in self.consumed:
            self._now = float(b.t[-1]) + self.delay
            yield b
        self.done.set()
        await asyncio.Event().wait()  # the link stays up; only the stop ends the run

    def drain(self) -> list[Batch]:
        out, self.queued = self.queued, []
        return out


def stream(n: int, per: int, seed: int = 0) -> list[Batch]:
    rng = np.random.default_rng(seed)
    t = H0 + np.arange(n) / 50.0
    x = np.stack([np.sin(t - H0), np.cos(t - H0), 9.81 + 0 * t], axis=1) + rng.normal(0, 0.2, (n, 3))
    return [Batch(t[i : i + per], x[i : i + per]) for i in range(0, n, per)]


def run(client: FakeClient, recognizer: Recognizer, **kw):
    async def main():
        stop = asyncio.Event()

        async def stop_when_done() -> None:
            await client.done.wait()
            stop.set()

        stopper = asyncio.create_task(stop_when_done())
        summary = await run_live(client, recognizer, stop=stop, **kw)
        await stopper
        return summary

    return asyncio.run(asyncio.wait_for(main(), 60))


# --- run_live ----------------------------------------------------------------------------------------------


def test_a_batch_the_pipeline_cannot_use_is_a_bad_packet_not_the_end(recognizer: Recognizer) -> None:
    batches = stream(1500, 10)
    k = 40
    b = batches[k]
    batches[k] = Batch(np.full(len(b), b.t[0]), b.xyz)  # count 4 and span 0 once made exactly this
    nan = batches[k + 20].xyz.copy()
    nan[3, 1] = np.nan
    batches[k + 20] = Batch(batches[k + 20].t, nan)
    summary = run(FakeClient(batches), recognizer)
    assert not any("ended early" in w for w in summary.warnings), summary.warnings
    assert summary.decode_errors == 2 and summary.extra["pipeline_rejected"] == 2
    # windows after the bad batches are still predicted (the stream spans 30 s)
    assert summary.predictions and summary.predictions[-1].end_s > H0 + 25


def test_the_summary_counts_exactly_what_the_recording_holds(recognizer: Recognizer, tmp_path: Path) -> None:
    batches = [Batch(b.t, b.xyz) for b in stream(300, 1)]  # InfiniTime-like: one sample per notification
    client = FakeClient(batches[:-3], queued=batches[-3:])
    record = tmp_path / "rec.csv"
    summary = run(client, recognizer, record=record)
    back = load_recorded(record)
    assert back.n_samples == summary.samples == 300


def test_latency_is_never_negative_when_batches_end_on_window_boundaries(recognizer: Recognizer) -> None:
    """Bangle.js: 10-sample lines, windows every 50 samples: the sample that completes a window is the last of
    its line and arrives with it. The window's data is complete at its last sample, not at end_s."""
    summary = run(FakeClient(stream(1500, 10)), recognizer)
    assert len(summary.latencies_s) >= 25
    assert min(summary.latencies_s) >= 0.0, sorted(summary.latencies_s)[:3]


# --- replay ------------------------------------------------------------------------------------------------


def recording(t: np.ndarray, source: str = "rec.csv") -> Recording:
    from mujo_edge.channels import Channel

    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (len(t), 3)) + np.array([0, 0, 9.81])
    return Recording.create(t, x, [Channel.parse(c) for c in CHANNELS], subject="s", source=source)


@pytest.mark.parametrize("jitter", [0.0, 0.005, 0.0099])
def test_replay_jitter_is_not_loss(recognizer: Recognizer, jitter: float) -> None:
    n = 3000
    t = 100.0 + np.arange(n) / 50.0 + np.random.default_rng(2).uniform(-jitter, jitter, n)
    summary = replay_summary(recognizer, recording(t))
    assert summary.missing_samples == 0 and summary.gaps == 0
    assert summary.measured_rate_hz == pytest.approx(50.0, rel=2e-3)


@pytest.mark.parametrize("jitter", [0.0, 0.0099])
def test_replay_counts_real_gaps_exactly(recognizer: Recognizer, jitter: float) -> None:
    n = 3000
    keep = np.ones(n, bool)
    keep[1000:1039] = False  # one lost packet of 39 samples
    keep[2000:2010] = False  # one lost Bangle.js line
    t = 100.0 + np.arange(n) / 50.0 + np.random.default_rng(4).uniform(-jitter, jitter, n)
    summary = replay_summary(recognizer, recording(t[keep]))
    assert summary.gaps == 2 and summary.missing_samples == 49


def test_replay_refuses_a_recording_whose_rate_no_wearable_has(recognizer: Recognizer) -> None:
    """However the recording was made (not only through the CSV loader, which checks the same)."""
    for t, unit in ((1_000_000.0 + np.arange(3000) * 20.0, "milliseconds"), (np.arange(3000) * 2e-5, "smaller")):
        with pytest.raises(SampleError, match=unit) as err:
            replay_summary(recognizer, recording(t, source="watch.rec"))
        assert "watch.rec" in str(err.value)


def test_replay_refuses_millisecond_timestamps_declared_as_seconds(recognizer: Recognizer, tmp_path: Path) -> None:
    path = tmp_path / "ms-as-s.csv"
    t = 1_000_000.0 + np.arange(3000) * 20.0  # milliseconds under a [s] header
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (3000, 3)) + np.array([0, 0, 9.81])
    rows = [",".join(repr(float(v)) for v in (ti, *xi)) for ti, xi in zip(t, x)]
    path.write_text("timestamp[s]," + ",".join(f"{c}[m/s^2]" for c in CHANNELS) + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(SampleError) as err:
        replay_summary(recognizer, load_recorded(path))
    assert str(path) in str(err.value) and "Hz" in str(err.value)


# --- --record is durable ------------------------------------------------------------------------------------


def test_recorder_syncs_to_disk_at_a_bounded_interval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    clock = [0.0]
    rec = CsvRecorder(tmp_path / "r.csv", CHANNELS, sync_every_s=1.0, clock=lambda: clock[0])
    for k in range(50):  # 10 s of 5 batches a second
        clock[0] = 0.2 * (k + 1)
        rec.write(np.array([float(k)]), np.zeros((1, 3)))
    assert 9 <= len(synced) <= 11  # about once a second, not once per batch
    before = len(synced)
    rec.close()
    assert len(synced) > before  # and once more on close


RECORDER = textwrap.dedent(
    """
    import asyncio, sys
    import numpy as np
    from mujo_edge.default_model import bundle_path
    from mujo_edge.runtime import Recognizer
    from mujo_edge.runtime.live import run_live

    class Stats:
        samples = gaps = missing_samples = reconnects = decode_errors = saturated_samples = 0
        measured_rate_hz, drift_ppm, loss_fraction = 50.0, None, 0.0

    class Client:
        protocol = type("P", (), {"name": "fake"})()
        device = "fake"
        stats = Stats()
        t = 1.7e9
        def now(self):
            return self.t
        async def samples(self):
            k = 0
            while True:
                t = 1.7e9 + (k * 10 + np.arange(10)) / 50.0
                self.t = float(t[-1])
                yield type("B", (), {"t": t, "xyz": np.zeros((10, 3)) + [0, 0, 9.81], "t_device": None})()
                k += 1
                await asyncio.sleep(0.01)

    def batch(b):
        print(len(b.t), flush=True)

    asyncio.run(run_live(Client(), Recognizer.from_bundle(bundle_path()), record=sys.argv[1], on_batch=batch))
    """
)


def test_a_killed_recording_keeps_every_batch_it_reported(tmp_path: Path) -> None:
    path = tmp_path / "killed.csv"
    proc = subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        assert proc.stdout is not None
        reported = 0
        for _ in range(30):  # 30 batches consumed (each line is printed after the batch went to the recorder)
            line = proc.stdout.readline()
            assert line, "the recording process ended early"
            reported += int(line)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    back = load_recorded(path)
    assert back.n_samples >= reported
