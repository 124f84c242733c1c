"""Entry point of the ``coe`` command."""

from __future__ import annotations

from typing import Annotated

import typer

from coe import __version__
from coe.cli import arena as arena_cmd
from coe.cli import bench as bench_cmd
from coe.cli import kb as kb_cmd
from coe.cli import keys as keys_cmd
from coe.cli import models as models_cmd
from coe.cli import runs as runs_cmd
from coe.cli.ask import ask
from coe.cli.common import state
from coe.cli.doctor import doctor
from coe.cli.route import route
from coe.cli.serve import serve

app = typer.Typer(name="coe", help="CoE — Collaboration of Experts: many LLMs answering together.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _version(value: bool) -> None:
    if value:
        print(f"coe {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    config: Annotated[str | None, typer.Option("--config", "-c", envvar="COE_CONFIG",
                                               help="Config file (TOML). Default: ./coe.toml")] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    state.config = config


app.command()(ask)
app.command()(doctor)
app.command(context_settings={"allow_interspersed_args": True})(route)
app.add_typer(models_cmd.app, name="models")
app.add_typer(runs_cmd.app, name="runs")
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(arena_cmd.app, name="arena")
app.add_typer(kb_cmd.app, name="kb")
app.add_typer(bench_cmd.app, name="bench")
app.command()(serve)


def main() -> None:
    app()
