"""The dashboard in a real headless Chromium (Debian's, driven by Playwright's Python API; Playwright's own
browser download is never used): an emulated watch replays real SPAR sets over the in-process BLE radio into
the live pipeline, the server runs in the same event loop, and the page must draw the trace, change its
exercise label and count repetitions; two watches give two panels; other origins are refused.

The pipeline and server run in a background thread with their own event loop (the sync Playwright API owns
the test's thread). Timeouts are generous: the machine running the suite is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the dashboard comes with the serve extra")
pytest.importorskip("uvicorn", reason="the dashboard comes with the serve extra")
pytest.importorskip("bumble", reason="the emulated watch needs the sim extra")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright comes with the dev extra")

from mujo_edge.default_model import bundle_path  # noqa: E402
from mujo_edge.runtime import Recognizer  # noqa: E402
from mujo_edge.runtime.dashboard import DashboardHub, hub_for, run_emulated_watches, serve_demo  # noqa: E402
from mujo_edge.runtime.dashboard.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from mujo_edge.runtime.dashboard.server import DashboardServer, ServeConfig  # noqa: E402
from mujo_edge.runtime.demo import demo_stream  # noqa: E402

WAIT_MS = 180_000  # per condition; a loaded machine replays slower than asked


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        message = f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    profile = tempfile.mkdtemp(prefix="mujo-chromium-")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=list(CHROMIUM_ARGS),
            headless=True,
            viewport={"width": 1280, "height": 800},
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


class Background:
    """Runs `main(url_ready, done)` in its own thread and event loop: main calls url_ready(url) once the page
    is up and returns after the asyncio.Event `done` is set (by `finish`)."""

    def __init__(self, main: Callable[[Callable[[str], None], asyncio.Event], Coroutine[Any, Any, Any]]) -> None:
        self.url: str | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Event | None = None

        def run() -> None:
            async def wrapper() -> Any:
                self._loop = asyncio.get_running_loop()
                self._done = asyncio.Event()
                return await main(self._set_url, self._done)

            try:
                self.result = asyncio.run(wrapper())
            except BaseException as e:
                self.error = e
            finally:
                self._ready.set()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def _set_url(self, url: str) -> None:
        self.url = url
        self._ready.set()

    def wait_url(self, timeout: float = 120) -> str:
        assert self._ready.wait(timeout), "the dashboard did not start"
        if self.error is not None:
            raise self.error
        assert self.url is not None
        return self.url

    def finish(self, timeout: float = 300) -> Any:
        if self._loop is not None and self._done is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._done.set)
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the pipeline did not end"
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer.from_bundle(bundle_path(), smoothing=5)


def _panel_value(page: Any, index: int, attribute: str) -> int:
    return int(page.eval_on_selector_all(".panel", f"(ps) => ps[{index}].dataset.{attribute} || '0'"))


def test_demo_page_draws_the_trace_changes_exercise_and_counts_repetitions(
    browser: Any, recognizer: Recognizer, shared_data: Path, tmp_path: Path
) -> None:
    stream = demo_stream(recognizer.manifest, shared_data / "spar_watch", None, 4)

    async def main(url_ready: Callable[[str], None], done: asyncio.Event) -> Any:
        summary, _ = await serve_demo(
            recognizer, stream, ServeConfig(port=0), on_url=url_ready, keep_serving=done, speed=10
        )
        return summary

    run = Background(main)
    page = browser.new_page()
    try:
        page.goto(run.wait_url(), wait_until="load")
        page.wait_for_selector(".panel", timeout=WAIT_MS)
        # the trace has been drawn many times, the exercise label changed, and the repetitions rose
        page.wait_for_function("() => +document.querySelector('.panel').dataset.draws >= 50", timeout=WAIT_MS)
        page.wait_for_function("() => +document.querySelector('.panel').dataset.labelChanges >= 1", timeout=WAIT_MS)
        page.wait_for_function("() => +document.querySelector('.panel').dataset.repsMax >= 3", timeout=WAIT_MS)
        # the canvas holds drawn pixels, not a blank
        inked = page.evaluate(
            """() => { const c = document.querySelector('canvas.trace');
                       const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                       let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
        )
        assert inked > 500
        fps = float(page.evaluate("() => +document.body.dataset.fps"))
        frames = int(page.evaluate("() => +document.body.dataset.frames"))
        assert frames > 50
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'dashboard.png'}; {frames} frames, {fps} updates/s at the end")
        label = page.text_content(".panel .label")
        assert label in recognizer.labels
        # a browser that comes back gets the current state at once: trace, exercise and session log
        page.reload(wait_until="load")
        page.wait_for_function(
            "() => { const p = document.querySelector('.panel');"
            " return p && +p.dataset.draws >= 1 && p.dataset.label && p.querySelectorAll('.log tbody tr').length; }",
            timeout=15_000,
        )
        summary = run.finish()
    finally:
        page.close()
        run.finish()
    assert summary.session is not None and summary.session.sets  # the tracker saw the sets the page counted


