"""How to open the dashboard in a headless Chromium: the system's browser (Debian's package, `.ci/run` installs
it) and the flags it needs on a machine without a network (no background connections, no first-run setup), so
the browser tests and the load check start it the same way. Never a downloaded browser build."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("MUJO_EDGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
