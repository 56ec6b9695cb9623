"""`mujo-edge predict` (a bundle on recorded data, offline) and `mujo-edge bundle inspect`.

Thin: load with the library, print with rich. Heavy imports live inside the functions. Nothing here needs
torch (only an ExecuTorch artifact does, inside its engine); macro-F1 is computed in numpy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import typer

from mujo_edge.cli.console import console, err_console, short_text
from mujo_edge.metrics import accuracy, macro_f1

if TYPE_CHECKING:
    from mujo_edge.bundle import Bundle, Manifest
    from mujo_edge.recording import Recording
    from mujo_edge.runtime import Prediction, Recognizer

bundle_app = typer.Typer(help="Model bundles: what a device will run.", no_args_is_help=True)


@bundle_app.callback()
def _bundle() -> None:
    """Model bundles (a folder or .zip with mujo.json and model files)."""


# --- metrics -------------------------------------------------------------------------------------------

# --- timeline ------------------------------------------------------------------------------------------

def segments(predictions: Sequence[Prediction], truth: Sequence[str | None], step_s: float,
             smoothed: bool = False) -> list[dict[str, Any]]:
    """Consecutive windows with the same predicted and true label merged into one segment.

    A segment also ends where windows are not contiguous (a gap, or windows dropped), so a pause in the
    recording shows as a break in the timeline.
    """
    out: list[dict[str, Any]] = []
    for p, y in zip(predictions, truth):
        label = p.smoothed_label if smoothed else p.label
        last = out[-1] if out else None
        if (last is not None and last["label"] == label and last["true"] == y
                and abs(p.start_s - last["_last_start"] - step_s) <= 0.5 * step_s):
            last["end_s"] = p.end_s
            last["_last_start"] = p.start_s
            last["windows"] += 1
            last["_conf"].append(p.confidence)
            continue
        out.append({"start_s": p.start_s, "end_s": p.end_s, "label": label, "true": y, "windows": 1,
                    "_last_start": p.start_s, "_conf": [p.confidence]})
    for s in out:
        s["confidence"] = float(np.mean(s.pop("_conf")))
        s.pop("_last_start")
    return out


def _load_data(data: str, root: Path | None, manifest: Manifest, subjects: tuple[str, ...] | None
               ) -> list[Recording]:
    """Recordings from a CSV file/folder (bring-your-own layout) or a registered dataset, bundle channels only."""
    from mujo_edge.channels import Channel, ChannelSelection
    from mujo_edge.data.base import resolve_root
    from mujo_edge.data.prepare import load_recordings
    from mujo_edge.data.registry import get_loader
    from mujo_edge.errors import ConfigError

    path = Path(data).expanduser()
    if path.exists():
        loader, location = get_loader("csv"), path
    else:
        loader = get_loader(data)  # UnknownNameError lists the datasets when `data` is neither
        location = resolve_root(loader.spec, root)
    parsed = [Channel.parse(c) for c in manifest.channels]
    selection = ChannelSelection(placements=tuple(sorted({c.placement for c in parsed})),
                                 sensors=tuple(sorted({c.sensor for c in parsed})))
    recordings = load_recordings(loader, location, selection, manifest.window)
    if subjects:
        have = sorted({r.subject for r in recordings})
        recordings = [r for r in recordings if r.subject in subjects]
        if not recordings:
            raise ConfigError(f"no recording of subjects {list(subjects)}; the data has {have}", field="subjects")
    return recordings


def _csv_option(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = tuple(v.strip() for v in value.split(",") if v.strip())
    return items or None


def predict(
    bundle: Path = typer.Argument(..., help="Model bundle: a folder with mujo.json, or its .zip."),
    data: str = typer.Option(..., "--data", help="A CSV file or folder in the bring-your-own layout, or a "
                                                 "dataset name (see `mujo-edge data list`)."),
    root: Path = typer.Option(None, "--root", help="Dataset folder when --data is a dataset name."),
    engine: str = typer.Option(None, "--engine", help="litert, executorch or onnxruntime (default: best "
                                                      "installed for the bundle)."),
    artifact: str = typer.Option(None, "--artifact", help="Artifact name, e.g. tflite-int8 (default: automatic)."),
    subjects: str = typer.Option(None, "--subjects", help="Comma list of subjects to keep from a dataset."),
    smoothing: int = typer.Option(1, "--smoothing", min=1, help="Majority over the last K windows."),
    threads: int = typer.Option(1, "--threads", min=1, help="CPU threads for the engine."),
    json_out: bool = typer.Option(False, "--json", help="Print predictions and metrics as JSON."),
) -> None:
    """Run a bundle over recorded data: a timeline of predicted activity, and F1 when labels are known."""
    from mujo_edge.runtime import Recognizer

    recognizer = Recognizer.from_bundle(bundle, engine=engine, artifact=artifact, threads=threads,
                                        smoothing=smoothing)
    manifest = recognizer.manifest
    if recognizer.artifact.status != "pass":
        err_console.print(f"[yellow]warning:[/] artifact {recognizer.artifact.name} is "
                          f"{recognizer.artifact.status} (parity {dict(recognizer.artifact.parity)})")
    recordings = _load_data(data, root, manifest, _csv_option(subjects))
    step_s = manifest.window.step / manifest.window.rate_hz
    results = []
    for rec in recordings:
        preds = recognizer.predict_recording(rec)
        truth = recognizer.true_labels(rec, preds)
        results.append((rec, preds, truth))
    report = _report(recognizer, results, step_s, smoothing > 1)
    if json_out:
        console.print_json(json.dumps(report))
        return
    _print_report(recognizer, report)


def _scores(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    t = [a for a, _ in pairs]
    p = [b for _, b in pairs]
    return {"windows": len(pairs), "macro_f1": macro_f1(t, p), "accuracy": accuracy(t, p)}


def _report(recognizer: Recognizer, results: list[tuple[Recording, list[Prediction], list[str | None]]],
            step_s: float, smoothed: bool) -> dict[str, Any]:
    known = set(recognizer.labels)
    raw: list[tuple[str, str]] = []
    smooth: list[tuple[str, str]] = []
    unknown = 0
    recs = []
    for rec, preds, truth in results:
        for p, y in zip(preds, truth):
            if y is None:
                continue
            if y not in known:
                unknown += 1
                continue
            raw.append((y, p.label))
            smooth.append((y, p.smoothed_label))
        t0 = float(rec.t[0])
        recs.append({
            "source": rec.source, "subject": rec.subject, "t0": t0,
            "segments": [{**s, "start_rel_s": s["start_s"] - t0, "end_rel_s": s["end_s"] - t0}
                         for s in segments(preds, truth, step_s, smoothed)],
            "windows": [{"start_s": p.start_s, "end_s": p.end_s, "label": p.label, "smoothed": p.smoothed_label,
                         "confidence": p.confidence, "true": y, "latency_s": p.latency_s}
                        for p, y in zip(preds, truth)],
        })
    metrics: dict[str, Any] | None = None
    if raw:
        metrics = _scores(raw)
        if smoothed:
            metrics["smoothed"] = _scores(smooth)
        if unknown:
            metrics["windows_with_unknown_label"] = unknown
    latencies = [w["latency_s"] for r in recs for w in r["windows"]]
    return {"bundle": str(recognizer.bundle.source), "artifact": recognizer.artifact.name,
            "engine": recognizer.artifact.engine, "smoothing": recognizer.smoothing,
            "mean_latency_ms": 1e3 * float(np.mean(latencies)) if latencies else None,
            "recordings": recs, "metrics": metrics}


def _print_report(recognizer: Recognizer, report: dict[str, Any]) -> None:
    from rich.table import Table

    console.print(f"[bold]{report['artifact']}[/] on {report['engine']} "
                  f"({recognizer.bundle.source}), smoothing {report['smoothing']}")
    texts = recognizer.manifest.label_texts
    for rec in report["recordings"]:
        table = Table(title=f"{rec['source']} (subject {rec['subject']}); times in s from its first sample",
                      title_justify="left")
        for col in ("start", "end"):
            table.add_column(col, justify="right")
        for col in ("predicted", "activity", "confidence", "windows", "true label"):
            table.add_column(col, justify="right" if col in ("confidence", "windows") else "left")
        for s in rec["segments"]:
            ok = s["true"] is None or s["true"] == s["label"]
            true = "" if s["true"] is None else (s["true"] if ok else f"[red]{s['true']}[/]")
            table.add_row(f"{s['start_rel_s']:.1f}", f"{s['end_rel_s']:.1f}", f"[bold]{s['label']}[/]",
                          short_text(texts, s["label"]), f"{s['confidence']:.2f}", str(s["windows"]), true)
        if not rec["segments"]:
            table.add_row("-", "-", "[dim]no complete window[/]", "", "", "0", "")
        console.print(table)
    m = report["metrics"]
    if m is None:
        console.print("[dim]no labelled windows: no F1[/]")
        return
    line = f"macro-F1 [bold]{m['macro_f1']:.3f}[/], accuracy {m['accuracy']:.3f} over {m['windows']} labelled windows"
    if "smoothed" in m:
        line += f"; smoothed: macro-F1 {m['smoothed']['macro_f1']:.3f}, accuracy {m['smoothed']['accuracy']:.3f}"
    console.print(line)
    if m.get("windows_with_unknown_label"):
        console.print(f"[yellow]{m['windows_with_unknown_label']} windows carry a label the model does not know "
                      f"(not scored)[/]")


# --- bundle inspect ------------------------------------------------------------------------------------

def _human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _fmt(v: Any) -> str:
    return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))


@bundle_app.command("inspect")
def inspect_bundle(
    path: Path = typer.Argument(..., help="Bundle folder or .zip."),
    as_json: bool = typer.Option(False, "--json", help="Print the (verified) manifest as JSON."),
) -> None:
    """Input shape, channels, units, rate, window, normaliser, labels, artifacts (verified sha256), provenance."""
    from mujo_edge.bundle import read_bundle

    bundle = read_bundle(path)  # verifies schema, every file's size and sha256
    if as_json:
        console.print_json(json.dumps({"source": str(bundle.source), "verified": True,
                                       **bundle.manifest.to_dict()}))
        return
    _print_bundle(bundle)


def _print_bundle(bundle: Bundle) -> None:
    from rich.markup import escape
    from rich.table import Table

    m = bundle.manifest
    w = m.window
    head = Table(title=f"bundle {bundle.source} (files verified)", title_justify="left", show_header=False)
    head.add_column(style="bold")
    head.add_column()
    head.add_row("kind", m.kind)
    head.add_row("created", m.created or "-")
    head.add_row("input", escape(f"[batch, {m.input_shape[0]}, {m.input_shape[1]}] float32, layout NCL, "
                                 "z-scored by the runtime"))
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
    for col in ("name", "format", "precision", "engine", "I/O", "status", "size", "sha256", "parity F1",
                "dF1", "agreement", "max |dlogit|"):
        art.add_column(col)
    for a in m.artifacts:
        p = a.parity
        style = {"pass": "green", "exported-but-failed": "yellow"}.get(a.status, "red")
        art.add_row(a.name, a.format, a.precision, a.engine, f"{a.input_dtype}/{a.output_dtype}",
                    f"[{style}]{a.status}[/]", _human_bytes(a.bytes), (a.sha256 or "-")[:12],
                    _fmt(p.get("macro_f1")), _fmt(p.get("delta_macro_f1")), _fmt(p.get("top1_agreement")),
                    _fmt(p.get("max_abs_logit_diff")))
    console.print(art)
    for a in m.artifacts:
        if a.notes:
            console.print(f"[dim]{a.name}: {a.notes}[/]")

    for title, mapping in (("training", m.training), ("metrics", m.metrics), ("versions", m.versions)):
        if not mapping:
            continue
        t = Table(title=title, title_justify="left", show_header=False)
        t.add_column(style="bold")
        t.add_column()
        for k, v in mapping.items():
            t.add_row(str(k), json.dumps(v) if isinstance(v, (dict, list)) else _fmt(v))
        console.print(t)
