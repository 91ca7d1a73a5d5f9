"""The fleet end to end: join members, watch their health, survive failures, refuse bad joins.

Runs against the session sandbox with two `kokpit hub run` replicas (only one leads). Tests in this
module build on each other in order: members joined by the first stay joined for the next.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from kokpit.controlplane import pki
from tests.integration.fleet.conftest import PROBE_PERIOD, HubReplica, kokpit
from tests.support import SandboxHandle, kubectl, wait_until

pytestmark = pytest.mark.integration

REGIONS = {"member1": "eu-west", "member2": "us-east", "member3": "ap-south"}


def clusters(hub: Path) -> dict[str, dict[str, Any]]:
    items = json.loads(kubectl(hub, "get", "clusters.cluster.kokpit.io", "-o", "json").stdout)["items"]
    return {item["metadata"]["name"]: item for item in items}


def ready_status(cluster: dict[str, Any]) -> str | None:
    for condition in (cluster.get("status") or {}).get("conditions") or []:
        if condition["type"] == "Ready":
            return str(condition["status"])
    return None


def health_taints(cluster: dict[str, Any]) -> set[str]:
    return {
        f"{t['key']}:{t['effect']}"
        for t in (cluster.get("spec") or {}).get("taints") or []
        if t["key"].startswith("cluster.kokpit.io/")
    }


def join(sandbox: SandboxHandle, hub: Path, member: str) -> None:
    result = kokpit(
        "join",
        member,
        "--kubeconfig",
        str(sandbox.kubeconfig(member)),
        "--provider",
        "kwok",
        "--region",
        REGIONS[member],
        "--zone",
        f"{REGIONS[member]}-a",
        hub=hub,
    )
    assert result.returncode == 0, result.stderr
    assert f"cluster {member} joined (v1.36" in result.stdout


def test_joined_members_become_ready_with_summaries(
    sandbox: SandboxHandle, installed_hub: Path, hub_replicas: list[HubReplica]
) -> None:
    for member in sandbox.members:
        if member in clusters(installed_hub):  # joined by an earlier test module: start afresh
            unjoined = kokpit("unjoin", member, hub=installed_hub)
            assert unjoined.returncode == 0, unjoined.stderr
        join(sandbox, installed_hub, member)
    summary_fields = (
        "kubernetesVersion",
        "apiEnablements",
        "nodeSummary",
        "resourceSummary",
        "lastProbeTime",
    )

    def ready_with_summaries() -> bool:
        found = clusters(installed_hub)
        return len(found) == len(sandbox.members) and all(
            ready_status(c) == "True" and all(f in (c.get("status") or {}) for f in summary_fields)
            for c in found.values()
        )

    # Ready comes with the first probe, the summaries with the first detailed one: wait for both.
    wait_until("every member Ready with its summaries", ready_with_summaries)
    found = clusters(installed_hub)
    for member in sandbox.members:
        cluster = found[member]
        status = cluster["status"]
        assert cluster["spec"]["region"] == REGIONS[member]
        assert status["kubernetesVersion"] == sandbox.state.kubernetes_version
        assert status["nodeSummary"] == {"totalNum": 3, "readyNum": 3}
        assert status["resourceSummary"]["allocatable"] == {"cpu": "96", "memory": "768Gi", "pods": "330"}
        served = {e["groupVersion"] for e in status["apiEnablements"]}
        assert {"v1", "apps/v1", "rbac.authorization.k8s.io/v1"} <= served
        assert status["lastProbeTime"]
        assert health_taints(cluster) == set()

    table = kokpit("get", "clusters", hub=installed_hub)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:5] == ["NAME", "MODE", "READY", "VERSION", "REGION"]
    assert [line.split()[:3] for line in lines[1:]] == [[m, "Push", "True"] for m in sandbox.members]
    as_yaml = yaml.safe_load(kokpit("get", "clusters", "-o", "yaml", hub=installed_hub).stdout)
    assert [item["metadata"]["name"] for item in as_yaml["items"]] == sandbox.members


def test_only_the_leader_reconciles(hub_replicas: list[HubReplica]) -> None:
    wait_until("a leader", lambda: any(replica.leading() for replica in hub_replicas))
    leaders = [replica for replica in hub_replicas if replica.leading()]
    followers = [replica for replica in hub_replicas if not replica.leading()]
    assert len(leaders) == 1 and len(followers) == 1
    assert leaders[0].reconciles() > 0
    assert followers[0].reconciles() == 0


def test_a_killed_member_api_server_taints_the_member_until_it_is_back(
    sandbox: SandboxHandle, installed_hub: Path, hub_replicas: list[HubReplica]
) -> None:
    wait_until(
        "every member Ready", lambda: all(ready_status(c) == "True" for c in clusters(installed_hub).values())
    )
    sandbox.kill("member1", "kube-apiserver")
    others_ready: list[bool] = []

    def member1_tainted() -> bool:
        found = clusters(installed_hub)
        others_ready.append(all(ready_status(found[m]) == "True" for m in ("member2", "member3")))
        return ready_status(found["member1"]) != "True" and bool(health_taints(found["member1"]))

    started = time.monotonic()
    wait_until("member1 tainted", member1_tainted, timeout=60)
    noticed = time.monotonic() - started
    tainted = clusters(installed_hub)["member1"]
    assert ready_status(tainted) == "Unknown"
    assert health_taints(tainted) == {"cluster.kokpit.io/unreachable:NoSchedule"}
    print(f"member1 unreachable noticed after {noticed:.1f}s (probe period {PROBE_PERIOD}s)")

    sandbox.restart("member1", "kube-apiserver")

    def member1_recovered() -> bool:
        found = clusters(installed_hub)
        others_ready.append(all(ready_status(found[m]) == "True" for m in ("member2", "member3")))
        return ready_status(found["member1"]) == "True" and not health_taints(found["member1"])

    wait_until("member1 Ready again", member1_recovered, timeout=60)
    assert others_ready and all(others_ready)
    events = kubectl(installed_hub, "get", "events", "-n", "default", "-o", "json").stdout
    reasons = {
        e["reason"]
        for e in json.loads(events)["items"]
        if e.get("regarding", e.get("involvedObject", {})).get("name") == "member1"
    }
    assert {"ClusterUnreachable", "ClusterReady"} <= reasons


def test_changes_made_while_the_hub_api_server_restarts_are_reconciled(
    sandbox: SandboxHandle, installed_hub: Path, hub_replicas: list[HubReplica]
) -> None:
    # Unjoining needs the controller to release its finalizer: it only completes if the
    # controller's watches came back after the restart and saw the deletion.
    sandbox.restart("hub", "kube-apiserver")
    unjoined = kokpit("unjoin", "member3", hub=installed_hub)
    assert unjoined.returncode == 0, unjoined.stderr
    assert "member3" not in clusters(installed_hub)
    secrets = kubectl(installed_hub, "get", "secrets", "-n", "kokpit-system", "-o", "name").stdout
    assert "member3-kubeconfig" not in secrets

    join(sandbox, installed_hub, "member3")
    wait_until(
        "member3 Ready after re-joining",
        lambda: ready_status(clusters(installed_hub).get("member3", {})) == "True",
    )


def nobody_kubeconfig(sandbox: SandboxHandle, member: str, path: Path) -> Path:
    """A kubeconfig for a user the member's CA vouches for but RBAC grants nothing."""
    cluster_pki = pki.read_cluster_pki(sandbox.dir / "clusters" / member / "pki")
    nobody = pki.issue(cluster_pki.ca, common_name="nobody", client=True, validity=timedelta(hours=1))
    config = pki.kubeconfig(
        cluster=member,
        server=sandbox.state.clusters[member].endpoint,
        ca_pem=cluster_pki.ca.cert_pem,
        user="nobody",
        credentials=nobody,
    )
    pki.write_kubeconfig(config, path)
    return path


