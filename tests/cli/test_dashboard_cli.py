"""`mujo-edge demo --serve` and `live --serve`: the dashboard from the command line (the page itself is tested in a
real browser in test_dashboard_browser.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the dashboard comes with the serve extra")
pytest.importorskip("uvicorn", reason="the dashboard comes with the serve extra")
pytest.importorskip("bumble", reason="the demo's virtual watch needs the sim extra")


def mujo_edge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mujo_edge", *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_demo_serve_prints_the_page_and_still_scores(shared_data: Path) -> None:
    r = mujo_edge(
        "demo", "--serve", "--port", "0", "--sets", "2", "--speed", "40", "--quiet",
        "--data", str(shared_data / "spar_watch"),
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "dashboard: http://127.0.0.1:" in r.stdout
    assert "against the recording's labels" in r.stdout  # the terminal output goes on as without --serve
    assert "warning:" not in r.stderr  # the loopback: nothing to warn about


def test_a_busy_dashboard_port_is_one_clear_line(shared_data: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        r = mujo_edge(
            "demo", "--serve", "--port", port, "--sets", "1", "--quiet", "--data", str(shared_data / "spar_watch")
        )
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "--port" in r.stderr
    assert "Traceback" not in r.stderr + r.stdout


@pytest.mark.parametrize("command", ["live", "demo"])
def test_serve_options_are_offered(command: str) -> None:
    r = mujo_edge(command, "--help")
    assert r.returncode == 0
    for option in ("--serve", "--host", "--port"):
        assert option in r.stdout
