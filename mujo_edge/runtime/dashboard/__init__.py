"""A live dashboard in the browser: every watch's acceleration (last 10 s), recognised exercise with top-3,
repetitions and rest of the current set, session log and stream health, pushed over a WebSocket.

```python
from mujo_edge.runtime.dashboard import ServeConfig, serve_live
summary = await serve_live(client, recognizer, ServeConfig(port=8765), on_url=print)   # `live --serve`
```

`hub` (state written by the pipeline's callbacks, read by browsers at their own pace) needs numpy only;
`server` and `run` need the `serve` extra (starlette, uvicorn), imported when first used, so importing this
package stays cheap and works without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mujo_edge.runtime.dashboard.hub import DashboardHub, HubConfig, WatchFeed

if TYPE_CHECKING:
    from mujo_edge.runtime.dashboard.run import hub_for, run_emulated_watches, serve_demo, serve_live
    from mujo_edge.runtime.dashboard.server import DashboardServer, ServeConfig, exposure_warning

_LAZY = {
    "DashboardServer": "server",
    "ServeConfig": "server",
    "exposure_warning": "server",
    "hub_for": "run",
    "run_emulated_watches": "run",
    "serve_demo": "run",
    "serve_live": "run",
}

__all__ = [
    "DashboardHub",
    "DashboardServer",
    "HubConfig",
    "ServeConfig",
    "WatchFeed",
    "exposure_warning",
    "hub_for",
    "run_emulated_watches",
    "serve_demo",
    "serve_live",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"mujo_edge.runtime.dashboard.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
