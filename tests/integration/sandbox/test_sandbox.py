"""The sandbox's promises, checked with kubectl against the real clusters of the session sandbox."""

from __future__ import annotations

import json
import stat
import time
from datetime import timedelta
from pathlib import Path

import pytest

from kokpit.controlplane import pki
from tests.support import NODES, SandboxHandle, kubectl, wait_until

pytestmark = pytest.mark.integration


def test_a_deployment_rolls_out_on_kwok_nodes(sandbox: SandboxHandle) -> None:
    member = sandbox.kubeconfig("member1")
    kubectl(member, "create", "deployment", "web", "--image=nginx", "--replicas=3")
    rollout = kubectl(member, "rollout", "status", "deployment/web", "--timeout=60s")
    assert "successfully rolled out" in rollout.stdout

    pods = json.loads(kubectl(member, "get", "pods", "-l", "app=web", "-o", "json").stdout)["items"]
    assert len(pods) == 3
    assert all(pod["spec"]["nodeName"].startswith("member1-node") for pod in pods)
    assert all(pod["status"]["phase"] == "Running" for pod in pods)


def test_members_have_labelled_nodes_that_differ_between_members(sandbox: SandboxHandle) -> None:
    regions = set()
    for member in sandbox.members:
        nodes = json.loads(kubectl(sandbox.kubeconfig(member), "get", "nodes", "-o", "json").stdout)["items"]
        assert len(nodes) == NODES
        labels = {node["metadata"]["labels"]["topology.kubernetes.io/region"] for node in nodes}
        assert len(labels) == 1
        regions |= labels
        for node in nodes:
            assert node["status"]["capacity"]["pods"] == "110"
            assert node["metadata"]["labels"]["topology.kubernetes.io/zone"]
    assert len(regions) == len(sandbox.members)


def test_the_hub_runs_no_workloads_and_has_no_nodes(sandbox: SandboxHandle) -> None:
    hub = sandbox.kubeconfig("hub")
    kubectl(hub, "create", "deployment", "template", "--image=nginx", "--replicas=2")
    # The hub's controller-manager does run the controllers that do not act on workloads: a new
    # namespace gets its default service account. Once that happened, the deployment (created
    # earlier) would long have had a ReplicaSet if the deployment controller ran.
    kubectl(hub, "create", "namespace", "probe")
    wait_until(
        "the hub's service-account controller",
        lambda: kubectl(hub, "get", "serviceaccount", "default", "-n", "probe", check=False).returncode == 0,
    )
    time.sleep(2)
    replicasets = json.loads(kubectl(hub, "get", "replicasets", "-A", "-o", "json").stdout)["items"]
    assert replicasets == []
    nodes = json.loads(kubectl(hub, "get", "nodes", "-o", "json").stdout)["items"]
    assert nodes == []


@pytest.mark.parametrize("cluster", ["hub", "member1"])
def test_real_version_readyz_and_rbac(sandbox: SandboxHandle, cluster: str, tmp_path: Path) -> None:
    kubeconfig = sandbox.kubeconfig(cluster)
    version = json.loads(kubectl(kubeconfig, "version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == sandbox.state.kubernetes_version
    assert kubectl(kubeconfig, "get", "--raw", "/readyz").stdout.strip() == "ok"

    # A user the cluster CA vouches for, but who was granted nothing, is denied by RBAC.
    cluster_pki = pki.read_cluster_pki(sandbox.dir / "clusters" / cluster / "pki")
    nobody = pki.issue(cluster_pki.ca, common_name="nobody", client=True, validity=timedelta(hours=1))
    config = pki.kubeconfig(
        cluster=cluster,
        server=sandbox.state.clusters[cluster].endpoint,
        ca_pem=cluster_pki.ca.cert_pem,
        user="nobody",
        credentials=nobody,
    )
    pki.write_kubeconfig(config, tmp_path / "nobody.kubeconfig")
    denied = kubectl(tmp_path / "nobody.kubeconfig", "get", "secrets", "-n", "kube-system", check=False)
    assert denied.returncode != 0
    assert "Forbidden" in denied.stderr or "forbidden" in denied.stderr
    assert 'User "nobody"' in denied.stderr


def test_kubeconfigs_are_private_and_the_state_file_holds_no_key(sandbox: SandboxHandle) -> None:
    """Kubeconfigs hold client keys: 0600 (written so from creation by write_private)."""
    kubeconfigs = sorted(sandbox.dir.glob("*.kubeconfig")) + sorted(
        sandbox.dir.glob("clusters/*/kubeconfigs/*.kubeconfig")
    )
    assert {path.stem for path in sandbox.dir.glob("*.kubeconfig")} == set(sandbox.state.clusters)
    assert kubeconfigs
    for path in kubeconfigs:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    state = (sandbox.dir / "sandbox.json").read_text()
    assert "PRIVATE KEY" not in state
    assert "client-key-data" not in state
