"""Fuzz every protocol codec: random and mutated valid frames must decode or raise ProtocolError, nothing else.

    python benchmarks/fuzz_protocols.py --frames 100000 --seed 0 --out benchmarks/results/fuzz_protocols.json

For each codec a third of the frames are valid (a running encoder's stream, so stateful decoders see a real
stream), a third are valid frames mutated (bit flips, cuts, inserted and deleted bytes), a third random bytes.
Writes the JSON and a markdown table beside it; exits 1 if any exception other than ProtocolError escaped.
Needs only the runtime install (numpy).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import struct
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mujo_edge import __version__
from mujo_edge.firmware_bridge.errors import ProtocolError
from mujo_edge.firmware_bridge.protocols import PROTOCOLS, StreamSettings
from mujo_edge.firmware_bridge.protocols import polar_control as pc
from mujo_edge.firmware_bridge.protocols.mujo_profile import DeviceState, MujoConfig, MujoStatus
from mujo_edge.firmware_bridge.protocols.polar import PolarAccEncoder
from mujo_edge.firmware_bridge.samples import STANDARD_GRAVITY

SETTINGS = {
    "polar": StreamSettings(52.0, 8),
    "infinitime": StreamSettings(10.0, 2),
    "metawear": StreamSettings(50.0, 8),
    "banglejs": StreamSettings(50.0, 4),
    "mujo": StreamSettings(50.0, 8),
}


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


def stream_frames(name: str, rng: np.random.Generator) -> Iterator[bytes]:
    """An endless valid stream from `name`'s encoder (Polar switches between raw and compressed frame types)."""
    s = SETTINGS[name]
    enc = PROTOCOLS.get(name).encoder(s)
    full = 0.95 * s.range_g * STANDARD_GRAVITY
    while True:
        if isinstance(enc, PolarAccEncoder):
            enc.frame_type = int(rng.choice([0x00, 0x01, 0x02, 0x80, 0x81]))
        x = np.cumsum(rng.normal(0, full / 20, (60, 3)), axis=0).clip(-full, full)
        yield from enc.encode(x, mtu=int(rng.choice([23, 64, 185, 247])))


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


def fuzz_codec(name: str, frames: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    if name == "control":
        decode: Callable[[bytes], object] = parse_control_frames
        valid = control_frames(rng)
    else:
        decoder = PROTOCOLS.get(name).decoder(SETTINGS[name])
        decode = decoder.decode
        valid = stream_frames(name, rng)
    stats: dict[str, Any] = {
        "frames": frames,
        "decoded": 0,
        "protocol_errors": 0,
        "unexpected": 0,
        "unexpected_examples": [],
        "kinds": {"valid": 0, "mutated": 0, "random": 0},
    }
    busy = 0.0
    for _ in range(frames):
        kind = ("valid", "mutated", "random")[int(rng.integers(3))]
        if kind == "random":
            payload = rng.bytes(int(rng.integers(0, 300)))
        else:
            payload = next(valid)
            if kind == "mutated":
                payload = mutate(payload, rng)
        stats["kinds"][kind] += 1
        t0 = time.perf_counter()
        try:
            decode(payload)
            stats["decoded"] += 1
        except ProtocolError:
            stats["protocol_errors"] += 1
        except Exception as err:
            stats["unexpected"] += 1
            if len(stats["unexpected_examples"]) < 5:
                stats["unexpected_examples"].append(
                    {"payload": payload.hex(), "error": repr(err), "traceback": traceback.format_exc(limit=3)}
                )
        busy += time.perf_counter() - t0
    stats["decode_seconds"] = busy
    stats["frames_per_s"] = frames / busy if busy else float("inf")
    return stats


def markdown(results: dict[str, Any]) -> str:
    rows = [
        "| codec | frames | decoded | ProtocolError | other exceptions | frames/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in results["codecs"].items():
        rows.append(
            f"| {name} | {s['frames']:,} | {s['decoded']:,} | {s['protocol_errors']:,} | "
            f"{s['unexpected']} | {s['frames_per_s']:,.0f} |"
        )
    verdict = (
        "PASS: only ProtocolError escaped" if results["unexpected_total"] == 0 else "FAIL: other exceptions escaped"
    )
    return (
        f"# Protocol fuzzing\n\nseed {results['seed']}, {results['frames_per_codec']:,} frames per codec "
        f"(1/3 valid stream, 1/3 mutated, 1/3 random bytes); Python {results['python']}.\n\n"
        + "\n".join(rows)
        + f"\n\n{verdict}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000, help="frames per codec (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fuzz_protocols.json"))
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "version": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "seed": args.seed,
        "frames_per_codec": args.frames,
        "codecs": {},
    }
    for i, name in enumerate([*PROTOCOLS.names(), "control"]):
        results["codecs"][name] = fuzz_codec(name, args.frames, args.seed * 1000 + i)
    results["unexpected_total"] = sum(s["unexpected"] for s in results["codecs"].values())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))
    return 1 if results["unexpected_total"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
