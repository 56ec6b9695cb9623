"""Fuzz every protocol through the whole live path: decoder -> clock -> windower -> recognizer.

    python benchmarks/fuzz_protocols.py --frames 100000 --seed 0 --out benchmarks/results/fuzz_protocols.json

Per codec, a running encoder's stream (device times at the nominal rate) goes to a real `WatchClient` through
`receive()`, the entry point of its BLE callback, on a simulated host clock (a frame arrives after its last
sample plus 15 ms, exponential jitter and now and then a 0.3 s retransmission stall), and `run_live` consumes it
into the model of `--bundle` (default: the embedded one). Every 1000 frames, 250 intact frames are followed by a
storm of 750 in which about a third of the frames sent are the stream's frames intact, a third its frames mutated
(bit flips, cuts, inserted and deleted bytes), a third random bytes inserted between them, and 10 % of the
stream's frames are lost on air, never sent; after each storm the session must recognise again.

Reported per codec: frames, the ones accepted and refused (ProtocolError), other exceptions (bugs, must be 0),
session-ending exceptions (the live run ending before the transport does, must be 0), batches the pipeline
refused, predictions, and the loss the session reports against the truth: the samples of the stream's frames
between the first and the last one that got through, that did not get through (lost on air, or mutated and
refused). It must be equal, except that samples a frame claims beyond its own ("phantom": random bytes taken for
a frame, a mutation that adds samples; only a count field or a checksum could tell) can each fill a missing
sample's place. Protocols with neither sequence numbers nor device times (InfiniTime, MetaWear) cannot see a
loss at all: their truth is reported, not checked. Polar carries no sequence number either: a corrupt timestamp
that lands where a real gap could is taken for one, so its loss is checked on a second run whose mutations
leave the timestamp intact. The control-point parsers ("control") are fuzzed decoder-only.
Writes the JSON and a markdown table beside it; exits 1 if a check fails. Needs only the runtime install.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import platform
import struct
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge import __version__
from mujo_edge.firmware_bridge.client import DeviceId, WatchClient
from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.protocols import PROTOCOLS, StreamSettings
from mujo_edge.firmware_bridge.protocols import polar_control as pc
from mujo_edge.firmware_bridge.protocols.banglejs import BangleEncoder
from mujo_edge.firmware_bridge.protocols.mujo_profile import DeviceState, MujoConfig, MujoStatus
from mujo_edge.firmware_bridge.protocols.polar import PolarAccEncoder
from mujo_edge.firmware_bridge.samples import STANDARD_GRAVITY
from mujo_edge.runtime import Recognizer
from mujo_edge.runtime.live import run_live

SETTINGS = {
    "polar": StreamSettings(52.0, 8),
    "infinitime": StreamSettings(10.0, 2),
    "metawear": StreamSettings(50.0, 8),
    "banglejs": StreamSettings(50.0, 4),
    "mujo": StreamSettings(50.0, 8),
}
# Device time of the first sample (s, on each protocol's own clock): Polar counts from 2000-01-01, the mujo
# profile's microsecond clock wraps every ~71.6 min (a long fuzz run crosses it several times).
DEVICE_T0 = {"polar": 7.0e8, "mujo": 10.0, "banglejs": 0.0, "infinitime": 0.0, "metawear": 0.0}
H0 = 1_700_000_000.0  # host epoch seconds at device time 0
DROP = 0.1  # a stream frame lost on air
# Each cycle of STORM_CYCLE frames is a calm stretch of intact ones, then a storm of STORM_FRAMES fuzzed frames:
# the session must come out of every storm and recognise again. It starts calm, as a connection does: a stream's
# first packet has nothing to be checked against (a corrupt one there makes the next re-anchoring estimate its
# gap from host time).
STORM_CYCLE = 1000
STORM_FRAMES = 750
CONSUME_EVERY = 256  # frames between two turns of the event loop (run_live consumes then)
# Where a frame's device time sits, for protocols with no sequence number to check it against (Polar: the u64
# ns of its last sample). A corrupt time there that stays within what a real gap could look like is taken for
# one: the fuzz counts those frames, and runs the codec a second time with its timestamps left intact.
TIMESTAMP_BYTES = {"polar": slice(1, 9)}


def mutate(frame: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(frame)
    for _ in range(int(rng.integers(1, 4))):
        op = int(rng.integers(0, 5))
        if op == 0 and b:
            b[int(rng.integers(len(b)))] ^= 1 << int(rng.integers(8))
        elif op == 1 and b:
            b[int(rng.integers(len(b)))] = int(rng.integers(256))
        elif op == 2:
            del b[int(rng.integers(len(b) + 1)) :]
        elif op == 3:
            b.insert(int(rng.integers(len(b) + 1)), int(rng.integers(256)))
        elif op == 4 and b:
            del b[int(rng.integers(len(b)))]
    return bytes(b)


class Unit:
    """One frame of the stream (a Bangle.js line): its samples and how many of them the client accepted.
    (A plain class: scripts are loaded by path in the tests, where a dataclass cannot find its module.)"""

    __slots__ = ("accepted", "samples")

    def __init__(self, samples: int) -> None:
        self.samples = samples
        self.accepted = 0


def stream_frames(name: str, rng: np.random.Generator) -> Iterator[tuple[bytes, int, float]]:
    """An endless valid stream from `name`'s encoder: (frame, samples in it, device time of its last sample).

    Sample k is at DEVICE_T0 + k / rate on the device clock; the MTU (and for Polar the frame type) changes every
    60 samples. Bangle.js frames are whole lines (what the emulator notifies at MTU >= 104)."""
    s = SETTINGS[name]
    proto = PROTOCOLS.get(name)
    enc = proto.encoder(s)
    count = proto.decoder(s)  # a clean decoder of the clean stream: how many samples each frame holds
    full = 0.95 * s.range_g * STANDARD_GRAVITY
    k = 0
    while True:
        if isinstance(enc, PolarAccEncoder):
            enc.frame_type = int(rng.choice([0x00, 0x01, 0x02, 0x80, 0x81]))
        x = np.cumsum(rng.normal(0, full / 20, (60, 3)), axis=0).clip(-full, full)
        t = DEVICE_T0[name] + (k + np.arange(60)) / s.rate_hz
        if isinstance(enc, BangleEncoder):
            frames = enc.lines(x, t)
        else:
            frames = enc.encode(x, t, mtu=int(rng.choice([23, 64, 185, 247])))
        done = 0
        for f in frames:
            n = len(count.decode(f))
            done += n
            yield f, n, float(t[done - 1])
        k += 60


def control_frames(rng: np.random.Generator) -> Iterator[bytes]:
    pool = [
        bytes([0x0F, 0x05, 0x00]),
        bytes.fromhex("F0010200000004190032006400C8000101100002030200040008 00".replace(" ", "")),
        bytes.fromhex("F0020200000501") + struct.pack("<f", 2.44e-4),
        bytes.fromhex("F002020D00"),
        b"\x01\x02",
        MujoConfig(50.0, 8, True).encode(),
        MujoStatus(DeviceState.STREAMING, 80, 3).encode(),
    ]
    while True:
        yield pool[int(rng.integers(len(pool)))]


def parse_control_frames(payload: bytes) -> object:
    """The control-side parsers that read device bytes (Polar control point, mujo config and status)."""
    for parse in (MujoConfig.decode, MujoStatus.decode):
        with contextlib.suppress(ProtocolError):
            parse(payload)
    return pc.parse_control(payload)


def fuzz_control(frames: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    valid = control_frames(rng)
    stats: dict[str, Any] = {"frames": frames, "decoded": 0, "protocol_errors": 0, "unexpected": 0}
    examples: list[dict[str, str]] = []
    t0 = time.perf_counter()
    for _ in range(frames):
        kind = int(rng.integers(3))
        payload = rng.bytes(int(rng.integers(0, 300))) if kind == 2 else next(valid)
        payload = mutate(payload, rng) if kind == 1 else payload
        try:
            parse_control_frames(payload)
            stats["decoded"] += 1
        except ProtocolError:
            stats["protocol_errors"] += 1
        except Exception as err:
            stats["unexpected"] += 1
            _example(examples, payload, err)
    stats["frames_per_s"] = frames / (time.perf_counter() - t0)
    stats["unexpected_examples"] = examples
    return stats


def _example(examples: list[dict[str, str]], payload: bytes, err: BaseException) -> None:
    if len(examples) < 5:
        examples.append({"payload": payload.hex(), "error": repr(err), "traceback": traceback.format_exc(limit=3)})


class LiveFuzz:
    """One codec's fuzzed session: frames into a WatchClient on a simulated clock, run_live consuming."""

    def __init__(self, name: str, recognizer: Recognizer, seed: int, *, spare_time: bool = False) -> None:
        self.name = name
        self.spare_time = spare_time  # mutations leave the frame's timestamp bytes as they were
        self.rng = np.random.default_rng(seed)
        self.now = H0
        self.client = WatchClient(name, settings=SETTINGS[name], host_clock=lambda: self.now, queue_batches=1 << 30)
        self.client.device = DeviceId("F0:00:00:00:F0:22", f"fuzz-{name}", name)
        self.recognizer = recognizer
        self.units: list[Unit] = []
        self.kinds = {"valid": 0, "mutated": 0, "random": 0, "lost_on_air": 0}
        self.phantom = self.escaped = self.time_corrupt = 0
        self.delivered: Unit | None = None  # the last stream frame sent
        self.examples: list[dict[str, str]] = []

    async def run(self, frames: int) -> dict[str, Any]:
        stop = asyncio.Event()
        live = asyncio.create_task(run_live(self.client, self.recognizer, stop=stop))
        stream = stream_frames(self.name, self.rng)
        t0 = time.perf_counter()
        sent = 0
        while sent < frames:
            sent += self._step(stream, calm=sent % STORM_CYCLE < STORM_CYCLE - STORM_FRAMES)
            if sent % CONSUME_EVERY == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(0)
        stop.set()
        summary = await live
        seconds = time.perf_counter() - t0
        return self._report(frames, summary, seconds)

    def _step(self, stream: Iterator[tuple[bytes, int, float]], *, calm: bool) -> int:
        """Send one frame (or lose one on air); returns the frames sent (0 or 1). `calm`: the stream's frames
        intact, nothing else."""
        rng = self.rng
        if not calm and rng.random() < 1 / 3:
            self.kinds["random"] += 1
            self._send(rng.bytes(int(rng.integers(0, 300))), None)
            return 1
        frame, n, t_last = next(stream)
        unit = Unit(n)
        self.units.append(unit)
        delay = 0.015 + rng.exponential(0.01) + (0.3 if rng.random() < 0.01 else 0.0)
        self.now = max(self.now, H0 + t_last + delay)  # BLE never reorders: a late frame holds the next back
        if not calm and rng.random() < DROP:
            self.kinds["lost_on_air"] += 1
            return 0
        mutated = not calm and rng.random() < 0.5
        self.kinds["mutated" if mutated else "valid"] += 1
        payload = self._mutate(frame) if mutated else frame
        self._send(payload, unit)
        span = TIMESTAMP_BYTES.get(self.name)
        if mutated and unit.accepted and span is not None and payload[span] != frame[span]:
            self.time_corrupt += 1  # a corrupt timestamp got through: undetectable without a sequence number
        return 1

    def _mutate(self, frame: bytes) -> bytes:
        out = mutate(frame, self.rng)
        span = TIMESTAMP_BYTES.get(self.name)
        if self.spare_time and span is not None and len(out) >= span.stop:
            out = out[: span.start] + frame[span] + out[span.stop :]
        return out

    def _send(self, payload: bytes, unit: Unit | None) -> None:
        before = self.client.timer.samples
        try:
            self.client.receive(payload)
        except Exception as err:  # receive() must never raise: that would end the session
            self.escaped += 1
            _example(self.examples, payload, err)
        self._attribute(self.client.timer.samples - before, unit)

    def _attribute(self, got: int, unit: Unit | None) -> None:
        """Credit accepted samples to the frame just sent, the rest to the frame delivered before it if that one is
        still short (a Bangle.js line completed by the next notification); any left came from nowhere (random
        bytes, or a mutation that added samples)."""
        for u in (unit, self.delivered):
            if u is not None and got:
                take = min(got, u.samples - u.accepted)
                u.accepted += take
                got -= take
        self.phantom += got
        if unit is not None:
            self.delivered = unit

    def _report(self, frames: int, summary: Any, seconds: float) -> dict[str, Any]:
        through = [i for i, u in enumerate(self.units) if u.accepted]
        inside = self.units[through[0] : through[-1] + 1] if through else []
        truth = sum(u.samples - u.accepted for u in inside)
        proto = PROTOCOLS.get(self.name)
        observable = proto.has_sequence_numbers or proto.has_device_timestamps
        c = self.client
        ended = sum("ended early" in w for w in summary.warnings)
        return {
            "frames": frames,
            "kinds": self.kinds,
            "decoded": frames - c.decode_errors,
            "protocol_errors": c.decode_errors - c.internal_errors,
            "unexpected": c.internal_errors + self.escaped,
            "session_ending": ended,
            "pipeline_rejected": summary.extra["pipeline_rejected"],
            "unexpected_examples": self.examples,
            "stream_samples": sum(u.samples for u in self.units),
            "samples_through": sum(u.accepted for u in self.units),
            "phantom_samples": self.phantom,
            "reported_samples": summary.samples,
            "reported_missing": summary.missing_samples,
            "true_missing": truth,
            "loss_observable": observable,
            "loss_exact": summary.missing_samples == truth if observable else None,
            "time_corrupt_accepted": self.time_corrupt,
            "loss_check": loss_check(observable, summary.missing_samples, truth, self.phantom, self.time_corrupt),
            "predictions": len(summary.predictions),
            "seconds": seconds,
            "frames_per_s": frames / seconds,
        }


