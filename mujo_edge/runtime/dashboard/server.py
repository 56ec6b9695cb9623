"""The dashboard's web server: a Starlette app on uvicorn, run as a task in the live pipeline's own event loop.

Read-only by construction: three packaged static files, `GET /api/state` (the hub's state as JSON) and one
WebSocket (`/ws`) that pushes frames at `ServeConfig.push_hz`; nothing a client sends is read. Safe by default:
it listens on 127.0.0.1 (any other address logs a warning, see `exposure_warning`); the Host header must name
the loopback when it does, so a web page elsewhere cannot reach it through DNS rebinding; a WebSocket opened
by a page of another origin (scheme, host and port differing from the server's) is refused before the
handshake completes (HTTP 403); errors answer with a short JSON word, never a path or a traceback.

Each browser is served by its own sender task that wakes `push_hz` times a second and, when the hub changed
(or a watch streams, whose time axis moves between packets), sends one frame built from the hub at that moment
with the trace points after that browser's cursors: frames are latest-state-wins, a slow browser simply gets
fewer, fuller frames, and nothing is queued for it. A send that waits longer than `send_timeout_s` on a browser
that does not read drops that browser and cuts its connection; the pipeline writes to the hub without waiting
for any of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import math
import socket
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from mujo_edge.errors import ConfigError
from mujo_edge.runtime.dashboard.hub import DashboardHub

log = logging.getLogger(__name__)

DEFAULT_PORT = 8765
# URL path -> (packaged file, media type): an allow-list, so no request can name another file
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/static/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    # scripts, styles and connections from this origin only ('self' covers ws:// to the same host and port)
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
SEND_BUFFER_BYTES = 64 * 1024  # the kernel doubles it; a frame of 8 watches' whole 10 s traces is ~40 kB
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
# WebSocket close codes: policy violation (other origin), try again later (too many browsers)
_CLOSE_POLICY, _CLOSE_BUSY = 1008, 1013


@dataclass(frozen=True)
class ServeConfig:
    """host/port: where to listen (port 0: any free port, see `DashboardServer.port`); push_hz: frames per
    second at most per browser; send_timeout_s: a browser that takes longer to accept one frame is dropped;
    max_clients: browsers served at once (more are refused with close code 1013)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    push_hz: float = 20.0
    send_timeout_s: float = 5.0
    max_clients: int = 16

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host):
            raise ConfigError(f"expected an address or host name, got {self.host!r}", field="host")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"must be 0-65535, got {self.port}", field="port")
        if not (math.isfinite(self.push_hz) and 0 < self.push_hz <= 100):
            raise ConfigError(f"must be in (0, 100] frames per second, got {self.push_hz}", field="push_hz")
        if not (math.isfinite(self.send_timeout_s) and self.send_timeout_s > 0):
            raise ConfigError(f"must be > 0 seconds, got {self.send_timeout_s}", field="send_timeout_s")
        if self.max_clients < 1:
            raise ConfigError(f"must be >= 1, got {self.max_clients}", field="max_clients")

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False


def exposure_warning(config: ServeConfig) -> str | None:
    """The warning to print when the dashboard listens beyond this machine (None on the loopback)."""
    if config.loopback:
        return None
    return (
        f"the dashboard listens on {config.host}:{config.port}: anyone who can reach this machine there can "
        f"watch the streams (read-only, no login); leave --host out to keep it on 127.0.0.1"
    )


@dataclass
class ServerStats:
    """Counters of the running server (read them from the event loop's thread)."""

    clients: int = 0
    connected_total: int = 0
    frames_sent: int = 0
    dropped_slow: int = 0
    refused_origin: int = 0
    refused_busy: int = 0
    frames_per_client: dict[int, int] = field(default_factory=dict)


def same_origin(headers: MutableMapping[str, str] | Any) -> bool:
    """A browser's WebSocket comes from a page of this server: its Origin names the very host:port the request
    was sent to. Without an Origin the client is not a browser (programs can send any Origin they like, so
    requiring one would protect nothing); the check stops other sites' pages in a browser."""
    origin = headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    host = (headers.get("host") or "").lower()
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host


def _static(name: str) -> bytes:
    return (resources.files("mujo_edge.runtime.dashboard") / "static" / name).read_bytes()


