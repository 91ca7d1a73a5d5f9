"""Which kubeconfig reaches the hub, and the one loader every command that talks to the hub uses.

The hub's kubeconfig is `--hub-kubeconfig` on every command (`kokpit join NAME --kubeconfig FILE`
takes the *member's* kubeconfig, so the hub needs its own name). Where it cannot be confused with a
member's, `--kubeconfig` is accepted too, as a hidden alias: older scripts keep working, and `--help`
shows one name. The two are separate options on purpose: that way an error can name the flag the
user actually typed (or the environment variable the path came from).

A kubeconfig that cannot be used (missing, a directory, empty, not YAML, the wrong shape, an unknown
context, a missing user) is a `KokpitError` naming the file, where it came from and the reason, so
the CLI prints one line instead of a traceback from deep inside the client library.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from lightkube import AsyncClient, KubeConfig

from kokpit.cli.yamlfiles import yaml_error_line
from kokpit.errors import KokpitError

HUB_KUBECONFIG_ENV = "KOKPIT_KUBECONFIG"
HUB_FLAG = "--hub-kubeconfig"
HUB_ALIAS = "--kubeconfig"

HubOption = Annotated[
    Path | None,
    typer.Option(
        HUB_FLAG,
        help=f"Hub kubeconfig (default: ${HUB_KUBECONFIG_ENV}, then $KUBECONFIG).",
        show_default=False,
    ),
]
"""The hub's kubeconfig, on every command that talks to the hub."""

HubAliasOption = Annotated[Path | None, typer.Option(HUB_ALIAS, hidden=True, show_default=False)]
"""`--kubeconfig` as a hidden alias of `--hub-kubeconfig` (not on `join`, where it is the member's)."""


@dataclass(frozen=True)
class HubChoice:
    """The hub kubeconfig given on the command line (or None) and the flag it was given with."""

    path: Path | None = None
    flag: str = HUB_FLAG


def hub_choice(primary: Path | None, alias: Path | None = None) -> HubChoice:
    """`hub_choice` merges `--hub-kubeconfig` and its hidden alias `--kubeconfig`; pure.

    Giving both with different files is refused: silently preferring one would surprise someone.
    """
    if primary is not None and alias is not None and primary != alias:
        raise KokpitError(f"give {HUB_FLAG} or {HUB_ALIAS}, not both ({primary} and {alias})")
    if primary is not None:
        return HubChoice(primary, HUB_FLAG)
    if alias is not None:
        return HubChoice(alias, HUB_ALIAS)
    return HubChoice()


def resolve_hub_kubeconfig(
    choice: HubChoice | Path | None, *, environ: Mapping[str, str]
) -> tuple[Path, str]:
    """`resolve_hub_kubeconfig` picks the hub kubeconfig and says where it came from; pure.

    The command-line flag, else `$KOKPIT_KUBECONFIG`, else the first entry of `$KUBECONFIG`. Returns
    the path (`~` expanded) and its source (`--hub-kubeconfig`, `--kubeconfig`, `$KOKPIT_KUBECONFIG` or
    `$KUBECONFIG`); raises `KokpitError` when none is given. The file itself is not looked at.
    """
    if not isinstance(choice, HubChoice):
        choice = HubChoice(choice)
    if choice.path is not None:
        path, source = choice.path, choice.flag
    elif environ.get(HUB_KUBECONFIG_ENV):
        path, source = Path(environ[HUB_KUBECONFIG_ENV]), f"${HUB_KUBECONFIG_ENV}"
    elif first := next((p for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p), None):
        path, source = Path(first), "$KUBECONFIG"
    else:
        raise KokpitError(f"no hub kubeconfig: pass {HUB_FLAG}, or set ${HUB_KUBECONFIG_ENV} or $KUBECONFIG")
    return path.expanduser(), source


def hub_kubeconfig(choice: HubChoice | Path | None, *, environ: Mapping[str, str] | None = None) -> Path:
    """`hub_kubeconfig` is the path of the hub kubeconfig (see `resolve_hub_kubeconfig`), checked to
    be a readable file. `environ` defaults to `os.environ`."""
    path, source = resolve_hub_kubeconfig(choice, environ=os.environ if environ is None else environ)
    if not path.exists():
        raise KokpitError(f"hub kubeconfig {path} (from {source}) does not exist")
    if not path.is_file():
        raise KokpitError(f"hub kubeconfig {path} (from {source}) is not a file")
    return path