def loss_check(observable: bool, reported: int, truth: int, phantom: int, time_corrupt: int) -> str:
    """'exact', 'within phantom' (samples a frame claimed beyond its own can fill a gap: short by at most them),
    'not observable', 'not checked' (corrupt timestamps got through), or 'WRONG'."""
    if not observable:
        return "not observable"
    if reported == truth:
        return "exact"
    if 0 <= truth - reported <= phantom:
        return "within phantom"
    return "not checked" if time_corrupt else "WRONG"


def fuzz_live(name: str, frames: int, seed: int, recognizer: Recognizer, *, spare_time: bool = False) -> dict[str, Any]:
    return asyncio.run(LiveFuzz(name, recognizer, seed, spare_time=spare_time).run(frames))


def failures(results: dict[str, Any]) -> list[str]:
    out = []
    for name, s in results["codecs"].items():
        if s["unexpected"]:
            out.append(f"{name}: {s['unexpected']} exceptions other than ProtocolError")
        if s.get("session_ending"):
            out.append(f"{name}: the live session ended before the transport")
        if s.get("loss_check") == "WRONG":
            out.append(f"{name}: reported {s['reported_missing']} missing samples, truth {s['true_missing']}")
    return out


def markdown(results: dict[str, Any]) -> str:
    rows = [
        "| codec | frames | accepted | ProtocolError | other exceptions | session-ending | pipeline refused "
        "| missing reported / true | phantom samples | predictions | frames/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in results["codecs"].items():
        if name == "control":
            loss = phantom = preds = ending = refused = "-"
        else:
            mark = {
                "exact": " exact",
                "within phantom": " (short by at most the phantom samples)",
                "not observable": " (not observable)",
                "not checked": f" (not checked: {s['time_corrupt_accepted']} corrupt timestamps got through)",
            }.get(s["loss_check"], " WRONG")
            loss = f"{s['reported_missing']:,} / {s['true_missing']:,}{mark}"
            phantom, preds = f"{s['phantom_samples']:,}", f"{s['predictions']:,}"
            ending, refused = str(s["session_ending"]), str(s["pipeline_rejected"])
        rows.append(
            f"| {name} | {s['frames']:,} | {s['decoded']:,} | {s['protocol_errors']:,} | {s['unexpected']} | "
            f"{ending} | {refused} | {loss} | {phantom} | {preds} | {s['frames_per_s']:,.0f} |"
        )
    problems = failures(results)
    verdict = "PASS" if not problems else "FAIL:\n" + "\n".join(f"- {p}" for p in problems)
    return (
        f"# Protocol fuzzing through the live path\n\n"
        f"`{results['command']}`\n\n"
        f"seed {results['seed']}, {results['frames_per_codec']:,} frames per codec, decoder -> clock -> windower -> "
        f"{results['artifact']}; Python {results['python']}. Every {STORM_CYCLE} frames, {STORM_CYCLE - STORM_FRAMES} "
        f"intact ones, then a storm of {STORM_FRAMES} (1/3 the stream's frames intact, 1/3 mutated, 1/3 random "
        f"bytes; {DROP:.0%} of the stream's frames lost on air). Missing samples: what the session reports / the "
        f"samples of the stream's frames that did not get through (between the first and last that did). Phantom: "
        f"samples accepted beyond the stream's own (random bytes, mutations that add samples; a protocol without "
        f"count field or checksum cannot tell them, and each can fill one missing sample's place).\n\n"
        + "\n".join(rows)
        + f"\n\n{verdict}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames per codec (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fuzz_protocols.json"))
    parser.add_argument("--bundle", type=Path, default=None, help="model bundle (default: the embedded one)")
    args = parser.parse_args(argv)
    recognizer = _recognizer(args.bundle)
    results: dict[str, Any] = {
        "command": "python benchmarks/fuzz_protocols.py " + " ".join(argv if argv is not None else _argv()),
        "version": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "seed": args.seed,
        "frames_per_codec": args.frames,
        "artifact": f"{recognizer.artifact.name} on {recognizer.artifact.engine}",
        "codecs": {},
    }
    for i, name in enumerate(PROTOCOLS.names()):
        results["codecs"][name] = fuzz_live(name, args.frames, args.seed * 1000 + i, recognizer)
        if name in TIMESTAMP_BYTES:
            results["codecs"][f"{name} (timestamps intact)"] = fuzz_live(
                name, args.frames, args.seed * 1000 + 50 + i, recognizer, spare_time=True
            )
    results["codecs"]["control"] = fuzz_control(args.frames, args.seed * 1000 + 99)
    results["unexpected_total"] = sum(s["unexpected"] for s in results["codecs"].values())
    results["failures"] = failures(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))
    return 1 if results["failures"] else 0


def _recognizer(bundle: Path | None) -> Recognizer:
    if bundle is None:
        from mujo_edge.default_model import bundle_path

        bundle = bundle_path()
    return Recognizer.from_bundle(bundle)


def _argv() -> list[str]:
    import sys

    return sys.argv[1:]


if __name__ == "__main__":
    raise SystemExit(main())
