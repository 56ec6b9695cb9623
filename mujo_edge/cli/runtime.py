"""`mujo-edge predict` (a bundle on recorded data, offline) and `mujo-edge bundle inspect`.

Thin: load and predict with the library (`mujo_edge.runtime.offline`), print with rich. Heavy imports live inside
the functions. Nothing here needs torch (only an ExecuTorch artifact does, inside its engine).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mujo_edge.cli.console import STATUS_STYLE, comma_list, console, err_console, short_text
from mujo_edge.metrics import dumps_strict

if TYPE_CHECKING:
    from mujo_edge.bundle import Bundle
    from mujo_edge.runtime import Recognizer
    from mujo_edge.runtime.offline import PredictReport

bundle_app = typer.Typer(help="Model bundles: what a device will run.", no_args_is_help=True)


@bundle_app.callback()
def _bundle() -> None:
    """Model bundles (a folder or .zip with mujo.json and model files)."""


def predict(
    bundle: Annotated[Path, typer.Argument(help="Model bundle: a folder with mujo.json, or its .zip.")],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="A CSV file or folder in the bring-your-own layout, or a dataset name (see `mujo-edge data list`). "
            "Default: the data the bundle was trained on, its held-out subjects.",
        ),
    ] = None,
    root: Annotated[Path | None, typer.Option("--root", help="Dataset folder when --data is a dataset name.")] = None,
    engine: Annotated[
        str | None,
        typer.Option("--engine", help="litert, executorch or onnxruntime (default: best installed for the bundle)."),
    ] = None,
    artifact: Annotated[
        str | None, typer.Option("--artifact", help="Artifact name, e.g. tflite-int8 (default: automatic).")
    ] = None,
    subjects: Annotated[
        str | None, typer.Option("--subjects", help="Comma list of subjects to keep from a dataset.")
    ] = None,
    smoothing: Annotated[int, typer.Option("--smoothing", min=1, help="Majority over the last K windows.")] = 1,
    threads: Annotated[int, typer.Option("--threads", min=1, help="CPU threads for the engine.")] = 1,
    json_out: Annotated[bool, typer.Option("--json", help="Print predictions and metrics as JSON.")] = False,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Fail instead of warning when the data fails a sanity check (wrong units)."),
    ] = False,
) -> None:
    """Run a bundle over recorded data: a timeline of predicted activity, F1 when labels are known, and the
    session log (sets, repetitions, rests) of each recording."""
    from mujo_edge.bundle import ArtifactStatus
    from mujo_edge.cli.live import session_table
    from mujo_edge.runtime import Recognizer
    from mujo_edge.runtime.live import recording_session
    from mujo_edge.runtime.offline import load_for_bundle, predict_report
    from mujo_edge.units import strict_units

    recognizer = Recognizer.from_bundle(bundle, engine=engine, artifact=artifact, threads=threads, smoothing=smoothing)
    if recognizer.artifact.status != ArtifactStatus.PASS:
        err_console.print(
            f"[yellow]warning:[/] artifact {recognizer.artifact.name} is "
            f"{recognizer.artifact.status} (parity {dict(recognizer.artifact.parity)})"
        )
    with strict_units(strict):
        recordings = load_for_bundle(data, root, recognizer.manifest, comma_list(subjects))
    report = predict_report(recognizer, recordings)
    # sets, repetitions and rests of each recording (issue 17): None and the reason when it has no accelerometer
    sessions = [recording_session(recognizer, r, t.predictions) for r, t in zip(recordings, report.recordings)]
    if json_out:
        out = report.to_dict()
        out["sessions"] = [{"log": None if g is None else g.to_dict(), "note": why} for g, why in sessions]
        console.print_json(dumps_strict(out))
        return
    _print_report(recognizer, report)
    for timeline, (session, why) in zip(report.recordings, sessions):
        if session is not None:
            console.print(session_table(session, f"session of {timeline.source} (subject {timeline.subject})"))
        if why:
            err_console.print(f"[yellow]warning:[/] {timeline.source}: {why}")


def _print_report(recognizer: Recognizer, report: PredictReport) -> None:
    from rich.table import Table

    console.print(
        f"[bold]{report.artifact}[/] on {report.engine} ({recognizer.bundle.source}), smoothing {report.smoothing}"
    )
    texts = recognizer.manifest.label_texts
    for rec in report.recordings:
        table = Table(
            title=f"{rec.source} (subject {rec.subject}); times in s from its first sample", title_justify="left"
        )
        for col in ("start", "end"):
            table.add_column(col, justify="right")
        for col in ("predicted", "activity", "confidence", "windows", "true label"):
            table.add_column(col, justify="right" if col in ("confidence", "windows") else "left")
        for s in rec.segments:
            ok = s.true is None or s.true == s.label
            true = "" if s.true is None else (s.true if ok else f"[red]{s.true}[/]")
            table.add_row(
                f"{s.start_s - rec.t0:.1f}",
                f"{s.end_s - rec.t0:.1f}",
                f"[bold]{s.label}[/]",
                short_text(texts, s.label),
                f"{s.confidence:.2f}",
                str(s.windows),
                true,
            )
        if not rec.segments:
            table.add_row("-", "-", "[dim]no complete window[/]", "", "", "0", "")
        console.print(table)
    m = report.metrics
    if m is None:
        console.print(_no_f1(report))
        return
    line = (
        f"macro-F1 [bold]{m.raw.macro_f1:.3f}[/], accuracy {m.raw.accuracy:.3f} over {m.raw.windows} labelled windows"
    )
    if m.smoothed is not None:
        line += f"; smoothed: macro-F1 {m.smoothed.macro_f1:.3f}, accuracy {m.smoothed.accuracy:.3f}"
    console.print(line)
    if report.unknown_labels:
        console.print(f"[yellow]{_unknown(report)} (not scored)[/]")


def _unknown(report: PredictReport) -> str:
    """Which labels of the data the bundle does not know, and which it does: a renamed activity shows at once."""
    found = ", ".join(f"{name} ({n} windows)" for name, n in report.unknown_labels.items())
    return f"labels the bundle does not know: {found}; it knows {', '.join(report.labels)}"


def _no_f1(report: PredictReport) -> str:
    if report.unknown_labels:
        return f"[yellow]no F1: no window carries a label the bundle knows; {_unknown(report)}[/]"
    return "[dim]no labelled windows: no F1[/]"


# --- bundle inspect ------------------------------------------------------------------------------------


def human_bytes(n: int | None) -> str:
    """A file size in decimal units (1 MB = 10^6 bytes), the unit `export`, `bench` and the README use: the same
    file must read as the same number everywhere, so never binary MiB under an "MB" label."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1000
    return str(n)


