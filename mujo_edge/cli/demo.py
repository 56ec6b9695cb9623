"""`mujo-edge demo`: the whole product in one command, no hardware.

A virtual watch on an in-process Bumble radio replays every exercise set of a subject the embedded model never
saw (one continuous stream, as if the person did the sets back to back); the BLE client receives it exactly as
from a real watch; the embedded int8 bundle recognises it live; the run ends with accuracy against the
recording's labels, latency, measured rate and loss, and the session log (sets, repetitions, rests) against the
sets the subject did. The work is `mujo_edge.runtime.demo`; this command prints it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mujo_edge.cli.console import HostOption, PortOption, ServeFlag, console, err_console

if TYPE_CHECKING:
    from mujo_edge.cli.live import LiveView
    from mujo_edge.firmware_bridge.client import WatchClient
    from mujo_edge.runtime import Recognizer
    from mujo_edge.runtime.demo import DemoStream, Display, OnPrediction
    from mujo_edge.runtime.live import LiveSummary
    from mujo_edge.runtime.session import SessionState


def _live_display(recognizer: Recognizer, views: list[LiveView]) -> Display:
    """`mujo_edge.runtime.demo.Display` drawing the live view of `cli.live` while the demo runs (appended to
    `views`, so the session callback reaches it)."""
    from rich.live import Live

    from mujo_edge.cli.live import LiveView

    @contextmanager
    def display(client: WatchClient) -> Iterator[OnPrediction]:
        view = LiveView(client, recognizer)
        views.append(view)
        with Live(view, console=console, refresh_per_second=4, transient=True):
            yield view.update

    return display


def _print_sets(summary: LiveSummary, stream: DemoStream) -> None:
    """The session log's sets against the sets the subject did (SPAR: 20 repetitions each)."""
    from rich.table import Table

    from mujo_edge.runtime.session import match_sets

    if summary.session is None:
        return
    offset = float(summary.extra.get("source_offset_s", 0.0))
    matches = match_sets(summary.session, stream.true_sets(offset))
    table = Table(title="sets against the recording (s from the stream's start)", title_justify="left")
    for col in ("done", "start", "end", "reps", "found", "reps counted", "start / end error"):
        table.add_column(col, justify="left" if col in ("done", "found") else "right")
    for m in matches:
        t, f = m.truth, m.found
        found = "[red]not found[/]" if f is None else f"[{'green' if m.exercise_right else 'red'}]{f.exercise}[/]"
        errors = "-" if f is None else f"{m.start_error_s:+.1f} / {m.end_error_s:+.1f} s"
        counted = "-" if f is None else f"[{'green' if m.reps_right else 'yellow'}]{f.repetitions}[/]"
        table.add_row(
            t.exercise,
            f"{t.start_s - offset:.1f}",
            f"{t.end_s - offset:.1f}",
            str(t.repetitions),
            found,
            counted,
            errors,
        )
    console.print(table)
    n = len(matches)
    console.print(
        f"sets: {sum(m.found is not None for m in matches)}/{n} found, {sum(m.exercise_right for m in matches)} "
        f"with the right exercise, {sum(m.reps_right for m in matches)} with repetitions within +-1 "
        f"({len(summary.session.sets)} sets detected; the demo plays the sets back to back, without rest)"
    )


def demo(
    speed: Annotated[
        float,
        typer.Option(
            "--speed", min=0.1, help="Replay speed (1 = real time; 10 plays ~8 min of exercise in under a minute)."
        ),
    ] = 10.0,
    subject: Annotated[
        str | None, typer.Option("--subject", help="SPAR subject to replay (default: one the model never saw).")
    ] = None,
    sets: Annotated[int | None, typer.Option("--sets", min=1, help="Only the first N exercise sets.")] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="SPAR-watch folder (default: ../shared/data, else seglearn).")
    ] = None,
    bundle: Annotated[Path | None, typer.Option("--bundle", help="Bundle to run (default: the embedded one).")] = None,
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol", help="Protocol the virtual watch speaks: mujo, polar, metawear, banglejs, infinitime."
        ),
    ] = "mujo",
    smoothing: Annotated[int, typer.Option("--smoothing", min=1, help="Majority over the last K windows.")] = 5,
    quiet: Annotated[bool, typer.Option("--quiet", help="No live view; only the summary.")] = False,
    serve: ServeFlag = False,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8765,
) -> None:
    """Replay a real recording of an unseen subject from a virtual watch over BLE into live recognition."""
    from rich.table import Table

    from mujo_edge.cli.live import dashboard_config, dashboard_messages, print_summary
    from mujo_edge.default_model import bundle_path
    from mujo_edge.runtime import Recognizer
    from mujo_edge.runtime.demo import demo_stream, run_demo, score

    dashboard = dashboard_config(serve, host, port)
    recognizer = Recognizer.from_bundle(bundle or bundle_path(), smoothing=smoothing)
    stream = demo_stream(recognizer.manifest, data, subject, sets)
    cv = dict(recognizer.manifest.metrics).get("cross_validated", {})
    console.print(
        f"[bold]mujo-edge demo[/]: subject {stream.subject} ({stream.sets} exercise sets, "
        f"{len(stream.t) / recognizer.manifest.window.rate_hz / 60:.1f} min, from {stream.source}) "
        f"-> virtual {protocol} watch at {speed:g}x -> BLE -> {recognizer.artifact.name} "
        f"on {recognizer.artifact.engine}" + _cv_text(cv)
    )

    views: list[LiveView] = []
    display = None if quiet else _live_display(recognizer, views)

    def on_session(state: SessionState) -> None:
        for view in views:
            view.update_session(state)

    kwargs: dict[str, Any] = {"speed": speed, "protocol": protocol, "display": display, "on_session": on_session}
    if dashboard is None:
        summary, truth = asyncio.run(run_demo(recognizer, stream, **kwargs))
    else:
        from mujo_edge.runtime.dashboard import serve_demo

        summary, truth = asyncio.run(serve_demo(recognizer, stream, dashboard, **dashboard_messages(), **kwargs))
    print_summary(summary, recognizer, f"demo: subject {stream.subject}")
    _print_sets(summary, stream)
    result = score(summary.predictions, truth)
    if result is None:
        err_console.print("[red]no labelled window was predicted[/]")
        raise typer.Exit(1)
    table = Table(
        title=f"against the recording's labels ({result.windows} windows of {result.predicted})", title_justify="left"
    )
    for col in ("", "accuracy", "macro-F1"):
        table.add_column(col, justify="right")
    table.add_row("per window", f"{result.accuracy:.3f}", f"{result.macro_f1:.3f}")
    table.add_row(f"majority of {smoothing}", f"{result.smoothed_accuracy:.3f}", f"{result.smoothed_macro_f1:.3f}")
    console.print(table)


def _cv_text(cv: dict[str, Any]) -> str:
    """The bundle's cross-validated score, and the feature forest's on the same folds when the bundle has it."""
    if not cv:
        return ""
    forest = cv.get("forest")
    return f"; cross-validated macro-F1 {cv['macro_f1_mean']:.3f} on new people" + (
        f" (feature forest on the same folds: {forest['macro_f1_mean']:.3f})" if forest else ""
    )
