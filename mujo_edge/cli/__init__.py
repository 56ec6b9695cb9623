"""The `mujo-edge` command line: thin Typer apps that build a config, call the library and print with rich.

Heavy imports live inside the command functions so `mujo-edge --help` stays fast and never imports torch.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mujo_edge import __version__
from mujo_edge.cli.bench import app as bench_app
from mujo_edge.cli.console import err_console
from mujo_edge.cli.data import app as data_app
from mujo_edge.cli.demo import demo as demo_command
from mujo_edge.cli.emulate import emulate as emulate_command
from mujo_edge.cli.experiment import app as experiment_app
from mujo_edge.cli.export import export as export_command
from mujo_edge.cli.finetune import finetune as finetune_command
from mujo_edge.cli.live import devices as devices_command
from mujo_edge.cli.live import live as live_command
from mujo_edge.cli.live import replay as replay_command
from mujo_edge.cli.model import app as model_app
from mujo_edge.cli.pretrain import pretrain as pretrain_command
from mujo_edge.cli.runtime import bundle_app
from mujo_edge.cli.runtime import predict as predict_command
from mujo_edge.errors import MujoEdgeError

app = typer.Typer(
    name="mujo-edge",
    help="On-device wearable exercise recognition: data, pre-training, export, live BLE runtime.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_app, name="data")
app.add_typer(model_app, name="model")
app.command("pretrain")(pretrain_command)
app.command("finetune")(finetune_command)
app.add_typer(experiment_app, name="experiment")
app.command("export")(export_command)
app.command("predict")(predict_command)
app.add_typer(bundle_app, name="bundle")
app.add_typer(bench_app, name="bench")
app.command("demo")(demo_command)
app.command("emulate")(emulate_command)
app.command("devices")(devices_command)
app.command("live")(live_command)
app.command("replay")(replay_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mujo-edge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """mujo-edge: turn a wearable's accelerometer into live exercise recognition."""


def main() -> None:
    """Console entry point: a `MujoEdgeError` becomes one red line and exit code 1."""
    try:
        app(standalone_mode=True)
    except MujoEdgeError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