def test_two_watches_two_panels(browser: Any, recognizer: Recognizer, shared_data: Path) -> None:
    held_out = list(recognizer.manifest.training.held_out)
    subjects = (held_out * 2)[:2]
    streams = [demo_stream(recognizer.manifest, shared_data / "spar_watch", s, 2) for s in subjects]

    async def main(url_ready: Callable[[str], None], done: asyncio.Event) -> Any:
        hub = hub_for(recognizer)
        async with DashboardServer(hub, ServeConfig(port=0)) as server:
            url_ready(server.url)
            summaries = await run_emulated_watches(recognizer, streams, hub, speed=10)
            await done.wait()
            return summaries

    run = Background(main)
    page = browser.new_page()
    try:
        page.goto(run.wait_url(), wait_until="load")
        page.wait_for_selector("#watches[data-panels='2']", timeout=WAIT_MS)
        page.wait_for_function(
            "() => [...document.querySelectorAll('.panel')].every(p => +p.dataset.draws >= 20)", timeout=WAIT_MS
        )
        names = page.eval_on_selector_all(".panel h2.name", "(hs) => hs.map(h => h.textContent)")
        assert names == ["mujo-watch-1", "mujo-watch-2"]
        summaries = run.finish()
    finally:
        page.close()
        run.finish()
    assert len(summaries) == 2 and all(s.samples > 0 and s.missing_samples == 0 for s in summaries)


def test_browser_pages_of_other_origins_are_refused(browser: Any) -> None:
    async def other_site(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        body = b"<!doctype html><title>another site</title>"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n")
        writer.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    other_url: list[str] = []

    async def main(url_ready: Callable[[str], None], done: asyncio.Event) -> Any:
        hub = DashboardHub(("A",))
        other = await asyncio.start_server(other_site, "127.0.0.1", 0)
        other_url.append(f"http://127.0.0.1:{other.sockets[0].getsockname()[1]}/")
        async with other, DashboardServer(hub, ServeConfig(port=0)) as server:
            url_ready(server.url)
            await done.wait()
            return server.stats.refused_origin

    run = Background(main)
    page = browser.new_page()
    probe = """(url) => new Promise((resolve) => {
        const ws = new WebSocket(url);
        ws.onopen = () => { ws.close(); resolve('open'); };
        ws.onerror = () => resolve('refused');
        setTimeout(() => resolve('timeout'), 20000);
    })"""
    try:
        url = run.wait_url()
        ws_url = url.replace("http", "ws") + "ws"
        page.goto(url, wait_until="load")
        assert page.evaluate(probe, ws_url) == "open"  # the page's own origin
        # a page of another origin on the loopback (another port, no CSP, so the attempt reaches the server)
        page.goto(other_url[0], wait_until="load")
        assert page.evaluate(probe, ws_url) == "refused"
        other = page.request.get(url + "no/such/file")
        assert other.status == 404 and other.json() == {"error": "not found"}
        refused = run.finish()
    finally:
        page.close()
        run.finish()
    assert refused == 1
