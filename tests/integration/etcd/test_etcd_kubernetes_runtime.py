"""The kubernetes runtime renders an EtcdCluster into a meta cluster: Pods with stable names, a headless
Service, PVCs and Secrets. kwok runs the Pods there (no real etcd), so the objects are what is tested,
and the status must tell the truth: the members' `.svc` names resolve only inside the meta cluster,
kokpit cannot reach them from the hub, so the cluster is not Ready, with reason EndpointsUnreachable."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

import pytest
from lightkube import ApiError, AsyncClient
from lightkube.models.core_v1 import HostPathVolumeSource, PersistentVolumeSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import (
    Namespace,
    PersistentVolume,
    PersistentVolumeClaim,
    Pod,
    Secret,
    Service,
)

from kokpit.etcd.resources import EtcdClusterResource
from tests.integration.etcd.conftest import NEW_ETCD, EtcdEnv

pytestmark = pytest.mark.integration


def _phase(pod: Any) -> Any:
    return pod.status.phase


async def eventually(what: str, check: Any, timeout: float = 60.0) -> Any:
    last: Any = None
    for _ in range(int(timeout / 0.5)):
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


async def test_kubernetes_runtime_renders_members_into_a_meta_cluster(etcd_env: EtcdEnv) -> None:
    meta = etcd_env.sandbox.members[0]
    etcd_env.manager.add_cluster(meta, etcd_env.sandbox.kubeconfig(meta))
    client: AsyncClient = etcd_env.manager.clients.get(meta)
    ns = etcd_env.namespace
    await client.create(Namespace(metadata=ObjectMeta(name=ns)))
    volumes = [f"{ns}-pv-{i}" for i in range(3)]
    for name in volumes:  # no provisioner in the sandbox: static volumes for the claims to bind
        await client.create(
            PersistentVolume(
                metadata=ObjectMeta(name=name),
                spec=PersistentVolumeSpec(
                    capacity={"storage": "2Gi"},
                    accessModes=["ReadWriteOnce"],
                    hostPath=HostPathVolumeSource(path=f"/tmp/{name}"),
                    persistentVolumeReclaimPolicy="Delete",
                ),
            )
        )
    try:
        await etcd_env.create(
            "kilo",
            {
                "size": 3,
                "version": NEW_ETCD,
                "runtime": "kubernetes",
                "metaCluster": meta,
                "storage": {"size": "2Gi"},
            },
        )

        async def pods() -> list[Any]:
            found = [p async for p in client.list(Pod, namespace=ns, labels={"kokpit.io/group": "kilo"})]
            return found if len(found) == 3 else []

        pod_list = await eventually("3 pods", pods)
        assert sorted(p.metadata.name for p in pod_list) == ["kilo-0", "kilo-1", "kilo-2"]
        service: Any = await client.get(Service, "kilo-peers", namespace=ns)
        assert service.spec.clusterIP == "None" and service.spec.publishNotReadyAddresses
        assert {p.port for p in service.spec.ports} == {2379, 2380}
        for pod in pod_list:
            name = pod.metadata.name
            assert pod.spec.hostname == name and pod.spec.subdomain == "kilo-peers"
            container = pod.spec.containers[0]
            assert container.image == f"registry.k8s.io/etcd:{NEW_ETCD.lstrip('v')}-0"
            args = container.command
            host = f"{name}.kilo-peers.{ns}.svc"
            assert args[0] == "/usr/local/bin/etcd"
            assert f"--name={name}" in args
            assert f"--advertise-client-urls=https://{host}:2379" in args
            assert "--listen-peer-urls=https://0.0.0.0:2380" in args
            assert "--initial-cluster-state=new" in args
            initial = next(a for a in args if a.startswith("--initial-cluster="))
            assert initial.count("kilo-peers") == 3
            assert "--cert-file=/etc/kokpit/files/server.crt" in args
            claim = next(v for v in pod.spec.volumes if v.name == "data").persistentVolumeClaim
            assert claim.claimName == f"{name}-data"
            pvc: Any = await client.get(PersistentVolumeClaim, f"{name}-data", namespace=ns)
            assert pvc.spec.resources.requests["storage"] == "2Gi"
            secret: Any = await client.get(Secret, f"{name}-files", namespace=ns)
            assert set(secret.data) == {"ca.crt", "server.crt", "server.key", "peer.crt", "peer.key"}
            assert base64.b64decode(secret.data["ca.crt"]).startswith(b"-----BEGIN CERTIFICATE")
            assert pod.metadata.managedFields[0].manager == "kokpit"

        async def running() -> list[Any]:
            phases = [_phase(await client.get(Pod, f"kilo-{i}", namespace=ns)) for i in range(3)]
            return phases if all(p == "Running" for p in phases) else []

        await eventually("kwok runs the pods", running, timeout=90)
        status = await etcd_env.wait(
            "members reported running",
            lambda s: len([m for m in s.get("members") or [] if m.get("running")]) == 3,
            "kilo",
        )
        assert status["phase"] == "Creating"  # no real etcd answers in kwok's pods
        # The honest state: the hub cannot dial the in-cluster .svc names, and status says exactly so.
        status = await etcd_env.wait(
            "the unreachable endpoints reported",
            lambda s: any(
                c["type"] == "Ready" and c["reason"] == "EndpointsUnreachable"
                for c in s.get("conditions") or []
            ),
            "kilo",
        )
        ready = next(c for c in status["conditions"] if c["type"] == "Ready")
        available = next(c for c in status["conditions"] if c["type"] == "Available")
        assert ready["status"] == "False" and available["status"] == "False"
        assert available["reason"] == "EndpointsUnreachable"
        assert f"kilo-0.kilo-peers.{ns}.svc" in ready["message"]
        assert (
            f"meta cluster {meta}" in ready["message"]
            and "cannot reach them from the hub" in ready["message"]
        )

        await etcd_env.client.delete(EtcdClusterResource, "kilo", namespace=ns)

        async def gone() -> bool:
            left = [p async for p in client.list(Pod, namespace=ns, labels={"kokpit.io/group": "kilo"})]
            claims = [c async for c in client.list(PersistentVolumeClaim, namespace=ns)]
            return not left and not claims

        await eventually("members removed from the meta cluster", gone)
    finally:
        await client.delete(Namespace, ns)
        for name in volumes:
            with contextlib.suppress(ApiError):  # the Delete reclaim policy may have removed it already
                await client.delete(PersistentVolume, name)
