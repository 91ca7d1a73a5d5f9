"""Faults of Pull mode on the real sandbox: the agent SIGKILLed, the hub API server restarted.

The agent is the `kokpit-agent` process of member2 in its network namespace; `kill` and `restart`
go through the sandbox, as `kokpit sandbox kill/restart member2 kokpit-agent` would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kokpit.sandbox import AGENT_COMPONENT
from tests.integration.pull.conftest import (
    LEASE_DURATION,
    NO_EXECUTE_GRACE,
    PULL,
    TIMEOUT,
    RestartableHub,
    apply,
    condition,
    get_on,
    is_ready,
    pull_cluster,
    taints,
)
from tests.support import SandboxHandle, kubectl, wait_until

pytestmark = pytest.mark.integration

NS = "pull-faults"


def to_pull_member(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "resourceSelectors": [
                {"apiVersion": "v1", "kind": "ConfigMap", "labelSelector": {"matchLabels": {"to": "pull"}}}
            ],
            "placement": {"clusterAffinity": {"clusterNames": [PULL]}},
        },
    }


def config_map(name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS, "labels": {"to": "pull"}},
        "data": data,
    }


def on_member(fleet: SandboxHandle, name: str) -> dict[str, Any] | None:
    return get_on(fleet, PULL, "configmap", name, NS)


def data_on_member(fleet: SandboxHandle, name: str) -> dict[str, str] | None:
    found = on_member(fleet, name)
    return dict(found.get("data") or {}) if found else None


@pytest.fixture(scope="module")
def delivered(
    pull_fleet: SandboxHandle, hub: RestartableHub, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Two ConfigMaps delivered to the Pull member only, before any fault."""
    directory = tmp_path_factory.mktemp("faults")
    admin = pull_fleet.kubeconfig("hub")
    apply(admin, directory, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    apply(
        admin, directory, to_pull_member("to-pull"), config_map("steady", v="1"), config_map("edited", v="1")
    )
    wait_until(
        "both ConfigMaps on the Pull member",
        lambda: (
            data_on_member(pull_fleet, "steady") == {"v": "1"}
            and data_on_member(pull_fleet, "edited") == {"v": "1"}
        ),
        timeout=TIMEOUT,
    )
    return directory


def test_a_sigkilled_agent_makes_the_cluster_unknown_and_tainted_and_a_restart_reapplies_only_what_differs(
    pull_fleet: SandboxHandle, hub: RestartableHub, delivered: Path
) -> None:
    admin = pull_fleet.kubeconfig("hub")
    steady = on_member(pull_fleet, "steady")
    assert steady is not None
    pull_fleet.kill(PULL, AGENT_COMPONENT)
    try:

        def unknown_and_tainted() -> bool:
            found = pull_cluster(pull_fleet)
            return condition(found, "Ready").get("status") == "Unknown" and bool(taints(found))

        # Within the Lease (6 s) and the hub's probe, well before anything else would notice.
        wait_until("the cluster Unknown and tainted", unknown_and_tainted, timeout=LEASE_DURATION * 3 + 10)
        found = pull_cluster(pull_fleet)
        assert condition(found, "Ready").get("reason") == "AgentLeaseExpired"
        assert "cluster.kokpit.io/unreachable:NoSchedule" in taints(found)
        wait_until(
            "the NoExecute taint after the grace",
            lambda: "cluster.kokpit.io/unreachable:NoExecute" in taints(pull_cluster(pull_fleet)),
            timeout=NO_EXECUTE_GRACE * 3 + 10,
        )
        # Meanwhile the user edits one template: nobody can deliver it yet.
        apply(admin, delivered, config_map("edited", v="2"))
    finally:
        pull_fleet.restart(PULL, AGENT_COMPONENT)

    wait_until("the cluster Ready again, untainted", lambda: is_ready(pull_fleet), timeout=TIMEOUT)
    wait_until(
        "the edit applied", lambda: data_on_member(pull_fleet, "edited") == {"v": "2"}, timeout=TIMEOUT
    )
    again = on_member(pull_fleet, "steady")
    assert again is not None
    assert again["metadata"]["resourceVersion"] == steady["metadata"]["resourceVersion"], (
        "an unchanged object must not be written again"
    )


def test_the_agent_reconnects_by_itself_after_the_hub_api_server_restarts(
    pull_fleet: SandboxHandle, hub: RestartableHub, delivered: Path
) -> None:
    admin = pull_fleet.kubeconfig("hub")
    agent_pid = pull_fleet.state.clusters[PULL].components[AGENT_COMPONENT].pid
    pull_fleet.restart("hub", "kube-apiserver")
    apply(admin, delivered, config_map("after-restart", v="1"))
    wait_until(
        "a template written after the restart on the Pull member",
        lambda: data_on_member(pull_fleet, "after-restart") == {"v": "1"},
        timeout=TIMEOUT,
    )
    wait_until("the cluster Ready", lambda: is_ready(pull_fleet), timeout=TIMEOUT)
    assert pull_fleet.state.clusters[PULL].components[AGENT_COMPONENT].pid == agent_pid, (
        "the same agent process"
    )
    kubectl(admin, "delete", "configmap", "after-restart", "-n", NS, "--ignore-not-found")
    wait_until("its copy removed", lambda: on_member(pull_fleet, "after-restart") is None, timeout=TIMEOUT)
