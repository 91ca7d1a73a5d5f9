"""Kubeconfigs handed to `kokpit join`: one context picked, made self-contained, errors said plainly.

The hub keeps a member's kubeconfig in a Secret and uses it from another machine, so every file the
kubeconfig points to (CA, client certificate and key) is read and embedded as `*-data`, and only the
chosen context is kept.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from kokpit.errors import KokpitError

_FILE_FIELDS = {
    "cluster": (("certificate-authority", "certificate-authority-data"),),
    "user": (("client-certificate", "client-certificate-data"), ("client-key", "client-key-data")),
}


class KubeconfigError(KokpitError):
    """A kubeconfig that cannot be used, with the reason in one line."""


CREDENTIAL_PLUGINS = ("exec", "auth-provider")
"""User fields that make the client run a program (or a provider's plugin) to get credentials."""


def refuse_credential_plugins(config: dict[str, Any], *, source: str) -> None:
    """Refuses a kubeconfig whose users run credential plugins: the hub would run them.

    Pure. `exec` (and the older `auth-provider`) make whoever uses the kubeconfig execute a program
    named in it; a kubeconfig stored for the hub would so run arbitrary programs on the hub. Only a
    hub started with `--allow-exec-credentials` accepts them (the caller then skips this check).
    """
    for entry in config.get("users") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("user"), dict):
            continue
        for plugin in CREDENTIAL_PLUGINS:
            if entry["user"].get(plugin):
                raise KubeconfigError(
                    f"user {entry.get('name')!r} of {source} uses an {plugin} credential plugin, which "
                    "would run a program on the hub; use a token or client certificate, or allow it with "
                    "--allow-exec-credentials on both kokpit join and kokpit hub run"
                )


def read_kubeconfig(path: Path) -> dict[str, Any]:
    """Parses the kubeconfig at `path`; a missing or malformed file is a KubeconfigError."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as error:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(loaded, dict) or not loaded.get("contexts") or not loaded.get("clusters"):
        raise KubeconfigError(f"kubeconfig {path} has no clusters or contexts")
    return loaded


def _named(config: dict[str, Any], section: str, name: str, *, path: Path) -> dict[str, Any]:
    for entry in config.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(section.rstrip("s"))
            if isinstance(body, dict):
                return body
    raise KubeconfigError(f"kubeconfig {path} has no {section.rstrip('s')} named {name!r}")


def flatten(config: dict[str, Any], *, path: Path, context: str | None = None) -> dict[str, Any]:
    """A kubeconfig with only `context` (default: the current one), every file embedded.

    Relative file paths are resolved against the kubeconfig's directory, as kubectl does.
    """
    names = [entry.get("name") for entry in config.get("contexts") or [] if isinstance(entry, dict)]
    chosen = context or config.get("current-context")
    if not chosen:
        raise KubeconfigError(f"kubeconfig {path} has no current-context; pick one with --context")
    if chosen not in names:
        raise KubeconfigError(f"context {chosen!r} not found in {path} (have: {', '.join(map(str, names))})")
    ctx = _named(config, "contexts", chosen, path=path)
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    cluster = dict(_named(config, "clusters", str(cluster_name), path=path))
    user = dict(_named(config, "users", str(user_name), path=path)) if user_name else {}
    if not cluster.get("server"):
        raise KubeconfigError(f"cluster {cluster_name!r} in {path} has no server")
    for section, body in (("cluster", cluster), ("user", user)):
        for file_field, data_field in _FILE_FIELDS[section]:
            file_name = body.pop(file_field, None)
            if file_name and not body.get(data_field):
                file_path = Path(file_name)
                if not file_path.is_absolute():
                    file_path = path.parent / file_path
                try:
                    body[data_field] = base64.b64encode(file_path.read_bytes()).decode()
                except OSError as error:
                    raise KubeconfigError(
                        f"{file_field} {file_path} of kubeconfig {path} cannot be read: {error.strerror}"
                    ) from None
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": str(cluster_name), "cluster": cluster}],
        "users": [{"name": str(user_name or "user"), "user": user}],
        "contexts": [
            {
                "name": chosen,
                "context": {
                    "cluster": str(cluster_name),
                    "user": str(user_name or "user"),
                    **({"namespace": ctx["namespace"]} if ctx.get("namespace") else {}),
                },
            }
        ],
        "current-context": chosen,
    }


def server_of(flat: dict[str, Any]) -> str:
    """The API server URL of a flattened kubeconfig."""
    return str(flat["clusters"][0]["cluster"]["server"])


def user_of(flat: dict[str, Any]) -> str:
    return str(flat["users"][0]["name"])
