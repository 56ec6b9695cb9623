"""Waiting on what happens over the emulated radio, instead of sleeping and hoping it happened.

Tests are not a package, so the bridge tests load this file by its path (`importlib.util`), and the CLI tests
reach it through `test_client.py`. Every wait has a timeout, so a stream that never arrives fails the test with
a clear message instead of hanging it.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


async def wait_until(
    condition: Callable[[], bool], changed: asyncio.Event, timeout: float | None = 5.0, what: str = "condition"
) -> None:
    """Return once `condition()` holds; `changed` is set by whatever can make it true (a callback).

    `timeout` None waits for as long as it takes (a background task that is cancelled at the end).

    The event is cleared before each check, so a change between the check and the wait is never missed.
    """
    try:
        async with asyncio.timeout(timeout):
            while True:
                changed.clear()
                if condition():
                    return
                await changed.wait()
    except TimeoutError:
        raise AssertionError(f"{what} not reached within {timeout:g} s") from None


async def expect_quiet(changed: asyncio.Event, window_s: float, what: str = "anything") -> None:
    """Assert that `changed` is not set within `window_s`: silence is the expected timeout of the wait.

    Silence can only be observed over a span of time, so this is the one wait whose length is the test.
    """
    changed.clear()
    try:
        await asyncio.wait_for(changed.wait(), window_s)
    except TimeoutError:
        return
    raise AssertionError(f"expected no {what} within {window_s:g} s")


class Arrivals(list[T]):
    """A list a callback appends to (`on_data=arrivals.append`) that can be waited on."""

    def __init__(self, items: Iterable[T] = ()) -> None:
        super().__init__(items)
        self.changed = asyncio.Event()

    def append(self, item: T) -> None:
        super().append(item)
        self.changed.set()

    async def until(
        self, condition: Callable[[Sequence[T]], bool], timeout: float = 5.0, what: str = "arrivals"
    ) -> None:
        await wait_until(lambda: condition(self), self.changed, timeout, what)

    async def at_least(self, n: int, timeout: float = 5.0) -> None:
        """Wait until at least `n` items arrived."""
        await self.until(lambda items: len(items) >= n, timeout, f"{n} arrivals (have {len(self)})")

    async def quiet(self, window_s: float) -> None:
        """Assert that nothing arrives within `window_s`."""
        before = len(self)
        await expect_quiet(self.changed, window_s, "arrival")
        assert len(self) == before


def _listening_ports() -> set[int] | None:
    """TCP ports in LISTEN state: the kernel's table (Linux /proc), else `ss -ltn`; None if neither exists."""
    tables = [Path(t) for t in ("/proc/net/tcp", "/proc/net/tcp6") if Path(t).is_file()]
    if tables:
        ports: set[int] = set()
        for table in tables:
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        return ports
    try:
        out = subprocess.run(["ss", "-ltn"], capture_output=True, text=True, check=False).stdout
    except FileNotFoundError:
        return None
    return {int(m) for m in re.findall(r":(\d+)\s", out)}


def wait_listening(process: subprocess.Popen[bytes], ports: Sequence[int], timeout: float = 10.0) -> None:
    """Block until `process` listens on every port (skip the test if it exits or never does).

    Another process gives no event to wait on, and connecting to probe would be taken as the controller's host:
    this polls the kernel's table of listening sockets, a deterministic condition, with a deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        listening = _listening_ports()
        if listening is None:
            process.kill()
            pytest.skip("neither /proc/net/tcp nor `ss` shows when bumble.apps.controllers listens")
        if set(ports) <= listening:
            return
        if process.poll() is not None:
            err = process.stderr.read().decode()[-300:] if process.stderr is not None else ""
            pytest.skip(f"bumble.apps.controllers exited: {err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.skip(f"bumble.apps.controllers did not start listening within {timeout:g} s")
        time.sleep(0.02)  # polling another process's state: there is nothing to wait on
