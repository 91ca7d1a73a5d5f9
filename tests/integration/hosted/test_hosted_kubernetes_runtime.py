"""The kubernetes runtime of HostedCluster at the object level: member1 is the meta cluster, its kwok
nodes run the Pods (no real control-plane container runs there). etcd is a shared process-runtime
EtcdCluster, which becomes Available for real but listens on the hub's loopback. So the status must
say the truth: the Deployments roll out, and the cluster is not Ready because kokpit cannot reach the
API server (nor could its Pods reach etcd)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

import pytest
import yaml
from lightkube import ApiError, AsyncClient
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Pod, Secret, Service
from lightkube.types import PatchType

from kokpit.etcd.resources import EtcdClusterResource
from kokpit.hosted import HostedClusterResource, names
from kokpit.hosted.kubernetes_runtime import control_plane_namespace
from kokpit.runtime.clients import make_client
from tests.integration.hosted.conftest import CURRENT, SUPPORTED, HostedEnv, condition, is_true
from tests.support import SandboxHandle

pytestmark = pytest.mark.integration

META = "member1"


async def eventually(what: str, check: Any, timeout: float = 90.0) -> Any:
    last: Any = None
    for _ in range(int(timeout / 0.5)):
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


async def _get(client: AsyncClient, resource: Any, name: str, namespace: str | None = None) -> Any:
    try:
        if namespace is None:
            return await client.get(resource, name)
        return await client.get(resource, name, namespace=namespace)
    except ApiError as error:
        if error.status.code == 404:
            return None
        raise


async def test_kubernetes_runtime_renders_the_control_plane_into_the_meta_cluster(
    fleet: SandboxHandle, hosted_env: HostedEnv
) -> None:
    entry = SUPPORTED.get(CURRENT)
    assert entry is not None
    body = {
        "apiVersion": "etcd.kokpit.io/v1alpha1",
        "kind": "EtcdCluster",
        "metadata": {"name": "shared", "namespace": hosted_env.namespace},
        "spec": {"size": 1, "version": entry.etcd},
    }
    await hosted_env.client.create(EtcdClusterResource.from_dict(body))
    await hosted_env.create(
        "kube",
        {
            "kubernetesVersion": CURRENT,
            "runtime": "kubernetes",
            "metaCluster": META,
            "controlPlane": {"replicas": 2},
            "etcd": {"shared": {"name": "shared"}},
            "join": False,
        },
    )
    ns = control_plane_namespace(hosted_env.namespace, "kube")
    meta = make_client(META, fleet.kubeconfig(META), qps=None, timeout=10.0)
    try:
        # The Deployments roll out (kwok marks the Pods Ready), but nothing answers at an endpoint:
        # not Ready, and the condition says why.
        status = await hosted_env.wait(
            "APIServerAvailable ControlPlaneUnreachable",
            lambda s: (
                condition(s, "APIServerAvailable").get("reason") == "ControlPlaneUnreachable"
                and is_true(s, "ControllerManagerReady")
                and is_true(s, "SchedulerReady")
            ),
            "kube",
            timeout=180,
        )
        assert status["version"] == CURRENT
        for type_ in ("EtcdReady", "CertificatesReady", "ControllerManagerReady", "SchedulerReady"):
            assert is_true(status, type_), condition(status, type_)
        unreachable = condition(status, "APIServerAvailable")
        assert unreachable["status"] == "False"
        assert "not reachable from the hub" in unreachable["message"]
        assert "loopback" in unreachable["message"]  # the shared etcd listens on the hub's 127.0.0.1
        ready = condition(status, "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "ControlPlaneUnreachable")
        assert status["phase"] != "Ready"
        assert {c["name"] for c in status["components"]} == set(names.CONTROL_PLANE)
        assert "endpoint" not in status  # no load balancer in the sandbox yet

        apiserver: Any = await meta.get(Deployment, names.APISERVER, namespace=ns)
        assert apiserver.spec.replicas == 2
        main = apiserver.spec.template.spec.containers[0]
        assert main.image == f"registry.k8s.io/kube-apiserver:{CURRENT}"
        assert main.readinessProbe.httpGet.path == "/readyz"
        assert main.livenessProbe.httpGet.path == "/livez"
        assert "--secure-port=6443" in main.command
        etcd_flag = next(a for a in main.command if a.startswith("--etcd-servers="))
        shared: Any = await hosted_env.client.get(
            EtcdClusterResource, "shared", namespace=hosted_env.namespace
        )
        assert etcd_flag == "--etcd-servers=" + ",".join(_client_endpoints(shared))  # the real ones
        affinity = apiserver.spec.template.spec.affinity.podAntiAffinity
        assert affinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey == (
            "kubernetes.io/hostname"
        )
        assert apiserver.metadata.managedFields[0].manager == "kokpit"
        for component in (names.CONTROLLER_MANAGER, names.SCHEDULER):
            deployment: Any = await meta.get(Deployment, component, namespace=ns)
            assert deployment.spec.replicas == 2  # one leader, one standing by
            container = deployment.spec.template.spec.containers[0]
            assert container.image == f"registry.k8s.io/{component}:{CURRENT}"
            assert "--leader-elect=true" in container.command
            assert container.livenessProbe.httpGet.path == "/healthz"
            secret: Any = await meta.get(Secret, f"{component}-files", namespace=ns)
            kubeconfig = yaml.safe_load(base64.b64decode(secret.data["kubeconfig"]))
            assert kubeconfig["clusters"][0]["cluster"]["server"] == f"https://kube-apiserver.{ns}.svc:6443"
        files: Any = await meta.get(Secret, "kube-apiserver-files", namespace=ns)
        assert {"pki__ca.crt", "pki__apiserver.crt", "pki__sa.pub", "pki__etcd__ca.crt"} <= set(files.data)
        service: Any = await meta.get(Service, names.APISERVER, namespace=ns)
        assert service.spec.type == "LoadBalancer"
        assert [p.port for p in service.spec.ports] == [6443]

        pods = [p async for p in meta.list(Pod, namespace=ns)]
        assert len(pods) == 6
        assert all(p.status is not None and p.status.phase == "Running" for p in pods)

        # A load balancer (played here by the test) gives the Service an address: it becomes the endpoint.
        await meta.patch(
            Service.Status,
            names.APISERVER,
            {"status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}},
            namespace=ns,
            patch_type=PatchType.MERGE,
        )
        status = await hosted_env.wait("endpoint", lambda s: bool(s.get("endpoint")), "kube")
        assert status["endpoint"] == "https://203.0.113.10:6443"
        # Nothing answers there (a documentation address): still not Ready, saying where it asked.
        status = await hosted_env.wait(
            "the endpoint named as unreachable",
            lambda s: "203.0.113.10" in condition(s, "APIServerAvailable").get("message", ""),
            "kube",
        )
        assert condition(status, "APIServerAvailable")["reason"] == "ControlPlaneUnreachable"
        assert not is_true(status, "Ready")
        admin: Any = await hosted_env.client.get(
            Secret, names.admin_kubeconfig_secret_name("kube"), namespace=hosted_env.namespace
        )
        assert b"https://203.0.113.10:6443" in base64.b64decode(admin.data["kubeconfig"])

        # Deleting the HostedCluster deletes the namespace in the meta cluster.
        await hosted_env.client.delete(HostedClusterResource, "kube", namespace=hosted_env.namespace)

        async def gone() -> bool:
            left = await _get(meta, Namespace, ns)
            hosted = await _get(hosted_env.client, HostedClusterResource, "kube", hosted_env.namespace)
            return left is None and hosted is None

        await eventually("the control plane's namespace removed from the meta cluster", gone, timeout=120)
    finally:
        await _delete_quietly(meta, ns)
        await meta.close()


async def _delete_quietly(client: AsyncClient, namespace: str) -> None:
    with contextlib.suppress(ApiError):
        await client.delete(Namespace, namespace)


def _client_endpoints(etcd: Any) -> list[str]:
    return [str(e) for e in (etcd.get("status") or {}).get("clientEndpoints") or []]
