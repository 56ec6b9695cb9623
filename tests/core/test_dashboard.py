"""The dashboard's hub (traces, cursors, the session log so far) and its server (read-only, same-origin WebSocket,
no paths or tracebacks, slow browsers dropped while the pipeline writes on), without a browser or a watch.
The page in a real Chromium fed by emulated watches: tests/cli/test_dashboard_browser.py."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest

from mujo_edge.errors import ConfigError
from mujo_edge.firmware_bridge.client import DeviceId, DeviceSamples
from mujo_edge.runtime.dashboard import DashboardHub, HubConfig
from mujo_edge.runtime.prediction import Prediction
from mujo_edge.runtime.session import SessionState, WindowStatus

pytest.importorskip("starlette", reason="the dashboard server comes with the serve extra")
pytest.importorskip("uvicorn", reason="the dashboard server comes with the serve extra")
websockets = pytest.importorskip("websockets", reason="comes with the serve extra")

from mujo_edge.runtime.dashboard.server import (  # noqa: E402
    DashboardServer,
    ServeConfig,
    exposure_warning,
    same_origin,
)

DEVICE = DeviceId("F0:00:00:00:0D:01", "w", "mujo")
LABELS = ("PEN", "ABD", "FEL")


def batch(t0: float, n: int, rate: float = 50.0) -> DeviceSamples:
    t = t0 + np.arange(n) / rate
    xyz = np.stack([np.sin(t), np.cos(t), np.full(n, 9.81)], axis=1)
    return DeviceSamples(DEVICE, t, None, xyz)


def prediction(label: int, end_s: float, conf: float = 0.8) -> Prediction:
    probs = [0.1, 0.1, 0.1]
    probs[label] = conf
    return Prediction(LABELS[label], label, tuple(probs), (0.0,) * 3, end_s - 2, end_s, 0.01, LABELS[label], label)


def state(t: float, status: str, exercise: str | None, reps: int, number: int | None, elapsed: float | None) -> Any:
    window = WindowStatus(t - 2, t, exercise or "PEN", 0.9, 1.0, 0.5, status)
    return SessionState(t, status, exercise, reps, number, elapsed, None if number else 3.0, window)


# --- hub ---------------------------------------------------------------------------------------------------


def test_trace_is_decimated_to_the_display_rate_and_kept_for_its_window() -> None:
    hub = DashboardHub(LABELS, config=HubConfig(trace_s=10, trace_hz=25))
    feed = hub.watch("w")
    for i in range(200):  # 20 s at 50 Hz in notifications of 5 samples
        feed.on_batch(batch(100 + i * 0.1, 5))
    frame, cursors = hub.frame()
    trace = frame["watches"][0]["trace"]
    t = np.asarray(trace["t"])
    assert trace["reset"] is True  # a new reader drops whatever it held
    np.testing.assert_allclose(np.diff(t), 0.04, atol=1e-3)  # every second sample of 50 Hz
    assert t[-1] == pytest.approx(19.98, abs=0.03)  # seconds since the watch's first sample
    assert 10 <= t[-1] - t[0] <= 12.6  # the window, plus the buffer's margin
    # the next frame carries only what arrived since
    feed.on_batch(batch(120.0, 5))
    frame, cursors = hub.frame(cursors)
    trace = frame["watches"][0]["trace"]
    assert trace["reset"] is False and len(trace["t"]) in (2, 3)
    assert trace["t"][0] > t[-1]


def test_a_reader_that_fell_behind_gets_what_is_still_held_and_a_reset() -> None:
    hub = DashboardHub(LABELS, config=HubConfig(trace_s=2, trace_hz=25))
    feed = hub.watch("w")
    feed.on_batch(batch(0.0, 10))
    _, cursors = hub.frame()
    for i in range(100):  # 10 s more: far beyond the 2 s this hub keeps
        feed.on_batch(batch(0.2 + i * 0.1, 5))
    frame, _ = hub.frame(cursors)
    trace = frame["watches"][0]["trace"]
    assert trace["reset"] is True
    assert 2 <= trace["t"][-1] - trace["t"][0] <= 3


def test_prediction_top3_and_stats_in_a_frame() -> None:
    hub = DashboardHub(LABELS, {"ABD": "shoulder abduction: arm raised sideways"})
    feed = hub.watch("w")
    feed.on_batch(batch(10.0, 5))
    feed.on_prediction(prediction(1, 12.0, 0.7), 0.25)
    part = hub.frame()[0]["watches"][0]
    assert part["prediction"]["label"] == "ABD" and part["prediction"]["confidence"] == 0.7
    assert part["prediction"]["top"][0] == ["ABD", 0.7] and len(part["prediction"]["top"]) == 3
    assert part["prediction"]["text"].startswith("shoulder abduction")
    assert part["prediction"]["end_s"] == 2.0  # seconds since the first sample
    assert part["stats"]["latency_ms"] == 250.0 and part["stats"]["samples"] == 5
    json.dumps(hub.frame()[0], allow_nan=False)  # strict JSON


def test_session_log_so_far_from_states_then_the_trackers_log() -> None:
    hub = DashboardHub(LABELS)
    feed = hub.watch("w")
    feed.on_batch(batch(100.0, 5))
    feed.on_session(state(110, "rest", None, 0, None, None))
    feed.on_session(state(115, "exercise", "PEN", 3, 1, 5.0))
    part = hub.frame()[0]["watches"][0]
    assert part["session"]["repetitions"] == 3 and part["session"]["set_number"] == 1
    assert part["log"] == [
        {"open": True, "number": 1, "exercise": "PEN", "start_s": 10.0, "end_s": 15.0, "repetitions": 3}
    ]
    feed.on_session(state(130, "exercise", "PEN", 12, 1, 20.0))
    feed.on_session(state(132, "rest", None, 0, None, None))
    feed.on_session(state(140, "exercise", "ABD", 2, 2, 4.0))
    log = hub.frame()[0]["watches"][0]["log"]
    assert [(e["number"], e["exercise"], e["repetitions"]) for e in log] == [(1, "PEN", 12), (2, "ABD", 2)]

    from mujo_edge.runtime.session import SessionLog, SetEntry

    class Summary:  # the two fields finish() reads of a LiveSummary, plus its statistics
        session = SessionLog((SetEntry(1, "PEN", 110.0, 130.0, 11, 0.9, 10, 1.5, False),), (), 100.0, 140.0, 20)
        measured_rate_hz, loss_fraction, missing_samples, gaps, reconnects, decode_errors = 50.0, 0.0, 0, 0, 0, 0

    feed.finish(Summary())  # type: ignore[arg-type]
    part = hub.frame()[0]["watches"][0]
    assert part["ended"] is True
    assert [(e["number"], e["repetitions"], e["start_s"]) for e in part["log"]] == [(1, 11, 10.0)]


def test_hub_refuses_bad_settings_and_duplicate_names() -> None:
    with pytest.raises(ConfigError, match="trace_hz"):
        HubConfig(trace_hz=0)
    hub = DashboardHub(LABELS)
    hub.watch("w")
    with pytest.raises(ConfigError, match="already on the dashboard"):
        hub.watch("w")


# --- server ------------------------------------------------------------------------------------------------


def test_serve_config_is_safe_by_default() -> None:
    assert ServeConfig().host == "127.0.0.1" and exposure_warning(ServeConfig()) is None
    assert exposure_warning(ServeConfig(host="localhost")) is None
    warning = exposure_warning(ServeConfig(host="0.0.0.0", port=9000))
    assert warning is not None and "0.0.0.0:9000" in warning and "read-only" in warning
    with pytest.raises(ConfigError, match="port"):
        ServeConfig(port=70000)


def test_same_origin_rule() -> None:
    host = {"host": "127.0.0.1:8765"}
    assert same_origin(host)  # no Origin: not a browser
    assert same_origin({**host, "origin": "http://127.0.0.1:8765"})
    assert not same_origin({**host, "origin": "http://127.0.0.1:8766"})
    assert not same_origin({**host, "origin": "http://evil.example"})
    assert not same_origin({**host, "origin": "null"})


def _get(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


class _BrokenHub(DashboardHub):
    def frame(self, cursors: dict[str, int] | None = None) -> tuple[dict[str, Any], dict[str, int]]:
        raise RuntimeError("/secret/path/to/site-packages/mujo_edge/hub.py exploded")


LEAKS = ("/work", "/home", "/root", "/tmp", "site-packages", "Traceback", 'File "', "exploded", "secret")


def test_http_is_read_only_and_answers_without_paths_or_tracebacks() -> None:
    async def main() -> dict[str, tuple[int, dict[str, str], str]]:
        hub = DashboardHub(LABELS)
        hub.watch("w").on_batch(batch(0.0, 5))
        out = {}
        async with DashboardServer(hub, ServeConfig(port=0)) as server:
            base = server.url
            for name, url, method, headers in [
                ("page", base, "GET", {}),
                ("js", base + "static/dashboard.js", "GET", {}),
                ("state", base + "api/state", "GET", {}),
                ("missing", base + "static/../../../etc/passwd", "GET", {}),
                ("missing2", base + "static/hub.py", "GET", {}),
                ("post", base + "api/state", "POST", {}),
                ("rebinding", base, "GET", {"Host": "evil.example:8765"}),
            ]:
                out[name] = await asyncio.to_thread(_get, url, method, headers)
        async with DashboardServer(_BrokenHub(LABELS), ServeConfig(port=0)) as server:
            out["broken"] = await asyncio.to_thread(_get, server.url + "api/state")
        return out

    out = asyncio.run(asyncio.wait_for(main(), 60))
    status, headers, body = out["page"]
    assert status == 200 and "<canvas" in body and headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in headers["content-security-policy"] and headers["x-content-type-options"] == "nosniff"
    assert "server" not in headers
    assert out["js"][0] == 200 and "WebSocket" in out["js"][2]
    state = json.loads(out["state"][2])
    assert state["type"] == "frame" and state["watches"][0]["name"] == "w"
    assert out["missing"][0] == 404 and out["missing2"][0] == 404
    assert out["post"][0] == 405
    assert out["rebinding"][0] == 400
    assert out["broken"][0] == 500 and json.loads(out["broken"][2]) == {"error": "error"}
    for name, (_, _, body) in out.items():
        if name not in ("page", "js", "state"):
            assert not any(leak in body for leak in LEAKS), (name, body)


def test_a_busy_port_is_a_config_error() -> None:
    async def main() -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            with pytest.raises(ConfigError, match="cannot listen"):
                await DashboardServer(DashboardHub(), ServeConfig(port=taken.getsockname()[1])).start()

    asyncio.run(main())


def test_websocket_refuses_other_origins_and_streams_frames_to_this_one() -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    async def main() -> tuple[int, int, int]:
        hub = DashboardHub(LABELS)
        feed = hub.watch("w")
        stop = asyncio.Event()

        async def pipeline() -> None:  # a watch at 50 Hz, 5 samples per notification
            t = 0.0
            while not stop.is_set():
                feed.on_batch(batch(t, 5))
                t += 0.1
                await asyncio.sleep(0.1)

        writer = asyncio.create_task(pipeline())
        async with DashboardServer(hub, ServeConfig(port=0, push_hz=20)) as server:
            ws_url = server.url.replace("http", "ws") + "ws"
            with pytest.raises(InvalidStatus) as refused:
                async with connect(ws_url, origin="http://evil.example"):  # type: ignore[arg-type]
                    pass
            frames = 0
            async with connect(ws_url, origin=server.url.rstrip("/")) as ws:  # type: ignore[arg-type]
                t0 = time.monotonic()
                while time.monotonic() - t0 < 2.0:
                    json.loads(await asyncio.wait_for(ws.recv(), 5))
                    frames += 1
            refused_count = server.stats.refused_origin
        stop.set()
        await writer
        return refused.value.response.status_code, refused_count, frames

    status, refused, frames = asyncio.run(asyncio.wait_for(main(), 60))
    assert status == 403 and refused == 1
    assert frames >= 10  # 20 frames/s asked; at least half of them on a busy machine


async def stalled_websocket(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads (a frozen tab), with a small
    receive window so the server's buffers fill within seconds."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    head = await asyncio.wait_for(loop.sock_recv(sock, 12), 10)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def test_a_browser_that_does_not_read_is_dropped_and_the_pipeline_never_waits() -> None:
    async def main() -> tuple[int, float, int, bool]:
        hub = DashboardHub(LABELS)
        feeds = [hub.watch(f"w{i}") for i in range(8)]
        stop = asyncio.Event()
        gaps: list[float] = []

        async def pipeline() -> None:  # 8 watches, 5 samples each per 20 ms
            t, last = 0.0, time.monotonic()
            while not stop.is_set():
                for f in feeds:
                    f.on_batch(batch(t, 5))
                t += 0.1
                await asyncio.sleep(0.02)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        writer = asyncio.create_task(pipeline())
        async with DashboardServer(hub, ServeConfig(port=0, push_hz=50, send_timeout_s=0.5)) as server:
            sock = await stalled_websocket(server.port)
            t0 = time.monotonic()
            while server.stats.dropped_slow == 0 and time.monotonic() - t0 < 60:
                await asyncio.sleep(0.1)
            dropped = server.stats.dropped_slow
            # the server cut the connection: reading what was buffered ends in EOF or a reset
            loop = asyncio.get_running_loop()
            try:
                while await asyncio.wait_for(loop.sock_recv(sock, 65536), 5):
                    pass
                cut = True  # EOF
            except ConnectionError:
                cut = True  # reset
            except TimeoutError:
                cut = False  # still open, silent
            sock.close()
        stop.set()
        await writer
        return dropped, max(gaps), len(gaps), cut

    dropped, worst_gap, iterations, cut = asyncio.run(asyncio.wait_for(main(), 120))
    assert dropped == 1 and cut
    # the writer is an ordinary task in the same loop: it kept running every 20 ms while the server waited on
    # the browser (a generous bound: the machine is shared)
    assert iterations > 20 and worst_gap < 0.5


def test_serve_live_feeds_the_page_from_a_watch_and_keeps_the_callers_callbacks(shared_data) -> None:
    pytest.importorskip("bumble", reason="the emulated watch needs the sim extra")
    from mujo_edge.default_model import bundle_path
    from mujo_edge.firmware_bridge.client import WatchClient, scaled_clock
    from mujo_edge.firmware_bridge.emulator import VirtualWatch
    from mujo_edge.firmware_bridge.sim import BumbleClientBackend, BumbleScannerBackend
    from mujo_edge.runtime import Recognizer
    from mujo_edge.runtime.dashboard import serve_live
    from mujo_edge.runtime.demo import demo_stream

    recognizer = Recognizer.from_bundle(bundle_path())
    stream = demo_stream(recognizer.manifest, shared_data / "spar_watch", None, 1)
    speed = 20.0
    mine: list[float] = []
    warned: list[str] = []

    async def main() -> tuple[Any, dict[str, Any]]:
        watch = VirtualWatch(
            "mujo", stream.t, stream.xyz, name="served-watch", address="F0:00:00:00:0E:01", speed=speed
        )
        client = WatchClient(
            "mujo",
            name="served-watch",
            scanner_backend=BumbleScannerBackend,
            client_backend=BumbleClientBackend,
            host_clock=scaled_clock(speed),
        )
        urls: list[str] = []
        done = asyncio.Event()

        async def stop_after_the_watch() -> None:
            await watch.finished.wait()
            await asyncio.sleep(0.5)
            stop.set()

        stop = asyncio.Event()
        async with watch, client:
            task = asyncio.create_task(stop_after_the_watch())
            run = asyncio.create_task(
                serve_live(
                    client,
                    recognizer,
                    ServeConfig(port=0),
                    on_url=urls.append,
                    warn=warned.append,
                    keep_serving=done,
                    stop=stop,
                    on_prediction=lambda p, lat: mine.append(lat),
                )
            )
            await stop.wait()
            await asyncio.sleep(0.5)  # finish() has run: the page shows the final state
            _, _, body = await asyncio.to_thread(_get, urls[0] + "api/state")
            done.set()
            summary = await run
            task.cancel()
        return summary, json.loads(body)

    summary, state = asyncio.run(asyncio.wait_for(main(), 180))
    (watch,) = state["watches"]
    assert watch["name"] == "served-watch" and watch["ended"] is True
    assert watch["stats"]["samples"] == summary.samples > 0 and watch["stats"]["predictions"] == len(mine) > 0
    assert warned == []  # the loopback: nothing to warn about


def test_the_pipeline_never_imports_the_dashboard_or_its_web_server() -> None:
    """The dashboard is a leaf of the runtime: the live pipeline runs the same without it (and without the
    serve extra). Every import statement, also inside functions, of the runtime's other modules."""
    import ast
    from pathlib import Path

    import mujo_edge.runtime

    root = Path(mujo_edge.runtime.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        if "dashboard" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith(("mujo_edge.runtime.dashboard", "starlette", "uvicorn")):
                    offenders.append(f"{path.relative_to(root)}: {name}")
    assert not offenders, offenders
