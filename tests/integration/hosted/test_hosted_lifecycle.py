"""A hosted cluster from one command: created, Ready with kwok nodes, usable with kubectl, joined to the
fleet, and deleted without leftovers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from lightkube import ApiError
from lightkube.resources.core_v1 import Secret

from kokpit.api.cluster import SECRET_NAMESPACE
from kokpit.controlplane import processes
from kokpit.etcd.resources import EtcdClusterResource
from kokpit.fleet.members import ClusterResource
from kokpit.hosted import names
from tests.integration.hosted.conftest import CURRENT, HostedEnv, is_true
from tests.support import kokpit_cli, kubectl

pytestmark = pytest.mark.integration


async def _gone(env: HostedEnv, resource: Any, name: str, namespace: str | None) -> bool:
    try:
        if namespace is None:
            await env.client.get(resource, name)
        else:
            await env.client.get(resource, name, namespace=namespace)
    except ApiError as error:
        return error.status.code == 404
    return False


async def test_create_ready_kubectl_join_delete(hosted_env: HostedEnv, tmp_path: Path) -> None:
    env = hosted_env
    started = time.monotonic()
    result = await env.acli("create", "cluster", "demo", "--nodes", "3", "--namespace", env.namespace)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    print(f"\nkokpit create cluster demo --nodes 3: Ready in {elapsed:.1f}s ({result.stdout.strip()})")
    status = await env.status("demo")
    assert status["phase"] == "Ready"
    assert status["version"] == CURRENT
    assert status["readyNodes"] == 3
    for type_ in (
        "EtcdReady",
        "CertificatesReady",
        "APIServerAvailable",
        "ControllerManagerReady",
        "SchedulerReady",
        "AddonsReady",
        "Ready",
    ):
        assert is_true(status, type_), (type_, status["conditions"])

    kubeconfig = tmp_path / "demo.kubeconfig"
    result = await env.acli("get", "kubeconfig", "demo", "--namespace", env.namespace, "-o", str(kubeconfig))
    assert result.returncode == 0, result.stderr
    created = await asyncio.to_thread(
        kubectl, kubeconfig, "create", "deployment", "web", "--image=nginx", "--replicas=3"
    )
    assert created.returncode == 0, created.stderr
    rollout = await asyncio.to_thread(
        kubectl, kubeconfig, "rollout", "status", "deployment/web", "--timeout=90s"
    )
    assert rollout.returncode == 0, rollout.stderr
    pods = await asyncio.to_thread(
        kubectl, kubeconfig, "get", "pods", "-o", "jsonpath={.items[*].spec.nodeName}"
    )
    assert set(pods.stdout.split()) <= {f"demo-node-{i}" for i in range(3)}
    version = await asyncio.to_thread(kubectl, kubeconfig, "version", "-o", "json")
    assert f'"gitVersion": "{CURRENT}"' in version.stdout
    addons = await asyncio.to_thread(
        kubectl, kubeconfig, "get", "deployment,daemonset", "-n", "kube-system", "-o", "name"
    )
    assert "deployment.apps/coredns" in addons.stdout and "daemonset.apps/kube-proxy" in addons.stdout

    # Joined: a Cluster of the same name, Ready in `kokpit get clusters`.
    async def joined_ready() -> bool:
        try:
            cluster = await env.client.get(ClusterResource, "demo")
        except ApiError:
            return False
        conditions = (cluster.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    deadline = time.monotonic() + 60
    while not await joined_ready():
        assert time.monotonic() < deadline, "the fleet Cluster demo never became Ready"
        await asyncio.sleep(0.5)
    listing = await asyncio.to_thread(kokpit_cli, "get", "clusters", hub=env.hub_kubeconfig)
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if line.split()[:1] == ["demo"])
    assert row.split()[2] == "True", listing.stdout

    # Delete: processes, etcd, Secrets and the fleet Cluster all go.
    group_dir = env.root / env.namespace / "demo"
    pids = [int(p.read_text().split('"pid": ')[1].split(",")[0]) for p in group_dir.glob("*/state.json")]
    assert len(pids) == 4
    result = await env.acli("delete", "cluster", "demo", "--namespace", env.namespace)
    assert result.returncode == 0, result.stderr
    assert not group_dir.exists()
    for pid in pids:
        assert not processes.is_alive(pid)
    assert await _gone(env, ClusterResource, "demo", None)
    assert await _gone(env, Secret, "demo-kubeconfig", SECRET_NAMESPACE)
    for secret in (names.pki_secret_name("demo"), names.admin_kubeconfig_secret_name("demo")):
        assert await _gone(env, Secret, secret, env.namespace)
    deadline = time.monotonic() + 30
    while not await _gone(env, EtcdClusterResource, "demo-etcd", env.namespace):
        assert time.monotonic() < deadline, "EtcdCluster demo-etcd still there"
        await asyncio.sleep(0.25)