def assert_one_line_error(result: Any, *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kokpit: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_bad_joins_are_refused_with_one_line_and_leave_nothing(
    sandbox: SandboxHandle, installed_hub: Path, tmp_path: Path
) -> None:
    member = str(sandbox.kubeconfig("member2"))
    broken = tmp_path / "broken.kubeconfig"
    broken.write_text("apiVersion: v1\nclusters: [\n")
    unreachable = tmp_path / "unreachable.kubeconfig"
    config = yaml.safe_load(Path(member).read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    unreachable.write_text(yaml.safe_dump(config))
    nobody = nobody_kubeconfig(sandbox, "member2", tmp_path / "nobody.kubeconfig")
    with_exec = tmp_path / "exec.kubeconfig"
    config = yaml.safe_load(Path(member).read_text())
    config["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "id"}}
    with_exec.write_text(yaml.safe_dump(config))

    cases = [
        (["new1", "--kubeconfig", str(tmp_path / "missing")], ["cannot read kubeconfig"]),
        (["new2", "--kubeconfig", str(broken)], ["not valid YAML"]),
        (["new3", "--kubeconfig", member, "--context", "nope"], ["context 'nope' not found", "member2"]),
        (["new4", "--kubeconfig", str(unreachable)], ["unreachable", "127.0.0.1:1"]),
        (["new5", "--kubeconfig", str(nobody)], ["'nobody' may not do what kokpit needs", "denied"]),
        (
            ["new6", "--kubeconfig", str(with_exec)],
            ["uses an exec credential plugin", "--allow-exec-credentials"],
        ),
        (["member2", "--kubeconfig", member], ["already joined"]),
        (["hub", "--kubeconfig", member], ["reserved"]),
    ]
    for args, fragments in cases:
        assert_one_line_error(kokpit("join", *args, hub=installed_hub), *fragments)
    assert set(clusters(installed_hub)) == set(sandbox.members)


def exec_kubeconfig_secret(sandbox: SandboxHandle, member: str, name: str) -> dict[str, Any]:
    config = yaml.safe_load(sandbox.kubeconfig(member).read_text())
    config["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "id"}}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "kokpit-system"},
        "stringData": {"kubeconfig": yaml.safe_dump(config)},
    }


def push_cluster(name: str, secret: str, *, namespace: str = "kokpit-system") -> dict[str, Any]:
    return {
        "apiVersion": "cluster.kokpit.io/v1alpha1",
        "kind": "Cluster",
        "metadata": {"name": name},
        "spec": {
            "syncMode": "Push",
            "apiEndpoint": "https://127.0.0.1:1",
            "secretRef": {"namespace": namespace, "name": secret},
        },
    }


def apply(hub: Path, path: Path, *objects: dict[str, Any]) -> Any:
    path.write_text(yaml.safe_dump_all(objects))
    return kubectl(hub, "apply", "-f", str(path), check=False)


def ready_condition(hub: Path, name: str) -> dict[str, Any]:
    for condition in (clusters(hub).get(name, {}).get("status") or {}).get("conditions") or []:
        if condition["type"] == "Ready":
            return dict(condition)
    return {}


def test_the_hub_refuses_exec_kubeconfigs_pull_waits_for_an_agent_and_other_secret_namespaces_are_refused(
    sandbox: SandboxHandle, installed_hub: Path, hub_replicas: list[HubReplica], tmp_path: Path
) -> None:
    try:
        applied = apply(
            installed_hub,
            tmp_path / "exec.yaml",
            exec_kubeconfig_secret(sandbox, "member1", "sneaky-kubeconfig"),
            push_cluster("sneaky", "sneaky-kubeconfig"),
            {
                "apiVersion": "cluster.kokpit.io/v1alpha1",
                "kind": "Cluster",
                "metadata": {"name": "pulled"},
                "spec": {"syncMode": "Pull"},
            },
        )
        assert applied.returncode == 0, applied.stderr
        wait_until(
            "sneaky refused", lambda: ready_condition(installed_hub, "sneaky").get("status") == "Unknown"
        )
        sneaky = ready_condition(installed_hub, "sneaky")
        assert sneaky["message"].startswith("user '"), sneaky
        assert "of secret kokpit-system/sneaky-kubeconfig uses an exec credential plugin" in sneaky["message"]
        assert "--allow-exec-credentials" in sneaky["message"]
        wait_until("pulled observed", lambda: bool(ready_condition(installed_hub, "pulled")))
        pulled = ready_condition(installed_hub, "pulled")
        assert (pulled["status"], pulled["reason"]) == ("Unknown", "AgentNotAvailable")
        assert "agent" in pulled["message"]

        elsewhere = apply(
            installed_hub, tmp_path / "elsewhere.yaml", push_cluster("elsewhere", "x", namespace="default")
        )
        assert elsewhere.returncode != 0
        assert "secretRef.namespace must be kokpit-system" in elsewhere.stderr
        assert "elsewhere" not in clusters(installed_hub)
    finally:
        for name in ("sneaky", "pulled"):
            if name in clusters(installed_hub):
                unjoined = kokpit("unjoin", name, hub=installed_hub)
                assert unjoined.returncode == 0, unjoined.stderr
        kubectl(
            installed_hub,
            "delete",
            "secret",
            "-n",
            "kokpit-system",
            "sneaky-kubeconfig",
            "--ignore-not-found",
        )
