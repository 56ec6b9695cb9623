"""Load check of the live dashboard: 8 emulated watches at 50 Hz and 4 browser clients, loopback only, bounded.

    python benchmarks/dashboard_load.py --out benchmarks/results/dashboard_load.json \
        --screenshot benchmarks/results/dashboard.png

One process runs what `mujo-edge live --serve` runs: virtual watches replaying real SPAR sets of the embedded
bundle's held-out subjects on the in-process BLE radio, one client and one live pipeline (recognizer + session
tracker) per watch, the hub, and the dashboard server, all in one event loop. A second process plays the
browsers: Python WebSocket clients that read every frame, one client that completes the handshake and then never
reads again (a frozen tab: the server must drop it or let it skip frames, never wait for it) and, with
`--browser`, a real headless Chromium (Debian's /usr/bin/chromium via Playwright) on the page itself, which
also takes the screenshot.

Two phases of the same pipeline: `--baseline-seconds` without the server and its clients, then `--seconds` with
them. Reported: frames per second each client received (the page's update rate), the pipeline process's CPU
(seconds of CPU per second, 1.0 = one core) in both phases and the difference (the server's share), the
prediction latency (window's last sample -> prediction) in both, and per watch the samples received and lost
(the client's gap count; mujo frames carry sequence numbers) and batches dropped by its queue. The check
passes when no sample is lost in either phase, the frozen client was dropped, and every reading client got at
least 10 frames per second. Writes the JSON and a markdown table beside it; exits 1 if the check fails.
Needs the serve and sim extras (and playwright + chromium for --browser).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

COMMAND = (
    "python benchmarks/dashboard_load.py --out benchmarks/results/dashboard_load.json "
    "--screenshot benchmarks/results/dashboard.png"
)
from mujo_edge.runtime.dashboard.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

MIN_FPS = 10.0


# --- the browsers (second process) -----------------------------------------------------------------------------


async def reading_client(url: str, seconds: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    frames, sizes, gaps = 0, 0, []
    async with connect(url.replace("http", "ws") + "ws", origin=url.rstrip("/"), max_size=2**24) as ws:  # type: ignore[arg-type]
        t0 = last = time.monotonic()
        while (now := time.monotonic()) - t0 < seconds:
            try:
                msg = await asyncio.wait_for(ws.recv(), max(0.1, seconds - (now - t0)))
            except TimeoutError:
                break
            now = time.monotonic()
            frames, sizes = frames + 1, sizes + len(msg)
            gaps.append(now - last)
            last = now
        elapsed = time.monotonic() - t0
    return {
        "kind": "python websocket",
        "frames": frames,
        "frames_per_s": frames / elapsed,
        "mean_frame_bytes": sizes / max(1, frames),
        "max_gap_s": max(gaps[1:], default=None),
    }


async def frozen_client(url: str, seconds: float) -> dict[str, Any]:
    """Handshake, then never read (a frozen tab) with a small receive window; report whether the server cut it."""
    loop = asyncio.get_running_loop()
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    await loop.sock_sendall(
        sock,
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode(),
    )
    head = await asyncio.wait_for(loop.sock_recv(sock, 12), 10)
    await asyncio.sleep(seconds)
    # now drain: a connection the server cut ends (EOF or reset); one still open would keep delivering
    received, cut = 0, False
    try:
        while chunk := await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), 3):
            received += len(chunk)
        cut = True
    except ConnectionError:
        cut = True
    except TimeoutError:
        cut = False
    sock.close()
    return {"kind": "frozen (never reads)", "handshake": head.decode(errors="replace"), "cut_by_server": cut}


async def chromium_client(url: str, seconds: float, screenshot: str | None) -> dict[str, Any]:
    import tempfile

    from playwright.async_api import async_playwright

    profile = tempfile.mkdtemp(prefix="mujo-chromium-")
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=list(CHROMIUM_ARGS),
            headless=True,
            viewport={"width": 1320, "height": 900},
        )
        page = await context.new_page()
        await page.goto(url, wait_until="load")
        t0 = time.monotonic()
        first = int(await page.evaluate("() => +document.body.dataset.frames"))
        fps_samples = []
        while time.monotonic() - t0 < seconds:
            await asyncio.sleep(1.0)
            fps_samples.append(float(await page.evaluate("() => +document.body.dataset.fps")))
        frames = int(await page.evaluate("() => +document.body.dataset.frames")) - first
        elapsed = time.monotonic() - t0
        panels = int(await page.evaluate("() => document.querySelectorAll('.panel').length"))
        if screenshot:
            await page.screenshot(path=screenshot, clip={"x": 0, "y": 0, "width": 1320, "height": 900})
            shrink_png(screenshot)
        await context.close()
    return {
        "kind": "chromium page",
        "frames": frames,
        "frames_per_s": frames / elapsed,
        # the page's own rate over its last 2 s, from the third second on (before that the window is filling)
        "page_fps_min": min(fps_samples[2:], default=None),
        "panels": panels,
    }


def shrink_png(path: str) -> None:
    """A small PNG for the README: the page has few colours, so a 64-colour palette loses nothing visible
    (needs Pillow, which the train extra brings; without it the full-colour file stays)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


