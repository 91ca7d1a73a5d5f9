"""How the CLI turns expected failures into one line and a non-zero exit."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from kokpit.errors import KokpitError


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Prints `kokpit: error: <message>` on stderr and exits with `code`."""
    typer.echo(f"kokpit: error: {message}", err=True)
    raise typer.Exit(code)


def run_app(app: typer.Typer) -> None:
    """Runs `app`, mapping any `KokpitError` escaping a command to `fail`."""
    try:
        app(standalone_mode=True)
    except KokpitError as error:
        typer.echo(f"kokpit: error: {error}", err=True)
        sys.exit(1)