class _SecurityHeaders:
    """Pure ASGI middleware adding SECURITY_HEADERS to every HTTP response."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


Abort = Callable[[Any], None]


def create_app(
    hub: DashboardHub,
    config: ServeConfig = ServeConfig(),
    stats: ServerStats | None = None,
    abort: Abort | None = None,
) -> Starlette:
    """The ASGI app: the page, its script and style, `GET /api/state` and the `/ws` frame stream. `abort(client)`
    cuts the connection of a dropped browser (the server's part: a close frame cannot reach a browser that does
    not read, and waiting for it would hold the connection open)."""
    stats = stats if stats is not None else ServerStats()
    files = {path: (_static(name), media) for path, (name, media) in STATIC_FILES.items()}

    async def static(request: Request) -> Response:
        body, media = files[request.url.path]
        return Response(body, media_type=media)

    async def state(request: Request) -> Response:
        frame, _ = hub.frame()
        return JSONResponse(frame)

    async def frames(ws: WebSocket) -> None:
        if not same_origin(ws.headers):
            stats.refused_origin += 1
            log.warning("refused a dashboard WebSocket from another origin")
            await ws.close(code=_CLOSE_POLICY)  # before accept: the handshake is answered with HTTP 403
            return
        if stats.clients >= config.max_clients:
            stats.refused_busy += 1
            await ws.close(code=_CLOSE_BUSY)
            return
        await ws.accept()
        stats.clients += 1
        stats.connected_total += 1
        me = stats.connected_total
        stats.frames_per_client[me] = 0
        try:
            if not await _push(ws, hub, config, stats, me) and abort is not None:
                abort(ws.scope.get("client"))
        finally:
            stats.clients -= 1

    async def error(request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        words = {400: "bad request", 404: "not found", 405: "method not allowed"}
        return JSONResponse({"error": words.get(code, "error")}, status_code=code)

    routes = [
        *(Route(path, static, methods=["GET", "HEAD"]) for path in STATIC_FILES),
        Route("/api/state", state, methods=["GET", "HEAD"]),
        WebSocketRoute("/ws", frames),
    ]
    hosts = ["*"] if not config.loopback else [*LOOPBACK_NAMES, "[::1]"]
    return Starlette(
        debug=False,
        routes=routes,
        middleware=[Middleware(_SecurityHeaders), Middleware(TrustedHostMiddleware, allowed_hosts=hosts)],
        exception_handlers={HTTPException: error, Exception: error},
    )


async def _push(ws: WebSocket, hub: DashboardHub, config: ServeConfig, stats: ServerStats, me: int) -> bool:
    """Send frames to one browser until it leaves (True) or is too slow (False); read only to notice it
    leaving."""
    closed = asyncio.Event()

    async def reader() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass  # read-only: whatever a client sends is ignored
        closed.set()

    watcher = asyncio.create_task(reader())
    loop = asyncio.get_running_loop()
    period = 1.0 / config.push_hz
    cursors: dict[str, int] | None = None
    seen = -1
    due = loop.time()
    try:
        while not closed.is_set():
            # a live watch's time axis moves (and its rest timer runs) between packets: frame it anyway
            if hub.version != seen or hub.live:
                seen = hub.version
                frame, cursors = hub.frame(cursors)
                text = json.dumps(frame, separators=(",", ":"), allow_nan=False)
                try:
                    await asyncio.wait_for(ws.send_text(text), config.send_timeout_s)
                except TimeoutError:
                    stats.dropped_slow += 1
                    log.warning("dropped a dashboard client that read nothing for %.1f s", config.send_timeout_s)
                    return False
                except (WebSocketDisconnect, RuntimeError, OSError):
                    return True  # gone while we were sending
                stats.frames_sent += 1
                stats.frames_per_client[me] += 1
            # a browser that fell behind skips the frames it missed instead of catching up in a burst
            due = max(due + period, loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), max(0.0, due - loop.time()))
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    return True


class _InLoopServer(uvicorn.Server):
    """uvicorn without its signal handlers: it runs inside the pipeline's loop, whose owner (the CLI) decides
    what Ctrl-C does; uvicorn's own handlers would take SIGINT away from it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket, so a busy port is a ConfigError here (uvicorn would exit the process instead)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except (OSError, UnicodeError) as e:
        raise ConfigError(f"cannot listen on {host!r}: {getattr(e, 'strerror', None) or e}", field="host") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # connections inherit it: what the kernel holds for a browser that stops reading stays small, so such a
        # browser is noticed (and dropped) within seconds instead of after megabytes of frames
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        sock.bind(address)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {e.strerror or e} (pass another --port)", field="port"
        ) from None
    return sock


class DashboardServer:
    """The dashboard served from the current event loop while the `async with` block runs.

    async with DashboardServer(hub, ServeConfig(port=0)) as server:
        print(server.url)
        await run_live(client, recognizer, **feed.callbacks())
    """

    def __init__(self, hub: DashboardHub, config: ServeConfig = ServeConfig()) -> None:
        self.hub = hub
        self.config = config
        self.stats = ServerStats()
        self.app = create_app(hub, config, self.stats, self._abort)
        self._server: _InLoopServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    def _abort(self, client: Any) -> None:
        """Cut the connection of `client` ((host, port) as the ASGI scope names it) without a closing
        handshake. uvicorn keeps its connections (protocol objects with `client` and `transport`) in its server
        state; without them, the connection closes once the browser reads again."""
        state = getattr(self._server, "server_state", None)
        for conn in list(getattr(state, "connections", ())):
            if client is not None and tuple(getattr(conn, "client", None) or ()) == tuple(client):
                transport = getattr(conn, "transport", None)
                if transport is not None:
                    transport.abort()

    @property
    def port(self) -> int:
        if self._sock is None:
            return self.config.port
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        """Where to open the page (the loopback when listening on every address)."""
        host = self.config.host
        if host in ("0.0.0.0", "::", "[::]"):
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    async def __aenter__(self) -> DashboardServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self, timeout_s: float = 10.0) -> None:
        self._sock = _bind(self.config.host, self.config.port)
        cfg = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="websockets-sansio",
            ws_max_size=4096,  # browsers send nothing; a large message is not a dashboard client
            server_header=False,
            timeout_graceful_shutdown=2,
        )
        self._server = _InLoopServer(cfg)
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self._server.started:
            if self._task.done() or loop.time() > deadline:
                await self.stop()
                raise ConfigError(f"the dashboard did not start on {self.config.host}:{self.port}", field="port")
            await asyncio.sleep(0.01)
        log.info("dashboard at %s", self.url)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 5.0)
            except TimeoutError:
                self._server.force_exit = True
                await asyncio.gather(self._task, return_exceptions=True)
            except Exception as e:  # a failed start has already been reported; do not mask the caller's error
                log.debug("dashboard server ended with %r", e)
        if self._sock is not None:
            self._sock.close()
        self._server = self._task = self._sock = None