def _entries(config: Mapping[str, Any], section: str) -> dict[str, Mapping[str, Any]]:
    """The named entries of `clusters`, `contexts` or `users`, by name; raises on the wrong shape."""
    items = config.get(section)
    if items is None:
        return {}
    if not isinstance(items, list):
        raise ValueError(f"{section} must be a list, not {type(items).__name__}")
    key = section.removesuffix("s")
    out: dict[str, Mapping[str, Any]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or not item.get("name"):
            raise ValueError(f"{section}[{index}] must be a mapping with a name")
        body = item.get(key)
        if not isinstance(body, Mapping):
            raise ValueError(f"{key} {item['name']!r} must have a {key} mapping")
        out[str(item["name"])] = body
    return out


def kubeconfig_problem(config: object) -> str | None:
    """`kubeconfig_problem` says why `config` (a parsed kubeconfig) cannot reach a server, or None; pure.

    It checks what the client library would otherwise trip over with a traceback: the document is a
    mapping, `current-context` names a context, which names a cluster with a server and a user that
    exist, each entry the right shape.
    """
    if config is None:
        return "it is empty"
    if not isinstance(config, Mapping):
        return f"expected a mapping, got {type(config).__name__}"
    try:
        clusters, contexts, users = (_entries(config, s) for s in ("clusters", "contexts", "users"))
    except ValueError as error:
        return str(error)
    current = config.get("current-context")
    if not current:
        return "it has no current-context"
    if str(current) not in contexts:
        have = ", ".join(contexts) or "none"
        return f"current-context {current!r} is not among its contexts (have: {have})"
    context = contexts[str(current)]
    cluster_name, user_name = context.get("cluster"), context.get("user")
    if not cluster_name or str(cluster_name) not in clusters:
        return f"context {current!r} names cluster {cluster_name!r}, which is not among its clusters"
    server = clusters[str(cluster_name)].get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        return f"cluster {cluster_name!r} has no http(s) server (got {server!r})"
    if not user_name or str(user_name) not in users:
        return f"context {current!r} names user {user_name!r}, which is not among its users"
    return None


def load_hub_config(
    choice: HubChoice | Path | None, *, environ: Mapping[str, str] | None = None
) -> KubeConfig:
    """`load_hub_config` reads, checks and parses the hub kubeconfig; any problem is one `KokpitError`."""
    path, source = resolve_hub_kubeconfig(choice, environ=os.environ if environ is None else environ)
    where = f"hub kubeconfig {path} (from {source})"
    if not path.exists():
        raise KokpitError(f"{where} does not exist")
    if not path.is_file():
        raise KokpitError(f"{where} is not a file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise KokpitError(f"cannot read {where}: {getattr(error, 'strerror', None) or error}") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise KokpitError(f"{where} is not valid YAML: {yaml_error_line(error, path=path)}") from None
    problem = kubeconfig_problem(loaded)
    if problem is not None:
        raise KokpitError(f"{where} cannot be used: {problem}")
    try:
        return KubeConfig.from_dict(loaded, fname=path)
    except Exception as error:  # whatever the library trips over is the file's fault
        raise KokpitError(f"{where} cannot be used: {error or type(error).__name__}") from None


def hub_client(
    choice: HubChoice | Path | None,
    *,
    field_manager: str = "kokpit",
    environ: Mapping[str, str] | None = None,
) -> AsyncClient:
    """`hub_client` is a client of the hub from `load_hub_config`; proxies from the environment ignored."""
    config = load_hub_config(choice, environ=environ)
    try:
        return AsyncClient(config, field_manager=field_manager, trust_env=False)
    except Exception as error:  # e.g. an unreadable CA or key file named in it
        path, source = resolve_hub_kubeconfig(choice, environ=os.environ if environ is None else environ)
        raise KokpitError(
            f"hub kubeconfig {path} (from {source}) cannot be used: {error or type(error).__name__}"
        ) from None
