"""The live pipeline with the dashboard attached: the server runs as a task in the pipeline's own event loop,
and the hub takes the pipeline's callbacks, after the caller's own (a terminal view keeps working as before).

    summary = await serve_live(client, recognizer, ServeConfig(), on_url=print, stop=stop)      # `live --serve`
    summary, truth = await serve_demo(recognizer, stream, ServeConfig(), speed=10, on_url=print) # `demo --serve`
    summaries = await run_emulated_watches(recognizer, streams, hub, speed=1)   # several virtual watches

`run_emulated_watches` puts several virtual watches (each replaying a `DemoStream`) on the in-process BLE
radio, one client and one live pipeline per watch, all feeding one hub: the two-watch test and the load check
use it, as a coach's MultiWatch setup would look on the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from mujo_edge.errors import ConfigError
from mujo_edge.runtime.dashboard.hub import DashboardHub, HubConfig
from mujo_edge.runtime.dashboard.server import DashboardServer, ServeConfig, exposure_warning

if TYPE_CHECKING:
    from mujo_edge.firmware_bridge.client import WatchClient
    from mujo_edge.runtime import Prediction, Recognizer
    from mujo_edge.runtime.demo import DemoStream, Display
    from mujo_edge.runtime.live import LiveSummary

log = logging.getLogger(__name__)

OnUrl = Callable[[str], None]


def hub_for(recognizer: Recognizer, config: HubConfig | None = None) -> DashboardHub:
    """A hub that names the bundle's classes and shows their descriptions."""
    return DashboardHub(recognizer.labels, recognizer.manifest.label_texts, config or HubConfig())


def _announce(server: DashboardServer, on_url: OnUrl | None, warn: OnUrl | None) -> None:
    """The exposure warning (to `warn`, else the log) when listening beyond the loopback, then the page's URL."""
    warning = exposure_warning(server.config)
    if warning is not None:
        if warn is not None:
            warn(warning)
        else:
            log.warning("%s", warning)
    if on_url is not None:
        on_url(server.url)


async def serve_live(
    client: WatchClient,
    recognizer: Recognizer,
    config: ServeConfig | None = None,
    *,
    on_url: OnUrl | None = None,
    warn: OnUrl | None = None,
    hub: DashboardHub | None = None,
    keep_serving: asyncio.Event | None = None,
    **live_kwargs: Any,
) -> LiveSummary:
    """`run_live(client, recognizer, **live_kwargs)` with the dashboard served while it runs.

    `on_url(url)` is called once the page is up, after `warn(text)` (default: the log) when it listens beyond
    this machine. Your on_prediction/on_batch/on_session callbacks still get every event. With `keep_serving`,
    the page keeps showing the final state (session log, statistics) after the run until that event is set."""
    from mujo_edge.runtime.live import run_live

    hub = hub or hub_for(recognizer)
    async with DashboardServer(hub, config or ServeConfig()) as server:
        name = client.name or client.address or client.protocol.name
        feed = hub.watch(name, stats=lambda: client.stats)
        callbacks = feed.callbacks(
            live_kwargs.pop("on_prediction", None),
            live_kwargs.pop("on_batch", None),
            live_kwargs.pop("on_session", None),
        )
        _announce(server, on_url, warn)
        summary = await run_live(client, recognizer, **live_kwargs, **callbacks)
        feed.finish(summary)
        if keep_serving is not None:
            await keep_serving.wait()
        return summary


