"""`sandbox.json`: what a running sandbox is made of, so that other commands can find it again.

`kokpit sandbox up` returns while its processes keep running; `status`, `restart` and `down` are
separate invocations (or a test fixture) that learn the clusters, endpoints, pids, ports and logs
from this file alone.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "sandbox.json"
FORMAT_VERSION = 1


@dataclass
class ComponentState:
    """One supervised process: a control-plane component of one cluster."""

    name: str
    pid: int
    argv: list[str]
    log: str
    ports: dict[str, int]
    version: str
    health_url: str | None = None
    started_at: float = 0.0


@dataclass
class PullLink:
    """Where a Pull member runs: its network namespace, the root side of its veth, its address."""

    netns: str
    veth: str
    address: str

    @property
    def netns_path(self) -> str:
        return f"/run/netns/{self.netns}"


@dataclass
class PullNetworkState:
    """The bridge a sandbox's Pull members hang on; the hub API server listens on `gateway`."""

    slot: int
    bridge: str
    gateway: str
    prefixlen: int


@dataclass
class ClusterState:
    """One cluster of the sandbox: the hub or a member (`pull` set: behind a firewall)."""

    name: str
    role: str  # "hub" | "member"
    endpoint: str
    kubeconfig: str
    region: str | None = None
    zone: str | None = None
    provider: str | None = None
    nodes: list[str] = field(default_factory=list)
    components: dict[str, ComponentState] = field(default_factory=dict)
    pull: PullLink | None = None

    @property
    def netns_path(self) -> str | None:
        """The network namespace its processes run in; None for the root namespace."""
        return self.pull.netns_path if self.pull is not None else None


@dataclass
class SandboxState:
    """The whole sandbox, as written to `DIR/sandbox.json`."""

    dir: str
    kubernetes_version: str
    clusters: dict[str, ClusterState] = field(default_factory=dict)
    pull_network: PullNetworkState | None = None
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SandboxState:
        raw: dict[str, Any] = json.loads(text)
        clusters = {}
        for name, cluster in raw.get("clusters", {}).items():
            components = {
                component_name: ComponentState(**component)
                for component_name, component in cluster.pop("components", {}).items()
            }
            pull = cluster.pop("pull", None)
            clusters[name] = ClusterState(
                **cluster, components=components, pull=PullLink(**pull) if pull else None
            )
        network = raw.get("pull_network")
        return cls(
            dir=raw["dir"],
            kubernetes_version=raw["kubernetes_version"],
            clusters=clusters,
            pull_network=PullNetworkState(**network) if network else None,
            format_version=raw.get("format_version", FORMAT_VERSION),
        )

    @property
    def members(self) -> list[ClusterState]:
        return [cluster for cluster in self.clusters.values() if cluster.role == "member"]

    @property
    def pull_members(self) -> list[ClusterState]:
        return [cluster for cluster in self.members if cluster.pull is not None]

    def all_components(self) -> list[tuple[ClusterState, ComponentState]]:
        return [
            (cluster, component)
            for cluster in self.clusters.values()
            for component in cluster.components.values()
        ]


def read_state(directory: Path) -> SandboxState | None:
    """The sandbox state in `directory`, or None when there is none."""
    path = directory / STATE_FILE
    if not path.exists():
        return None
    return SandboxState.from_json(path.read_text())


def write_state(directory: Path, state: SandboxState) -> None:
    """Writes the state atomically, so a crash never leaves half a file for `down` to trip over."""
    path = directory / STATE_FILE
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(state.to_json())
    os.replace(tmp, path)


def remove_state(directory: Path) -> None:
    (directory / STATE_FILE).unlink(missing_ok=True)