def _checked(ok: bool | None) -> str:
    """Whether the model file's input and output shapes were checked against the manifest."""
    return "-" if ok is None else ("checked" if ok else "[dim]engine not installed[/]")


def _fmt(v: Any) -> str:
    return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


@bundle_app.command("inspect")
def inspect_bundle(
    path: Annotated[Path, typer.Argument(help="Bundle folder or .zip.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the (verified) manifest as JSON.")] = False,
) -> None:
    """Input shape, channels, units, rate, window, normaliser, labels, artifacts (verified sha256), provenance.

    Every model whose engine is installed is loaded and its real input and output shapes checked against the
    manifest; a bundle that disagrees with itself is refused (exit code 1)."""
    from mujo_edge.bundle import read_bundle
    from mujo_edge.runtime.recognizer import check_models

    with read_bundle(path) as bundle:  # verifies every field, every file's size and sha256
        checked = check_models(bundle)
        if as_json:
            out = {"source": str(bundle.source), "verified": True, "models_checked": checked}
            console.print_json(dumps_strict({**out, **bundle.manifest.to_dict()}))
            return
        _print_bundle(bundle, checked)


def _print_bundle(bundle: Bundle, checked: dict[str, bool]) -> None:
    from rich.markup import escape
    from rich.table import Table

    m = bundle.manifest
    w = m.window
    head = Table(title=f"bundle {bundle.source} (files verified)", title_justify="left", show_header=False)
    head.add_column(style="bold")
    head.add_column()
    head.add_row("kind", m.kind)
    head.add_row("created", m.created or "-")
    head.add_row(
        "input", escape(f"[batch, {m.input_shape[0]}, {m.input_shape[1]}] float32, layout NCL, z-scored by the runtime")
    )
    head.add_row("rate", f"{w.rate_hz:g} Hz ({w.interpolation} resampling, gaps > {w.max_gap_s:g} s never bridged)")
    head.add_row("window", f"{w.length} samples ({w.window_s:g} s), step {w.step} ({w.step / w.rate_hz:g} s)")
    console.print(head)

    ch = Table(title="channels (input order)", title_justify="left")
    for col in ("#", "channel", "unit", "mean", "std"):
        ch.add_column(col, justify="right" if col in ("#", "mean", "std") else "left")
    for i, (c, u, mu, sd) in enumerate(zip(m.channels, m.units, m.normaliser.mean, m.normaliser.std)):
        ch.add_row(str(i), c, u, f"{mu:.4g}", f"{sd:.4g}")
    console.print(ch)

    lab = Table(title="labels (output order)", title_justify="left")
    for col in ("#", "label", "text"):
        lab.add_column(col)
    for i, name in enumerate(m.labels):
        lab.add_row(str(i), escape(name), escape(m.label_texts.get(name, "")))
    console.print(lab)

    art = Table(title="artifacts", title_justify="left")
    for col in (
        "name",
        "format",
        "precision",
        "engine",
        "I/O",
        "status",
        "size",
        "sha256",
        "parity F1",
        "dF1",
        "agreement",
        "max |dlogit|",
        "model I/O",
    ):
        art.add_column(col)
    for a in m.artifacts:
        p = a.parity
        style = STATUS_STYLE[a.status]
        art.add_row(
            a.name,
            a.format,
            a.precision,
            a.engine,
            f"{a.input_dtype}/{a.output_dtype}",
            f"[{style}]{a.status}[/]",
            human_bytes(a.bytes),
            (a.sha256 or "-")[:12],
            _fmt(p.get("macro_f1")),
            _fmt(p.get("delta_macro_f1")),
            _fmt(p.get("top1_agreement")),
            _fmt(p.get("max_abs_logit_diff")),
            _checked(checked.get(a.name)),
        )
    console.print(art)
    for a in m.artifacts:
        if a.notes:
            console.print(f"[dim]{a.name}: {a.notes}[/]")

    for title, mapping in (("training", m.training.to_dict()), ("metrics", m.metrics), ("versions", m.versions)):
        if not mapping:
            continue
        t = Table(title=title, title_justify="left", show_header=False)
        t.add_column(style="bold")
        t.add_column()
        for k, v in mapping.items():
            t.add_row(str(k), dumps_strict(v) if isinstance(v, (dict, list)) else _fmt(v))
        console.print(t)
