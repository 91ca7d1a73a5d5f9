"""Shards: `kokpit hub run --shards` replicas share delivery, one writer per member at any time.

Two replicas run as real processes on a sandbox of this module's own (three members): each member's
assignment Lease is held by the shard rendezvous hashing names, only that shard's requests that can
change something reach the member (`kokpit_api_requests_total{cluster="member/<name>"}` of each
replica, every method but GET), a SIGKILLed shard's members go to the survivor, which then delivers
an edit everywhere, and a shard joining takes its share back.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kokpit.api.cluster import SECRET_NAMESPACE
from kokpit.controlplane import processes
from kokpit.fleet.names import member_client_name
from kokpit.hub.manager import LEASE_NAME
from kokpit.runtime.shards import owner
from kokpit.sandbox import UpOptions
from tests.integration.fleet.conftest import HubReplica, start_hub
from tests.support import SandboxHandle, joined_sandbox, kubectl, kubectl_apply, wait_until

pytestmark = pytest.mark.integration

MEMBERS = ("member1", "member2", "member3")
COUNT = 6
LEASE_DURATION = 6.0
TIMEOUT = 120.0


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """A hub and three members for this module alone (the write counts are per member)."""
    options = UpOptions(members=3, nodes=1, tie_to_parent=True)
    with joined_sandbox(tmp_path_factory.mktemp("shards"), options) as handle:
        yield handle


def shard(name: str, hub: Path, logs: Path) -> HubReplica:
    return start_hub(
        name,
        hub=hub,
        logs=logs,
        extra=("--shards", f"--lease-duration={LEASE_DURATION}", f"--state-dir={logs / name}"),
    )


def holders(hub: Path) -> dict[str, str]:
    """Member -> the shard holding its assignment Lease (members not held are left out)."""
    out = kubectl(hub, "get", "leases", "-n", SECRET_NAMESPACE, "-o", "json").stdout
    prefix = f"{LEASE_NAME}-member-"
    found = {}
    for lease in json.loads(out)["items"]:
        name, holder = lease["metadata"]["name"], (lease.get("spec") or {}).get("holderIdentity")
        if name.startswith(prefix) and holder:
            found[name.removeprefix(prefix)] = holder
    return found


def expected(shards: list[str]) -> dict[str, str]:
    return {member: str(owner(member, shards)) for member in MEMBERS}


def writes(replica: HubReplica, member: str) -> float:
    cluster = f'cluster="{member_client_name(member)}"'
    return sum(
        value
        for key, value in replica.metrics().items()
        if key.startswith("kokpit_api_requests_total{") and cluster in key and 'method="GET"' not in key
    )


def templates(ns: str, greeting: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "policy.kokpit.io/v1alpha1",
            "kind": "PropagationPolicy",
            "metadata": {"name": "everywhere", "namespace": ns},
            "spec": {
                "resourceSelectors": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "labelSelector": {"matchLabels": {"app": "x"}}}
                ],
                "placement": {"clusterAffinity": {"clusterNames": list(MEMBERS)}},
            },
        }
    ]
    for i in range(COUNT):
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"app-{i}", "namespace": ns, "labels": {"app": "x"}},
                "data": {"GREETING": greeting},
            }
        )
    return docs


def delivered(fleet: SandboxHandle, ns: str, greeting: str) -> bool:
    for member in MEMBERS:
        out = kubectl(fleet.kubeconfig(member), "get", "configmaps", "-n", ns, "-o", "json", check=False)
        if out.returncode != 0:
            return False
        found = [c for c in json.loads(out.stdout)["items"] if c["metadata"]["name"].startswith("app-")]
        if len(found) != COUNT or any(c["data"].get("GREETING") != greeting for c in found):
            return False
    return True


def test_shards_share_the_members_hand_a_dead_shards_members_over_and_rebalance_when_one_joins(
    fleet: SandboxHandle, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    hub = fleet.kubeconfig("hub")
    logs = tmp_path_factory.mktemp("shard-logs")
    ns = f"shards-{uuid.uuid4().hex[:6]}"
    kubectl_apply(hub, tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    names = ["shard-a", "shard-b"]
    assert len(set(expected(names).values())) == 2, "the test wants both shards to own members"
    replicas = {name: shard(name, hub, logs) for name in names}
    try:
        wait_until("each member held by its shard", lambda: holders(hub) == expected(names), timeout=TIMEOUT)
        kubectl_apply(hub, tmp_path, *templates(ns, "hello"))
        wait_until("every ConfigMap on every member", lambda: delivered(fleet, ns, "hello"), timeout=TIMEOUT)
        for member, holder in expected(names).items():
            for name, replica in replicas.items():
                count = writes(replica, member)
                print(f"{name} wrote {count:.0f} times to {member} (held by {holder})")
                assert (count > 0) == (name == holder), f"{name} and {member}"

        victim = max(names, key=lambda n: list(expected(names).values()).count(n))
        survivor = next(n for n in names if n != victim)
        processes.signal_group(replicas[victim].pid, signal.SIGKILL)
        killed = time.monotonic()
        wait_until(
            f"{survivor} holds every member",
            lambda: holders(hub) == dict.fromkeys(MEMBERS, survivor),
            timeout=TIMEOUT,
        )
        print(f"{victim}'s members held by {survivor} {time.monotonic() - killed:.1f}s after SIGKILL")
        assert not replicas[victim].alive()
        kubectl_apply(hub, tmp_path, *templates(ns, "edited"))
        wait_until("the edit on every member", lambda: delivered(fleet, ns, "edited"), timeout=TIMEOUT)

        joined = [survivor, "shard-c"]
        replicas["shard-c"] = shard("shard-c", hub, logs)
        wait_until("the members rebalanced", lambda: holders(hub) == expected(joined), timeout=TIMEOUT)
        kubectl_apply(hub, tmp_path, *templates(ns, "again"))
        wait_until("the next edit on every member", lambda: delivered(fleet, ns, "again"), timeout=TIMEOUT)
        if "shard-c" in expected(joined).values():
            assert any(writes(replicas["shard-c"], m) > 0 for m in MEMBERS)
    finally:
        for replica in replicas.values():
            replica.stop()
        kubectl(hub, "delete", "namespace", ns, "--wait=false", check=False)
    assert holders(hub) == {}, "stopped shards release their members"
