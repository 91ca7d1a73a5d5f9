"""How the hosted-cluster controller runs control planes (`HostedSettings`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from lightkube import AsyncClient

from kokpit.api.cluster import SECRET_NAMESPACE
from kokpit.binaries import BinarySet, find_binaries
from kokpit.hosted import plan
from kokpit.hosted.versions import SupportedVersions, load_supported


def default_process_root() -> Path:
    """Where the process runtime keeps control planes unless told otherwise."""
    return Path.home() / ".local" / "state" / "kokpit" / "hosted"


@dataclass
class HostedSettings:
    """How the hosted-cluster controller runs control planes."""

    process_root: Path = field(default_factory=default_process_root)
    """Root of the control-plane component directories (process runtime)."""
    resync_seconds: float = 2.0
    """How often a steady cluster is looked at again (how fast a dead component is noticed)."""
    busy_seconds: float = 0.5
    """How soon a cluster on its way somewhere is looked at again."""
    tie_to_parent: bool = False
    """Tie component processes to this process (tests, foreground runs)."""
    restart: plan.RestartPolicy = field(default_factory=plan.RestartPolicy)
    upgrade_timeout: float = 120.0
    """Seconds an upgraded component may stay unhealthy before the upgrade is reported stalled."""
    binaries: Callable[[str], BinarySet] = find_binaries
    versions: Callable[[], SupportedVersions] = load_supported
    addon_namespace: str = SECRET_NAMESPACE
    """Hub namespace holding imported addon definitions."""
    meta_clients: Callable[[str], Awaitable[AsyncClient | None]] | None = None
    """The client of a meta cluster by member name (kubernetes runtime); `setup_hosted` fills it with
    the manager's shared member clients when unset."""
