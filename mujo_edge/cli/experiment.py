"""`mujo-edge experiment ...`: the paper's experiments on real data (results as CSV + markdown + figures)."""

from __future__ import annotations

from pathlib import Path

import typer

from mujo_edge.cli.console import console, progress_callback
from mujo_edge.cli.data import _csv_option

app = typer.Typer(help="Experiments: label efficiency (Table 1 / Figure 2).", no_args_is_help=True)


@app.command("label-efficiency")
def label_efficiency(
    target: str = typer.Option(..., "--target", help="Dataset to evaluate on (left out of every pre-training)."),
    out: Path = typer.Option(..., "--out", help="Results folder; an interrupted grid resumes from results.csv."),
    pretrained: list[str] = typer.Option([], "--pretrained", help="METHOD=CHECKPOINT, e.g. mujo=runs/w/best.pt, "
                                                                 "simclr=runs/s/best.pt; repeatable."),
    root: Path = typer.Option(None, "--root", help="Target dataset folder."),
    sensors: str = typer.Option("acc", "--sensors", help="Comma list: acc, gyro."),
    placements: str = typer.Option(None, "--placements", help="Comma list of placements."),
    fractions: str = typer.Option("1,2,5,10,20,50,100", "--fractions", help="Label percentages per class."),
    regimes: str = typer.Option("baseline,frozen,finetuned", "--regimes"),
    runs: int = typer.Option(20, "--runs", help="Repetitions per cell (fresh labels and initialisation)."),
    folds: int = typer.Option(5, "--folds", help="Subject-wise folds."),
    with_null: bool = typer.Option(False, "--null", help="Keep the NULL class (unlabelled / transitions)."),
    epochs: int = typer.Option(200, "--epochs"),
    patience: int = typer.Option(25, "--patience"),
    forest: bool = typer.Option(True, "--forest/--no-forest", help="Also run the feature + random-forest baseline."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Methods x regimes x label fractions x runs on subject-wise folds; writes results.csv, summary.md, boxplot.png."""
    from mujo_edge.channels import ChannelSelection
    from mujo_edge.data.prepare import prepare
    from mujo_edge.data.registry import get_loader
    from mujo_edge.training.experiments import (LabelEfficiencyGrid, methods_from, parse_fractions,
                                                run_label_efficiency)
    from mujo_edge.training.finetune import null_labels
    from mujo_edge.training.models import load_model_preset
    from mujo_edge.training.pretrain import load_checkpoint

    grid = LabelEfficiencyGrid(target=target, fractions=parse_fractions(fractions),
                               regimes=tuple(_csv_option(regimes) or ()), runs=runs, folds=folds, epochs=epochs,
                               patience=patience, forest=forest, seed=seed)
    checkpoints = {name: load_checkpoint(path) for name, path in methods_from(pretrained).items()}
    spec = get_loader(target).spec
    windows = prepare(target, root, selection=ChannelSelection(placements=_csv_option(placements),
                                                               sensors=_csv_option(sensors))).windows
    windows = null_labels(windows, spec.null_classes, with_null)
    arch = None if checkpoints else load_model_preset("wrist").arch
    with progress_callback(f"label efficiency on {target}") as progress:
        path = run_label_efficiency(windows, grid, checkpoints, out, arch=arch, progress=progress)
    console.print((out / "summary.md").read_text(), markup=False, highlight=False)
    console.print(f"results: {path}; figure: {out / 'boxplot.png'}")