async def serve_demo(
    recognizer: Recognizer,
    stream: DemoStream,
    config: ServeConfig | None = None,
    *,
    on_url: OnUrl | None = None,
    warn: OnUrl | None = None,
    hub: DashboardHub | None = None,
    display: Display | None = None,
    keep_serving: asyncio.Event | None = None,
    **demo_kwargs: Any,
) -> tuple[LiveSummary, list[str | None]]:
    """`run_demo(recognizer, stream, **demo_kwargs)` with the dashboard served while it runs (see `serve_live`)."""
    from mujo_edge.runtime.demo import DEMO_NAME, run_demo

    hub = hub or hub_for(recognizer)
    async with DashboardServer(hub, config or ServeConfig()) as server:
        feed = hub.watch(DEMO_NAME)

        @contextlib.contextmanager
        def with_stats(client: WatchClient) -> Iterator[Callable[[Prediction, float], None] | None]:
            feed.stats = lambda: client.stats  # run_demo makes the client; its statistics arrive with it
            shown: AbstractContextManager[Callable[[Prediction, float], None] | None]
            shown = display(client) if display is not None else nullcontext(None)
            with shown as show:
                yield show

        callbacks = feed.callbacks(
            demo_kwargs.pop("on_prediction", None),
            demo_kwargs.pop("on_batch", None),
            demo_kwargs.pop("on_session", None),
        )
        _announce(server, on_url, warn)
        summary, truth = await run_demo(recognizer, stream, display=with_stats, **demo_kwargs, **callbacks)
        feed.finish(summary)
        if keep_serving is not None:
            await keep_serving.wait()
        return summary, truth


def watch_address(i: int) -> str:
    """The BLE address of emulated watch number i (0-based): random static, one per watch on the radio."""
    return f"F0:00:00:00:0D:{i + 1:02X}"


async def run_emulated_watches(
    recognizer: Recognizer,
    streams: Sequence[DemoStream],
    hub: DashboardHub,
    *,
    speed: float = 1.0,
    protocol: str = "mujo",
    duration: float | None = None,
    loop: bool = False,
    names: Sequence[str] | None = None,
    link: Any = None,
) -> list[LiveSummary]:
    """One virtual watch per stream on the in-process radio (`link`: None = the default one), each received by
    its own client and recognised by its own live pipeline, all shown on `hub`. Ends when every watch has sent
    its stream, or after `duration` host seconds (needed with `loop=True`, which replays each stream over and
    over). Returns one LiveSummary per watch, in order."""
    from mujo_edge.firmware_bridge.client import ReconnectPolicy, WatchClient, scaled_clock
    from mujo_edge.firmware_bridge.emulator import VirtualWatch
    from mujo_edge.firmware_bridge.sim import BumbleClientBackend, BumbleScannerBackend
    from mujo_edge.runtime.live import run_live

    if not streams:
        raise ConfigError("no stream to replay", field="streams")
    if loop and duration is None:
        raise ConfigError("looping watches never finish: give a duration", field="duration")
    names = list(names) if names is not None else [f"mujo-watch-{i + 1}" for i in range(len(streams))]
    if len(names) != len(streams):
        raise ConfigError(f"{len(names)} names for {len(streams)} streams", field="names")
    kw: dict[str, Any] = {} if link is None else {"link": link}
    watches = [
        VirtualWatch(protocol, s.t, s.xyz, name=n, address=watch_address(i), speed=speed, loop=loop, **kw)
        for i, (s, n) in enumerate(zip(streams, names))
    ]
    clients = [
        WatchClient(
            protocol,
            address=w.address,
            scanner_backend=BumbleScannerBackend,
            client_backend=BumbleClientBackend,
            backend_kwargs=kw or None,
            host_clock=scaled_clock(speed),
            reconnect=ReconnectPolicy(max_attempts=20, initial_s=0.1, max_s=1.0),
        )
        for w in watches
    ]
    feeds = [hub.watch(n) for n in names]
    async with contextlib.AsyncExitStack() as stack:
        for w in watches:
            await stack.enter_async_context(w)
        # one client at a time: scanning and connecting share the central (as MultiWatch does)
        for c, f in zip(clients, feeds):
            await stack.enter_async_context(c)
            f.stats = lambda c=c: c.stats

        async def one(i: int) -> LiveSummary:
            stop = asyncio.Event()

            async def stop_when_sent() -> None:
                await watches[i].finished.wait()
                await asyncio.sleep(max(1.0 / speed, 0.3))  # the last notifications are still in flight
                stop.set()

            waiter = asyncio.create_task(stop_when_sent())
            try:
                summary = await run_live(clients[i], recognizer, duration=duration, stop=stop, **feeds[i].callbacks())
            finally:
                waiter.cancel()
            feeds[i].finish(summary)
            return summary

        return list(await asyncio.gather(*(one(i) for i in range(len(streams)))))
