"""Pull mode end to end: a sandbox of its own with member2 behind a firewall, registered by token.

    pull_fleet   kokpit sandbox up --members 2 --pull member2 (this package's own sandbox); kokpit
                 installed on the hub, member1 joined as a Push member (`kokpit join`), member2
                 registered by its agent (`kokpit token create` + `kokpit register`, as a user does)
    hub          the hub controllers in this process (a `RestartableHub`: tests stop and start it),
                 with the proxy and tunnel on the address member2 can reach; member2 Ready

The agent is the sandbox's `kokpit-agent` process in member2's namespace, killed and restarted
through the sandbox like any component. Needs root (network namespaces, a firewall).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kokpit.sandbox import UpOptions
from kokpit.settings import HubSettings
from tests.support import HubThread, SandboxHandle, joined_sandbox, kubectl, wait_until

PUSH = "member1"
PULL = "member2"
LEASE_DURATION = 6.0
"""The agent's Lease (seconds): short, so a dead agent shows within the tests' patience."""
CERT_TTL = "10m"
"""The agent's certificates: the shortest validity the hub signs (15 minutes from the signer's
5-minute backdating)."""
RENEW_FRACTION = 0.45
"""Renewal at 45 % of the validity, i.e. under two minutes after each certificate is issued (the
first third has passed at issuance, by the backdating): the agent renews again and again while the
other tests run, and the renewal test waits for the next one."""
NO_EXECUTE_GRACE = 5.0
PROBE_PERIOD = 1.0
TIMEOUT = 120.0
CLUSTERS = "clusters.cluster.kokpit.io"


class RestartableHub:
    """The hub controllers (every domain, the proxy and the tunnel endpoint) in a thread of this
    process, which a test may stop and start again as a hub restart."""

    def __init__(self, fleet: SandboxHandle, state_dir: Path) -> None:
        self.fleet = fleet
        self.settings = HubSettings(
            state_dir=state_dir,
            probe_period=PROBE_PERIOD,
            no_execute_grace=NO_EXECUTE_GRACE,
            proxy_address=f"{fleet.hub_address}:0",
        )
        self.thread: HubThread | None = None

    def start(self) -> RestartableHub:
        assert self.thread is None
        self.thread = HubThread(self.fleet.kubeconfig("hub"), settings=self.settings).start()
        return self

    def stop(self) -> None:
        if self.thread is not None:
            thread, self.thread = self.thread, None
            thread.stop()

    def restart(self) -> None:
        self.stop()
        self.start()

    def proxy_url(self) -> str | None:
        """The proxy's URL as the hub publishes it (`kube-public/kokpit-hub-endpoints`)."""
        got = kubectl(
            self.fleet.kubeconfig("hub"),
            "-n",
            "kube-public",
            "get",
            "configmap",
            "kokpit-hub-endpoints",
            "-o",
            "jsonpath={.data.proxyURL}",
            check=False,
        )
        return got.stdout.strip() or None


@pytest.fixture(scope="package")
def pull_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    if os.geteuid() != 0:
        pytest.skip("a Pull member needs root (network namespaces, a firewall)")
    directory = tmp_path_factory.mktemp("pull-fleet")
    options = UpOptions(
        members=2,
        nodes=2,
        pull=(PULL,),
        agent_lease_duration=LEASE_DURATION,
        agent_cert_ttl=CERT_TTL,
        agent_renew_fraction=RENEW_FRACTION,
        tie_to_parent=True,
    )
    with joined_sandbox(directory, options) as handle:
        yield handle


@pytest.fixture(scope="package")
def hub(pull_fleet: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableHub]:
    """The hub controllers, running once member2 registered and is Ready and the proxy published."""
    running = RestartableHub(pull_fleet, tmp_path_factory.mktemp("hub-state")).start()
    try:
        wait_until("member2 registered and Ready", lambda: is_ready(pull_fleet), timeout=TIMEOUT)
        wait_until("the proxy published", lambda: running.proxy_url() is not None, timeout=60)
        yield running
    finally:
        running.stop()


# --- reading the fleet ------------------------------------------------------------------------------


def get(kubeconfig: Path, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
    args = ["get", resource, name, "-o", "json", "--ignore-not-found"]
    if namespace:
        args += ["-n", namespace]
    out = kubectl(kubeconfig, *args).stdout.strip()
    return json.loads(out) if out else None


def get_on(
    fleet: SandboxHandle, cluster: str, resource: str, name: str, namespace: str
) -> dict[str, Any] | None:
    """An object on a member, read from where the member is reachable (a Pull member's namespace);
    None when it is not there (or its kind is not known there yet)."""
    out = fleet.kubectl(
        cluster, "get", resource, name, "-n", namespace, "-o", "json", "--ignore-not-found", check=False
    )
    return json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else None


def apply(kubeconfig: Path, directory: Path, *docs: dict[str, Any]) -> None:
    path = directory / f"{uuid.uuid4().hex}.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    kubectl(kubeconfig, "apply", "-f", str(path))


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item["type"] == type_:
            return dict(item)
    return {}


def taints(obj: dict[str, Any] | None) -> set[str]:
    return {
        f"{t['key']}:{t['effect']}"
        for t in ((obj or {}).get("spec") or {}).get("taints") or []
        if t["key"].startswith("cluster.kokpit.io/")
    }


def pull_cluster(fleet: SandboxHandle) -> dict[str, Any] | None:
    return get(fleet.kubeconfig("hub"), CLUSTERS, PULL)


def is_ready(fleet: SandboxHandle, name: str = PULL) -> bool:
    found = get(fleet.kubeconfig("hub"), CLUSTERS, name)
    return condition(found, "Ready").get("status") == "True" and not taints(found)
