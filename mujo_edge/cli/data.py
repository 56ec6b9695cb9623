"""`mujo-edge data ...`: list the dataset loaders and inspect a dataset as the models will see it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mujo_edge.cli.console import comma_list, console, human_duration, progress_callback

if TYPE_CHECKING:
    from mujo_edge.config import WindowConfig
    from mujo_edge.data.csv_mapping import CsvMapping
    from mujo_edge.data.prepare import DatasetSummary

app = typer.Typer(help="Datasets: list loaders, inspect recordings and 50 Hz windows.", no_args_is_help=True)

_DROP_REASONS = {
    "gap": "touches a gap longer than --max-gap (never interpolated)",
    "mixed_label": "majority label covers less than --min-purity of the window",
}


@app.command("list")
def list_datasets() -> None:
    """Show every dataset loader with its device, placements, rate and classes."""
    from rich.table import Table

    from mujo_edge.data.registry import DATASETS

    table = Table(title="Dataset loaders (mujo-edge data inspect NAME --root PATH)", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("dataset")
    for col in ("placements", "rate", "subjects", "classes"):
        table.add_column(col)
    for loader in DATASETS:
        s = loader.spec
        table.add_row(
            s.name,
            s.title,
            ", ".join(s.placements) or "any",
            s.native_rate,
            s.subjects,
            str(len(s.classes)) + (" + NULL" if s.has_null else "") if s.classes else "from labels",
        )
    console.print(table)


@app.command("inspect")
def inspect(
    name: Annotated[str, typer.Argument(help="Dataset loader name (see `mujo-edge data list`).")],
    root: Annotated[
        Path | None,
        typer.Option("--root", help="Dataset folder (default: $MUJO_EDGE_DATA/<name> or ../shared/data/<name>)."),
    ] = None,
    placements: Annotated[
        str | None, typer.Option("--placements", help="Comma list of placements to keep, e.g. wrist.")
    ] = None,
    sensors: Annotated[str | None, typer.Option("--sensors", help="Comma list of sensors to keep: acc, gyro.")] = None,
    rate: Annotated[float, typer.Option("--rate", help="Resampling rate in Hz.")] = 50.0,
    length: Annotated[int, typer.Option("--length", help="Window length in samples.")] = 100,
    step: Annotated[int, typer.Option("--step", help="Window step in samples.")] = 50,
    max_gap: Annotated[
        float,
        typer.Option("--max-gap", help="Longest stretch (s) between samples that is interpolated; longer is a gap."),
    ] = 0.25,
    min_purity: Annotated[float, typer.Option("--min-purity", help="Share of a window its label must cover.")] = 0.6,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Rebuild windows instead of using the cache.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON instead of tables.")] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Fail instead of warning when a sanity check fails (an accelerometer not averaging about 1 g: "
            "wrong units); re-reads the files, ignoring the cache.",
        ),
    ] = False,
) -> None:
    """Subjects, classes with window counts, duration, measured rate, channels and units, dropped windows."""
    from mujo_edge.channels import ChannelSelection
    from mujo_edge.config import WindowConfig
    from mujo_edge.data.prepare import prepare
    from mujo_edge.units import strict_units

    selection = ChannelSelection(placements=comma_list(placements), sensors=comma_list(sensors))
    config = WindowConfig(rate_hz=rate, length=length, step=step, max_gap_s=max_gap, min_purity=min_purity)
    # the checks run while files are read, so --strict reads them rather than trusting a cached result
    with strict_units(strict), progress_callback(f"reading {name}") as progress:
        cache = not (no_cache or strict)
        prepared = prepare(name, root, selection=selection, config=config, cache=cache, progress=progress)
    summary = prepared.summary
    gaps = prepared.windows.gaps
    mapping = _csv_mapping(name, Path(summary.root))
    if as_json:
        extra = {"mapping": mapping.to_dict() if mapping else None} if name == "csv" else {}
        console.print_json(json.dumps({**summary.to_dict(), "gaps": gaps, **extra}))
        return
    from mujo_edge.data.registry import get_loader

    titles = dict(get_loader(name).spec.class_titles)
    if name == "csv":
        from mujo_edge.data.texts import user_label_texts

        _print_mapping(mapping)
        titles = {label: text.primary for label, text in user_label_texts(Path(summary.root)).items()}
    _print_summary(summary, config, prepared.from_cache, titles, gaps)


def _csv_mapping(name: str, root: Path) -> CsvMapping | None:
    """The column mapping the csv loader used for `root` (None: the documented layout, or another loader)."""
    if name != "csv":
        return None
    from mujo_edge.data.csv_mapping import find_mapping

    return find_mapping(root)


def _print_mapping(mapping: CsvMapping | None) -> None:
    from rich.markup import escape
    from rich.table import Table

    from mujo_edge.data.csv_mapping import MAPPING_FILE

    if mapping is None:
        console.print(f"columns: the documented layout (no {MAPPING_FILE} next to the data)")
        return
    table = Table(title=f"column mapping ({escape(str(mapping.path))})", title_justify="left")
    table.add_column("column in the files")
    table.add_column("read as")
    for src, dst in mapping.describe():
        table.add_row(escape(src), escape(dst))  # `[g]`, `[a-z]` are text here, not rich markup
    console.print(table)


def _print_summary(
    summary: DatasetSummary, config: WindowConfig, from_cache: bool, titles: dict[str, str], gaps: int
) -> None:
    from rich.table import Table

    lo, med, hi = summary.native_rate_hz
    rate = f"{med:.1f} Hz" if abs(hi - lo) < 0.05 else f"{med:.1f} Hz (recordings {lo:.1f}-{hi:.1f})"
    src = Table(title=f"{summary.dataset}: source ({summary.root})", title_justify="left", show_header=False)
    src.add_column(style="bold")
    src.add_column()
    src.add_row("recordings", str(summary.recordings))
    src.add_row("subjects", f"{len(summary.subjects)}: {', '.join(summary.subjects)}")
    src.add_row("duration", human_duration(summary.duration_s))
    src.add_row("samples", f"{summary.samples:,}")
    src.add_row("measured native rate", rate)
    if summary.merged_duplicates:
        src.add_row("repeated timestamps merged", f"{summary.merged_duplicates:,}")
    if summary.too_short:
        src.add_row("recordings shorter than a window", str(summary.too_short))
    if gaps:
        src.add_row("gaps (jumps > --max-gap, never bridged)", f"{gaps:,}")
    console.print(src)

    ch = Table(title="channels", title_justify="left")
    for col in ("channel", "unit", "source unit"):
        ch.add_column(col)
    for n, u, su in zip(summary.channels, summary.units, summary.source_units):
        ch.add_row(n, u, su)
    console.print(ch)

    total = max(summary.windows, 1)
    win = Table(
        title=f"windows at {config.rate_hz:g} Hz: {config.length} samples ({config.window_s:g} s), "
        f"step {config.step}" + (" [dim](cached)[/]" if from_cache else ""),
        title_justify="left",
    )
    win.add_column("class")
    win.add_column("activity")
    win.add_column("windows", justify="right")
    win.add_column("share", justify="right")
    for cls, count in summary.class_windows.items():
        win.add_row(cls, titles.get(cls, ""), f"{count:,}", f"{100 * count / total:.1f} %")
    win.add_row("[bold]total kept[/]", "", f"[bold]{summary.windows:,}[/]", "")
    for reason, dropped in summary.dropped.items():
        win.add_row(f"[yellow]dropped: {reason}[/]", _DROP_REASONS.get(reason, ""), f"[yellow]{dropped:,}[/]", "")
    console.print(win)
    _print_subject_table(summary)


def _print_subject_table(summary: DatasetSummary) -> None:
    """Windows per subject (rows) and class (columns) with totals: what choosing folds and validation needs."""
    from rich.markup import escape
    from rich.table import Table

    table = summary.subject_class_windows
    if not table:
        return
    classes = list(summary.class_windows)
    per = Table(title="windows per subject and class (for choosing folds)", title_justify="left")
    per.add_column("subject")
    for cls in classes:
        per.add_column(escape(cls), justify="right")
    per.add_column("total", justify="right")
    for subject, row in table.items():
        cells = [f"{row.get(c, 0):,}" if row.get(c, 0) else "[red]0[/]" for c in classes]
        per.add_row(escape(subject), *cells, f"{sum(row.values()):,}")
    totals = [f"[bold]{sum(r.get(c, 0) for r in table.values()):,}[/]" for c in classes]
    per.add_row("[bold]total[/]", *totals, f"[bold]{sum(sum(r.values()) for r in table.values()):,}[/]")
    console.print(per)
