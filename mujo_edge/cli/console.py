"""Shared rich consoles and progress display for the CLI (library code never prints)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from mujo_edge.bundle import ArtifactStatus
from mujo_edge.errors import ConfigError

console = Console()
err_console = Console(stderr=True)

# the browser dashboard's options, the same on every command that streams (`live`, `demo`)
ServeFlag = Annotated[
    bool, typer.Option("--serve", help="Also show a live dashboard in the browser (needs the serve extra).")
]
HostOption = Annotated[
    str, typer.Option("--host", help="Dashboard address (default: this machine only; others print a warning).")
]
PortOption = Annotated[int, typer.Option("--port", min=0, max=65535, help="Dashboard port (0: any free one).")]

# how every table colours an artifact's export status
STATUS_STYLE = {
    ArtifactStatus.PASS: "green",
    ArtifactStatus.FAILED_PARITY: "yellow",
    ArtifactStatus.EXPORT_FAILED: "red",
}


def comma_list(value: str | None) -> tuple[str, ...] | None:
    """The one parser of comma options (`--subjects 1,2`): items stripped, empty ones dropped; None when the
    option was not given or holds no item."""
    if value is None:
        return None
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    return items or None


def comma_ints(value: str, field: str) -> tuple[int, ...]:
    """A comma option of integers (`--threads 1,2`); ConfigError naming the option `field` otherwise."""
    try:
        return tuple(int(v) for v in comma_list(value) or ())
    except ValueError:
        raise ConfigError(f"not a comma list of integers: {value!r}", field=field) from None


@contextmanager
def progress_callback(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """A `progress(done, total, what)` callable drawing a transient rich bar on stderr."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[what]}", style="dim"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None, what="")

        def update(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, what=what)

        yield update


def human_duration(seconds: float) -> str:
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def short_text(texts: Mapping[str, str], label: str) -> str:
    """The name part of a label description ("shoulder abduction: standing upright, ..." -> "shoulder
    abduction"), so timelines and live views stay one line per row."""
    return str(texts.get(label, "")).split(":")[0].split(";")[0].strip()
