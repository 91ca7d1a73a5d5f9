"""The kokpit agent end to end: a Pull Cluster's Works applied by its agent, status back, health by Lease.

The agent runs with an agent certificate and only the RBAC registration grants (`conftest.agent_rbac`),
against member3's API server; the hub controllers run in this process with quick probes. Every test
uses names of its own and removes what it made.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kokpit.propagation import names
from tests.integration.agent.conftest import LEASE_DURATION, MEMBER, PullCluster, apply_on
from tests.support import SandboxHandle, kubectl, wait_until

pytestmark = pytest.mark.integration

TIMEOUT = 60.0
WORKS = "works.work.kokpit.io"
CLUSTERS = "clusters.cluster.kokpit.io"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def get(kubeconfig: Path, resource: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
    args = ["get", resource, name, "-o", "json", "--ignore-not-found", "--show-managed-fields"]
    if namespace:
        args += ["-n", namespace]
    out = kubectl(kubeconfig, *args).stdout.strip()
    return json.loads(out) if out else None


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


def work_of(pull: PullCluster, name: str, *manifests: dict[str, Any]) -> dict[str, Any]:
    ref = names.BindingRef(namespace="agent", name=f"{name}-agent")
    labels, annotations = names.binding_metadata(ref, cluster=pull.name)
    return {
        "apiVersion": "work.kokpit.io/v1alpha1",
        "kind": "Work",
        "metadata": {"name": name, "namespace": pull.namespace, "labels": labels, "annotations": annotations},
        "spec": {"workload": {"manifests": list(manifests)}},
    }


def configmap(name: str, namespace: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def deployment(name: str, namespace: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


def member(pull: PullCluster, resource: str, name: str, namespace: str) -> dict[str, Any] | None:
    return get(pull.member_kubeconfig, resource, name, namespace)


def cluster(pull: PullCluster) -> dict[str, Any] | None:
    return get(pull.hub, CLUSTERS, pull.name)


def ready(pull: PullCluster) -> Callable[[], bool]:
    return lambda: condition(cluster(pull), "Ready").get("status") == "True" and not taints(cluster(pull))


def status_managers(obj: dict[str, Any] | None) -> dict[str, str]:
    """The field manager of each top-level status field (and of each condition type)."""
    owners: dict[str, str] = {}
    for entry in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        if entry.get("subresource") != "status":
            continue
        status = (entry.get("fieldsV1") or {}).get("f:status") or {}
        for key, value in status.items():
            if key == "f:conditions":
                for condition_key in value:
                    if condition_key.startswith("k:"):
                        owners[json.loads(condition_key[2:])["type"]] = entry["manager"]
            elif key.startswith("f:"):
                owners[key[2:]] = entry["manager"]
    return owners


def delete_work(pull: PullCluster, name: str) -> None:
    kubectl(
        pull.hub,
        "delete",
        WORKS,
        name,
        "-n",
        pull.namespace,
        "--ignore-not-found",
        "--wait=false",
        check=False,
    )


# --- tests -----------------------------------------------------------------------------------------------


def test_the_agent_applies_its_works_and_writes_their_status_and_its_cluster_status(
    pull_cluster: PullCluster, tmp_path: Path
) -> None:
    pull = pull_cluster
    namespace, work = unique("agent-ns"), unique("web")
    agent = pull.agent()
    try:
        apply_on(pull.hub, tmp_path, work_of(pull, work, deployment("web", namespace, 2)))
        wait_until(
            "the deployment in the member", lambda: member(pull, "deployment", "web", namespace) is not None
        )
        applied = member(pull, "deployment", "web", namespace)
        assert applied is not None
        assert applied["metadata"]["annotations"][names.WORK_NAME_ANNOTATION] == work
        assert applied["metadata"]["labels"][names.CLUSTER_KEY] == pull.name
        assert {m["manager"] for m in applied["metadata"]["managedFields"]} >= {"kokpit"}

        def healthy() -> bool:
            found = get(pull.hub, WORKS, work, pull.namespace)
            statuses = ((found or {}).get("status") or {}).get("manifestStatuses") or []
            return (
                condition(found, "Applied").get("status") == "True"
                and condition(found, "Available").get("status") == "True"
                and len(statuses) == 1
                and (statuses[0].get("status") or {}).get("readyReplicas") == 2
            )

        wait_until("the Work to report 2 ready replicas", healthy, timeout=TIMEOUT)
        wait_until("the Pull cluster Ready", ready(pull), timeout=TIMEOUT)
        wait_until(
            "the agent's summaries",
            lambda: bool(((cluster(pull) or {}).get("status") or {}).get("nodeSummary")),
        )
        found = cluster(pull)
        assert found is not None
        status = found["status"]
        assert status["kubernetesVersion"].startswith("v1.")
        assert any(e["groupVersion"] == "apps/v1" for e in status["apiEnablements"])
        assert condition(found, "Healthy")["status"] == "True"
        assert condition(found, "Ready")["reason"] == "ClusterReady"
        assert "reported by the kokpit agent" in condition(found, "Ready")["message"]
        owners = status_managers(found)
        assert {owners[f] for f in ("kubernetesVersion", "apiEnablements", "nodeSummary", "Healthy")} == {
            "kokpit-agent"
        }
        assert owners["Ready"] == "kokpit"
        lease = get(pull.hub, "leases.coordination.k8s.io", "kokpit-agent", pull.namespace)
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == f"test-{pull.name}"
        assert lease["spec"]["leaseDurationSeconds"] == int(LEASE_DURATION)
    finally:
        delete_work(pull, work)
        wait_until("the deployment to go", lambda: member(pull, "deployment", "web", namespace) is None)
        agent.stop()
        kubectl(pull.member_kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)


def test_a_dead_agent_turns_its_cluster_unknown_and_tainted_the_hub_applies_nothing_and_a_restart_converges(
    pull_cluster: PullCluster, tmp_path: Path
) -> None:
    pull = pull_cluster
    namespace, steady, later = unique("agent-dead"), unique("steady"), unique("later")
    agent = pull.agent()
    try:
        apply_on(pull.hub, tmp_path, work_of(pull, steady, configmap("steady", namespace, a="1")))
        wait_until("the steady ConfigMap", lambda: member(pull, "configmap", "steady", namespace) is not None)
        wait_until("the Pull cluster Ready", ready(pull), timeout=TIMEOUT)
        before = member(pull, "configmap", "steady", namespace)
        assert before is not None

        agent.stop()  # the Lease is not released: to the hub this is a SIGKILL
        stopped = time.monotonic()

        def unknown() -> bool:
            found = cluster(pull)
            return condition(found, "Ready").get("status") == "Unknown" and bool(taints(found))

        wait_until("the cluster Unknown and tainted", unknown, timeout=TIMEOUT)
        noticed = time.monotonic() - stopped
        found = cluster(pull)
        assert condition(found, "Ready")["reason"] == "AgentLeaseExpired"
        assert "cluster.kokpit.io/unreachable:NoSchedule" in taints(found)
        assert noticed < LEASE_DURATION + 8, f"noticed after {noticed:.1f}s"

        # Nobody applies a Pull member's Works while its agent is away: not the hub.
        apply_on(pull.hub, tmp_path, work_of(pull, later, configmap("later", namespace, b="2")))
        wait_until(
            "the NoExecute taint after the grace",
            lambda: "cluster.kokpit.io/unreachable:NoExecute" in taints(cluster(pull)),
            timeout=TIMEOUT,
        )
        assert member(pull, "configmap", "later", namespace) is None
        untouched = get(pull.hub, WORKS, later, pull.namespace)
        assert untouched is not None
        assert not (untouched["metadata"].get("finalizers") or [])
        assert not condition(untouched, "Applied")

        agent = pull.agent()
        wait_until("the cluster Ready again", ready(pull), timeout=TIMEOUT)
        wait_until("the later ConfigMap", lambda: member(pull, "configmap", "later", namespace) is not None)
        after = member(pull, "configmap", "steady", namespace)
        assert after is not None
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"], (
            "an unchanged object was written again after the restart"
        )
    finally:
        for work in (steady, later):
            delete_work(pull, work)
        wait_until("the ConfigMaps to go", lambda: member(pull, "configmap", "steady", namespace) is None)
        agent.stop()
        kubectl(pull.member_kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)


def test_kokpit_agent_runs_as_a_process_named_by_its_certificate_and_stops_on_sigterm(
    pull_cluster: PullCluster, tmp_path: Path
) -> None:
    pull = pull_cluster
    namespace, work = unique("agent-cli"), unique("cli")
    log = tmp_path / "agent.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kokpit.cli.main",
                "agent",
                "--hub-kubeconfig",
                str(pull.agent_kubeconfig),
                "--kubeconfig",
                str(pull.member_kubeconfig),
                "--lease-duration",
                str(LEASE_DURATION),
                "--probe-period",
                "1",
                "--id",
                f"test-{pull.name}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        apply_on(pull.hub, tmp_path, work_of(pull, work, configmap("cli", namespace, c="3")))
        wait_until(
            "the ConfigMap from the agent process",
            lambda: member(pull, "configmap", "cli", namespace) is not None,
        )
        wait_until("the Pull cluster Ready", ready(pull), timeout=TIMEOUT)
        delete_work(pull, work)
        wait_until("the ConfigMap to go", lambda: member(pull, "configmap", "cli", namespace) is None)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, log.read_text()[-3000:]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        delete_work(pull, work)
        kubectl(pull.member_kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)


def test_an_agent_certificate_sees_only_its_own_cluster(pull_cluster: PullCluster) -> None:
    pull = pull_cluster
    own = kubectl(
        pull.agent_kubeconfig, "get", CLUSTERS, "--field-selector", f"metadata.name={pull.name}", "-o", "name"
    )
    assert own.stdout.strip() == f"cluster.cluster.kokpit.io/{pull.name}"
    everyone = kubectl(pull.agent_kubeconfig, "get", CLUSTERS, check=False)
    assert everyone.returncode != 0 and "forbidden" in everyone.stderr.lower()
    other = kubectl(pull.agent_kubeconfig, "get", WORKS, "-n", names.execution_namespace(MEMBER), check=False)
    assert other.returncode != 0 and "forbidden" in other.stderr.lower()
    interpreters = kubectl(pull.agent_kubeconfig, "get", "resourceinterpreters.config.kokpit.io", check=False)
    assert interpreters.returncode == 0, interpreters.stderr
    for verb in ("create", "delete"):
        may = kubectl(
            pull.agent_kubeconfig, "auth", "can-i", verb, "resourceinterpreters.config.kokpit.io", check=False
        )
        assert may.stdout.strip() == "no", (verb, may.stdout, may.stderr)


def test_after_the_hub_api_server_restarts_the_agent_reconnects_by_itself_and_converges(
    pull_cluster: PullCluster, fleet: SandboxHandle, tmp_path: Path
) -> None:
    pull = pull_cluster
    namespace, before_work, after_work = unique("agent-outage"), unique("before"), unique("after")
    agent = pull.agent()
    try:
        apply_on(pull.hub, tmp_path, work_of(pull, before_work, configmap("before", namespace, a="1")))
        wait_until("the first ConfigMap", lambda: member(pull, "configmap", "before", namespace) is not None)
        wait_until("the Pull cluster Ready", ready(pull), timeout=TIMEOUT)
        before = member(pull, "configmap", "before", namespace)
        assert before is not None

        fleet.restart("hub", "kube-apiserver")

        apply_on(pull.hub, tmp_path, work_of(pull, after_work, configmap("after", namespace, b="2")))
        wait_until(
            "the ConfigMap of a Work made after the restart",
            lambda: member(pull, "configmap", "after", namespace) is not None,
            timeout=TIMEOUT,
        )
        wait_until("the Pull cluster Ready", ready(pull), timeout=TIMEOUT)
        after = member(pull, "configmap", "before", namespace)
        assert after is not None
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
        work = get(pull.hub, WORKS, after_work, pull.namespace)
        assert condition(work, "Applied").get("status") == "True"
    finally:
        for work_name in (before_work, after_work):
            delete_work(pull, work_name)
        wait_until("the ConfigMaps to go", lambda: member(pull, "configmap", "before", namespace) is None)
        agent.stop()
        kubectl(pull.member_kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)


def test_the_agent_renews_its_certificate_and_carries_on_with_the_new_one(
    pull_cluster: PullCluster, tmp_path: Path
) -> None:
    pytest.importorskip("kokpit.agent.certificates")
    pull = pull_cluster
    kubeconfig = tmp_path / "hub.kubeconfig"
    kubeconfig.write_bytes(pull.agent_kubeconfig.read_bytes())
    kubeconfig.chmod(0o600)
    namespace, first, second = unique("agent-renew"), unique("first"), unique("second")
    agent = pull.agent(
        hub_kubeconfig=kubeconfig, renew_certificate=True, renew_fraction=0.001, old_identity_grace=1.0
    )
    original = kubeconfig.read_text()
    try:
        apply_on(pull.hub, tmp_path, work_of(pull, first, configmap("first", namespace, a="1")))
        wait_until("the first ConfigMap", lambda: member(pull, "configmap", "first", namespace) is not None)
        wait_until("a renewed certificate", lambda: kubeconfig.read_text() != original, timeout=TIMEOUT)
        renewed = kubeconfig.read_text()
        wait_until("one more renewal", lambda: kubeconfig.read_text() != renewed, timeout=TIMEOUT)
        apply_on(pull.hub, tmp_path, work_of(pull, second, configmap("second", namespace, b="2")))
        wait_until(
            "a Work applied after the renewals",
            lambda: member(pull, "configmap", "second", namespace) is not None,
            timeout=TIMEOUT,
        )
        wait_until("the Pull cluster Ready", ready(pull), timeout=TIMEOUT)
    finally:
        for work_name in (first, second):
            delete_work(pull, work_name)
        wait_until("the ConfigMaps to go", lambda: member(pull, "configmap", "first", namespace) is None)
        agent.stop()
        kubectl(pull.member_kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)