async def browsers(url: str, seconds: float, readers: int, browser: bool, screenshot: str | None) -> dict[str, Any]:
    cpu0 = time.process_time()
    jobs = [reading_client(url, seconds) for _ in range(readers)] + [frozen_client(url, seconds)]
    if browser:
        jobs.append(chromium_client(url, seconds, screenshot))
    results = await asyncio.gather(*jobs)
    return {"clients": results, "client_process_cpu_s": time.process_time() - cpu0}


# --- the pipeline and the server (this process) ----------------------------------------------------------------


def watch_streams(recognizer: Any, data: Path | None, watches: int) -> list[Any]:
    """One stream per watch: the held-out subjects' sets, each watch starting at a different set."""
    from dataclasses import replace

    from mujo_edge.runtime.demo import demo_stream

    subjects = list(recognizer.manifest.training.held_out)
    base = {s: demo_stream(recognizer.manifest, data, s, None) for s in subjects}
    out = []
    for i in range(watches):
        s = base[subjects[i % len(subjects)]]
        shift = s.set_bounds[(i // len(subjects)) % len(s.set_bounds)][1]
        out.append(replace(s, xyz=np.roll(s.xyz, -shift, axis=0), labels=np.roll(s.labels, -shift)))
    return out


def watch_rows(summaries: list[Any], feeds: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for s, f in zip(summaries, feeds):
        stats = f.stats() if f.stats is not None else None
        rows.append(
            {
                "watch": f.name,
                "samples": s.samples,
                "measured_rate_hz": s.measured_rate_hz,
                "missing_samples": s.missing_samples,
                "gaps": s.gaps,
                "reconnects": s.reconnects,
                "dropped_batches": None if stats is None else stats.dropped_batches,
                "predictions": len(s.predictions),
                "latency_p50_ms": None if not s.latencies_s else 1e3 * s.latency_percentile(50),
                "latency_p95_ms": None if not s.latencies_s else 1e3 * s.latency_percentile(95),
            }
        )
    return rows


async def phase(recognizer: Any, streams: list[Any], seconds: float, serve: dict[str, Any] | None) -> dict[str, Any]:
    from mujo_edge.runtime.dashboard import hub_for, run_emulated_watches
    from mujo_edge.runtime.dashboard.server import DashboardServer, ServeConfig

    hub = hub_for(recognizer)
    cpu0, wall0 = time.process_time(), time.monotonic()
    if serve is None:
        summaries = await run_emulated_watches(recognizer, streams, hub, speed=1.0, duration=seconds, loop=True)
        server_stats = None
        client_report = None
    else:
        async with DashboardServer(hub, ServeConfig(port=0)) as server:
            cmd = [sys.executable, __file__, "--client", server.url, "--seconds", str(seconds - 5)]
            cmd += ["--readers", str(serve["readers"])]
            if serve["browser"]:
                cmd.append("--client-chromium")
            if serve["screenshot"]:
                cmd += ["--screenshot", serve["screenshot"]]
            # the browsers connect while the watches are being found; they measure for the last seconds - 5 s
            proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
            summaries = await run_emulated_watches(recognizer, streams, hub, speed=1.0, duration=seconds, loop=True)
            out, _ = await asyncio.wait_for(proc.communicate(), 120)
            client_report = json.loads(out.decode().strip().splitlines()[-1])
            server_stats = {
                "frames_sent": server.stats.frames_sent,
                "connected_total": server.stats.connected_total,
                "dropped_slow": server.stats.dropped_slow,
                "refused_origin": server.stats.refused_origin,
            }
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    rows = watch_rows(summaries, list(hub.feeds))
    lat = np.concatenate([np.asarray(s.latencies_s) for s in summaries if s.latencies_s]) * 1e3
    return {
        "seconds": wall,
        "process_cpu_per_s": cpu / wall,
        "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
        "latency_p95_ms": float(np.percentile(lat, 95)) if lat.size else None,
        "watches": rows,
        "server": server_stats,
        "browsers": client_report,
    }


def check(result: dict[str, Any]) -> list[str]:
    failures = []
    for name in ("baseline", "served"):
        lost = sum(r["missing_samples"] + (r["dropped_batches"] or 0) for r in result[name]["watches"])
        if lost:
            failures.append(f"{name}: {lost} samples or batches lost")
    served = result["served"]
    if not served["server"]["dropped_slow"]:
        failures.append("the frozen client was never dropped")
    for c in served["browsers"]["clients"]:
        if "frames_per_s" in c and c["frames_per_s"] < MIN_FPS:
            failures.append(f"a {c['kind']} client got {c['frames_per_s']:.1f} frames/s (< {MIN_FPS:g})")
        if c.get("cut_by_server") is False:
            failures.append("the frozen client's connection was left open")
    return failures


def markdown(result: dict[str, Any]) -> str:
    b, s = result["baseline"], result["served"]
    lines = [
        "# Dashboard load check",
        "",
        f"`{result['command']}`",
        "",
        f"{result['watches']} emulated watches at 50 Hz (mujo protocol, in-process BLE radio, real SPAR sets of the "
        f"held-out subjects, looped) -> one live pipeline each ({result['artifact']}, session tracker) -> hub -> "
        f"dashboard server, one process and event loop; browsers in a second process. Python "
        f"{result['python']}, {result['machine']}, {result['cpus']} CPUs shared with other jobs (load average "
        f"{result['load_average']}).",
        "",
        "| phase | seconds | pipeline process CPU (cores) | latency p50 / p95 ms | samples | lost samples | "
        "dropped batches |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, p in (("pipeline only", b), ("pipeline + dashboard + browsers", s)):
        lines.append(
            f"| {name} | {p['seconds']:.0f} | {p['process_cpu_per_s']:.2f} | "
            f"{p['latency_p50_ms']:.0f} / {p['latency_p95_ms']:.0f} | "
            f"{sum(r['samples'] for r in p['watches']):,} | {sum(r['missing_samples'] for r in p['watches'])} | "
            f"{sum(r['dropped_batches'] or 0 for r in p['watches'])} |"
        )
    lines += [
        "",
        f"Server's share of the CPU (difference of the two phases): {result['server_cpu_per_s']:+.2f} cores. "
        f"Frames sent: {s['server']['frames_sent']:,}; clients connected {s['server']['connected_total']}, "
        f"dropped as too slow {s['server']['dropped_slow']}.",
        "",
        "| client | frames | frames/s | mean frame bytes | longest wait s | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for c in s["browsers"]["clients"]:
        note = ""
        if "cut_by_server" in c:
            note = "dropped by the server, connection cut" if c["cut_by_server"] else "still connected"
        if "panels" in c:
            note = f"{c['panels']} panels; page's own rate at least {c['page_fps_min']:.0f}/s"
        fps = f"{c['frames_per_s']:.1f}" if "frames_per_s" in c else "-"
        size = f"{c['mean_frame_bytes']:,.0f}" if "mean_frame_bytes" in c else "-"
        wait = f"{c['max_gap_s']:.2f}" if c.get("max_gap_s") is not None else "-"
        lines.append(f"| {c['kind']} | {c.get('frames', '-')} | {fps} | {size} | {wait} | {note} |")
    lines += ["", "PASS" if not result["failures"] else "FAIL: " + "; ".join(result["failures"]), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watches", type=int, default=8)
    parser.add_argument("--readers", type=int, default=2, help="Python clients that read every frame")
    parser.add_argument("--no-browser", dest="browser", action="store_false", help="no Chromium client")
    parser.add_argument("--seconds", type=float, default=60.0, help="the served phase")
    parser.add_argument("--baseline-seconds", type=float, default=30.0, help="the phase without the server")
    parser.add_argument("--data", type=Path, default=None, help="SPAR-watch folder (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dashboard_load.json"))
    parser.add_argument("--screenshot", type=str, default=None, help="PNG of the page (with the Chromium client)")
    parser.add_argument("--client", default=None, help=argparse.SUPPRESS)  # the browsers' process
    parser.add_argument("--client-chromium", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        report = asyncio.run(browsers(args.client, args.seconds, args.readers, args.client_chromium, args.screenshot))
        print(json.dumps(report))
        return 0
    if args.browser and not Path(CHROMIUM).is_file():
        parser.error(f"no Chromium at {CHROMIUM}: install Debian's chromium or pass --no-browser")

    from mujo_edge import __version__
    from mujo_edge.default_model import bundle_path
    from mujo_edge.runtime import Recognizer

    recognizer = Recognizer.from_bundle(bundle_path(), smoothing=5)
    streams = watch_streams(recognizer, args.data, args.watches)
    serve = {"readers": args.readers, "browser": args.browser, "screenshot": args.screenshot}
    baseline = asyncio.run(phase(recognizer, streams, args.baseline_seconds, None))
    served = asyncio.run(phase(recognizer, streams, args.seconds, serve))
    result: dict[str, Any] = {
        "command": COMMAND,
        "version": __version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "watches": args.watches,
        "artifact": f"{recognizer.artifact.name} on {recognizer.artifact.engine}",
        "baseline": baseline,
        "served": served,
        "server_cpu_per_s": served["process_cpu_per_s"] - baseline["process_cpu_per_s"],
    }
    result["failures"] = check(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
