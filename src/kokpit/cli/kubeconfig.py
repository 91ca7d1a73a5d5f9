"""Which kubeconfig reaches the hub: the one rule every command that talks to the hub follows."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from kokpit.errors import KokpitError

HUB_KUBECONFIG_ENV = "KOKPIT_KUBECONFIG"


def hub_kubeconfig(option: Path | None, *, environ: Mapping[str, str] | None = None) -> Path:
    """`hub_kubeconfig` returns the hub's kubeconfig: `option` (`--kubeconfig`), else `$KOKPIT_KUBECONFIG`,
    else the first entry of `$KUBECONFIG`.

    Raises `KokpitError` if none is given or the file does not exist. `environ` defaults to `os.environ`.
    """
    env = os.environ if environ is None else environ
    if option is not None:
        path, source = option, "--kubeconfig"
    elif env.get(HUB_KUBECONFIG_ENV):
        path, source = Path(env[HUB_KUBECONFIG_ENV]), f"${HUB_KUBECONFIG_ENV}"
    elif first := next((p for p in env.get("KUBECONFIG", "").split(os.pathsep) if p), None):
        path, source = Path(first), "$KUBECONFIG"
    else:
        raise KokpitError(
            f"no hub kubeconfig: pass --kubeconfig, or set ${HUB_KUBECONFIG_ENV} or $KUBECONFIG"
        )
    path = path.expanduser()
    if not path.is_file():
        raise KokpitError(f"hub kubeconfig {path} (from {source}) does not exist")
    return path
