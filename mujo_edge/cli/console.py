"""Shared rich consoles and progress display for the CLI (library code never prints)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console()
err_console = Console(stderr=True)


@contextmanager
def progress_callback(description: str) -> Iterator[object]:
    """A `progress(done, total, what)` callable drawing a transient rich bar on stderr."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[what]}", style="dim"), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=None, what="")

        def update(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, what=what)

        yield update


def human_duration(seconds: float) -> str:
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def short_text(texts: Mapping[str, str], label: str) -> str:
    """The name part of a label description ("shoulder abduction: standing upright, ..." -> "shoulder
    abduction"), so timelines and live views stay one line per row."""
    return str(texts.get(label, "")).split(":")[0].split(";")[0].strip()
