"""How the CLI turns expected failures into one line on stderr and a non-zero exit.

`run_app` is the one place: every command raises `KokpitError` (or lets the client library's
connection, refusal, configuration and YAML errors through) and the user sees `kokpit: error: ...`
on a single line. A traceback means a bug in kokpit, never bad input.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import httpx2
import typer
import yaml
from lightkube import ApiError, ConfigError
from pydantic import ValidationError

from kokpit.cli.yamlfiles import yaml_error_line
from kokpit.errors import KokpitError, validation_message

EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    KokpitError,
    httpx2.HTTPError,
    ApiError,
    ConfigError,
    yaml.YAMLError,
    ValidationError,
    OSError,
)
"""What bad input or an unreachable server raises; anything else is a bug and keeps its traceback."""


def fail(message: str, *, code: int = 1) -> NoReturn:
    """Prints `kokpit: error: <message>` on stderr and exits with `code`."""
    typer.echo(f"kokpit: error: {one_line(message)}", err=True)
    raise typer.Exit(code)


def one_line(message: str) -> str:
    """`one_line` folds a message onto one line (lines joined by spaces, blank ones dropped); pure."""
    return " ".join(line.strip() for line in message.splitlines() if line.strip())


def error_message(error: BaseException) -> str:
    """`error_message` is what the user reads for one of `EXPECTED_ERRORS`, on one line; pure."""
    if isinstance(error, httpx2.TransportError):
        message = f"cannot reach {_server(error)}: {error or type(error).__name__}"
    elif isinstance(error, httpx2.HTTPStatusError):
        message = f"the API server answered {error.response.status_code} for {error.request.url.path}"
    elif isinstance(error, ApiError):
        message = f"the API server refused: {error.status.message} ({error.status.code})"
    elif isinstance(error, yaml.YAMLError):
        message = yaml_error_line(error)
    elif isinstance(error, ValidationError):
        message = validation_message(error)
    elif isinstance(error, OSError) and error.strerror:
        message = f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    else:
        message = str(error) or type(error).__name__
    return one_line(message)


def _server(error: httpx2.TransportError) -> str:
    try:
        url = error.request.url
    except RuntimeError:  # raised before any request was made
        return "the API server"
    return f"{url.scheme}://{url.netloc.decode()}"


def run_app(app: typer.Typer) -> None:
    """Runs `app`; an expected failure (`EXPECTED_ERRORS`) becomes one error line and exit code 1."""
    try:
        app(standalone_mode=True)
    except EXPECTED_ERRORS as error:
        typer.echo(f"kokpit: error: {error_message(error)}", err=True)
        sys.exit(1)
