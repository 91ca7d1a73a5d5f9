"""What the hub process was told at start: one settings object that every domain's `setup` reads.

Plain values only (no domain types), so this module sits below every domain; each domain turns the
part it needs into its own settings in its `setup(manager, settings)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


def default_state_dir() -> Path:
    return Path.cwd() / ".kokpit" / "hub"


@dataclass(frozen=True)
class HubSettings:
    """How the hub's controllers run; `kokpit hub run` fills it from its flags."""

    hub: str = "hub"
    """The manager's name for the hub cluster (registered before any domain is set up)."""
    controller_id: str | None = None
    """A Component controller group: only Components labelled `apps.kokpit.io/controller-id` with it,
    and nothing else; None: the default group, every domain and the unlabelled Components."""
    state_dir: Path = field(default_factory=default_state_dir)
    """Where process-runtime components (etcd members, control planes) and backups live."""
    tie_to_parent: bool = True
    """Process-runtime components live and die with the hub process that started them."""
    allow_exec_credentials: bool = False
    """Whether member kubeconfigs may name exec credential plugins (programs run on the hub)."""
    probe_period: float = 10.0
    """Seconds between health probes of one member."""
    probe_timeout: float = 5.0
    failure_threshold: int = 2
    """Failed probes in a row before a member is reported not ready."""
    success_threshold: int = 1
    """Successful probes in a row before it is reported ready again."""
    no_execute_grace: float = 60.0
    """Seconds a member stays unhealthy before the NoExecute taint joins the NoSchedule one."""
    summary_period: float = 30.0
    """Seconds between refreshes of a member's version, APIs, nodes and capacity."""

    # -- the proxy into members and the agents' tunnel endpoint --
    proxy_address: str | None = None
    """HOST:PORT the proxy and tunnel endpoint listen on (port 0: any free one); None: not served."""
    proxy_url: str | None = None
    """The https URL clients and agents dial, when not https://HOST:PORT of `proxy_address` (a
    wildcard address, a name, a NAT); its host goes into the serving certificate."""

    # -- kokpit's admission (and later conversion) webhooks --
    webhook_address: str | None = None
    """HOST:PORT the webhooks listen on (port 0: any free one); None: not served nor registered."""
    webhook_url: str | None = None
    """The https URL the hub API server dials, when not https://HOST:PORT of `webhook_address`."""

    @property
    def etcd_root(self) -> Path:
        """The only directory etcd data directories of the process runtime may live under."""
        return self.state_dir / "etcd"

    @property
    def backup_root(self) -> Path:
        return self.state_dir / "backups"

    @property
    def controlplane_root(self) -> Path:
        return self.state_dir / "controlplanes"
