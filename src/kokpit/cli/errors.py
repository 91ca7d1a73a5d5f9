"""How the CLI turns expected failures into one line and a non-zero exit."""

from __future__ import annotations

import sys
from typing import NoReturn

import httpx2
import typer
from lightkube import ApiError

from kokpit.errors import KokpitError


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Prints `kokpit: error: <message>` on stderr and exits with `code`."""
    typer.echo(f"kokpit: error: {message}", err=True)
    raise typer.Exit(code)


def run_app(app: typer.Typer) -> None:
    """Runs `app`; a `KokpitError`, an unreachable API server or a refusal becomes one error line."""
    try:
        app(standalone_mode=True)
    except KokpitError as error:
        _exit_with(str(error))
    except httpx2.TransportError as error:
        url = getattr(getattr(error, "request", None), "url", None)
        where = f"{url.scheme}://{url.netloc.decode()}" if url is not None else "the API server"
        _exit_with(f"cannot reach {where}: {error or type(error).__name__}")
    except ApiError as error:
        _exit_with(f"the API server refused: {error.status.message} ({error.status.code})")


def _exit_with(message: str) -> None:
    typer.echo(f"kokpit: error: {message}", err=True)
    sys.exit(1)
