"""The `kubernetes` runtime: components as Pods in a meta cluster (the Kube-on-Kube design).

Per group: one headless Service (`<group>-peers`) giving every Pod a stable DNS name
`<component>.<group>-peers.<namespace>.svc`. Per component: a Pod named like the component, a
PersistentVolumeClaim `<component>-data` for its data (kept across Pod restarts) and a Secret
`<component>-files` with its files. Pods are not managed by a StatefulSet on purpose: the operator
above decides which member starts, stops or is replaced, one at a time, and a StatefulSet would fight
it. Everything is server-side applied with field manager `kokpit`.

`render_*` are pure functions (tested at the object level); `KubernetesRuntime` is the thin I/O.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from lightkube import ApiError, AsyncClient, codecs
from lightkube.resources.core_v1 import PersistentVolumeClaim, Pod, Secret, Service

from kokpit.controlplane.runtime.interface import Addresses, ComponentSpec, ComponentState, Group, Layout
from kokpit.errors import KokpitError

FIELD_MANAGER = "kokpit"
CLIENT_PORT = 2379
PEER_PORT = 2380
DATA_MOUNT = PurePosixPath("/var/lib/kokpit")
FILES_MOUNT = PurePosixPath("/etc/kokpit/files")
DEFAULT_STORAGE = "1Gi"
GROUP_LABEL = "kokpit.io/group"
COMPONENT_LABEL = "kokpit.io/component"
REVISION_ANNOTATION = "kokpit.io/revision"


class UnsupportedError(KokpitError):
    """The runtime cannot do what was asked (e.g. an init command in a Pod)."""


def service_name(group: Group) -> str:
    return f"{group.name}-peers"


def pvc_name(name: str) -> str:
    return f"{name}-data"


def files_secret_name(name: str) -> str:
    return f"{name}-files"


def group_labels(group: Group) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "kokpit", GROUP_LABEL: group.name}


def render_service(group: Group, namespace: str) -> dict[str, Any]:
    """`render_service` is the headless Service giving each Pod of `group` a stable DNS name; not-ready
    Pods are published too, since peers must find each other before any of them is ready."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service_name(group), "namespace": namespace, "labels": group_labels(group)},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": group_labels(group),
            "ports": [
                {"name": "client", "port": CLIENT_PORT, "targetPort": CLIENT_PORT},
                {"name": "peer", "port": PEER_PORT, "targetPort": PEER_PORT},
            ],
        },
    }


def render_files_secret(spec: ComponentSpec, namespace: str) -> dict[str, Any]:
    """`render_files_secret` holds the component's files; keys are the relative paths with `/` -> `__`."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": files_secret_name(spec.name),
            "namespace": namespace,
            "labels": {**group_labels(spec.group), COMPONENT_LABEL: spec.name},
        },
        "type": "Opaque",
        "data": {
            _secret_key(path): base64.b64encode(content).decode() for path, content in spec.files.items()
        },
    }


def render_pvc(spec: ComponentSpec, namespace: str) -> dict[str, Any]:
    """`render_pvc` is the component's data volume claim."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": pvc_name(spec.name),
            "namespace": namespace,
            "labels": {**group_labels(spec.group), COMPONENT_LABEL: spec.name},
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": spec.storage_size or DEFAULT_STORAGE}},
        },
    }


def render_pod(spec: ComponentSpec, namespace: str) -> dict[str, Any]:
    """`render_pod` runs `spec.image` with `container_command` and `argv[1:]`, the data volume at
    `DATA_MOUNT` and the files at `FILES_MOUNT`; hostname and subdomain make its DNS name stable."""
    if spec.image is None:
        raise UnsupportedError(f"{spec.name}: the kubernetes runtime needs an image")
    command = spec.container_command or PurePosixPath(spec.argv[0]).name
    labels = {**group_labels(spec.group), COMPONENT_LABEL: spec.name, **dict(spec.labels)}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": spec.name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {REVISION_ANNOTATION: spec.revision},
        },
        "spec": {
            "hostname": spec.name,
            "subdomain": service_name(spec.group),
            "restartPolicy": "Always",
            "containers": [
                {
                    "name": "main",
                    "image": spec.image,
                    "command": [command, *spec.argv[1:]],
                    "ports": [
                        {"name": "client", "containerPort": CLIENT_PORT},
                        {"name": "peer", "containerPort": PEER_PORT},
                    ],
                    "volumeMounts": [
                        {"name": "data", "mountPath": str(DATA_MOUNT)},
                        {"name": "files", "mountPath": str(FILES_MOUNT), "readOnly": True},
                    ],
                }
            ],
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": pvc_name(spec.name)}},
                {
                    "name": "files",
                    "secret": {
                        "secretName": files_secret_name(spec.name),
                        "defaultMode": 0o400,
                        "items": [{"key": _secret_key(path), "path": path} for path in sorted(spec.files)],
                    },
                },
            ],
        },
    }


def _component_of(obj: Any) -> str:
    meta = obj.metadata
    if meta is None:
        return ""
    return str((meta.labels or {}).get(COMPONENT_LABEL) or meta.name or "")


def _secret_key(path: str) -> str:
    return path.replace("/", "__")


class KubernetesRuntime:
    """`KubernetesRuntime` runs components as Pods in the meta cluster reached by `client`.

    Objects go to `namespace` when given, else to the group's own namespace (which must exist).
    """

    kind = "kubernetes"

    def __init__(
        self, client: AsyncClient, *, namespace: str | None = None, cluster_domain: str = "cluster.local"
    ):
        self.client = client
        self.namespace = namespace
        self.cluster_domain = cluster_domain

    def _namespace(self, group: Group) -> str:
        return self.namespace or group.namespace

    def addresses(self, group: Group, name: str) -> Addresses:
        host = f"{name}.{service_name(group)}.{self._namespace(group)}.svc"
        return Addresses(
            client_url=f"https://{host}:{CLIENT_PORT}",
            peer_url=f"https://{host}:{PEER_PORT}",
            listen_client_url=f"https://0.0.0.0:{CLIENT_PORT}",
            listen_peer_url=f"https://0.0.0.0:{PEER_PORT}",
        )

    def layout(self, group: Group, name: str) -> Layout:
        return Layout(data_dir=DATA_MOUNT / "data", files_dir=FILES_MOUNT)

    def certificate_hosts(self, group: Group) -> tuple[tuple[str, ...], tuple[str, ...]]:
        base = f"{service_name(group)}.{self._namespace(group)}.svc"
        return (f"*.{base}", f"*.{base}.{self.cluster_domain}", base, "localhost"), ("127.0.0.1",)

    async def ensure(self, spec: ComponentSpec) -> bool:
        if spec.init_argv is not None:
            raise UnsupportedError(
                "seeding data with an init command is not supported by the kubernetes runtime"
            )
        namespace = self._namespace(spec.group)
        for manifest in (
            render_service(spec.group, namespace),
            render_files_secret(spec, namespace),
            render_pvc(spec, namespace),
        ):
            await self._apply(manifest)
        pod = await self._get(Pod, spec.name, namespace)
        if pod is not None:
            annotations = (pod.metadata.annotations or {}) if pod.metadata else {}
            if annotations.get(REVISION_ANNOTATION) == spec.revision:
                return False
            if pod.metadata is not None and pod.metadata.deletionTimestamp is None:
                await self.client.delete(Pod, spec.name, namespace=namespace, grace_period=0)
            return True  # created on a later pass, once the old Pod is gone
        await self._apply(render_pod(spec, namespace))
        return True

    async def stop(self, group: Group, name: str, *, wipe_data: bool = False) -> None:
        namespace = self._namespace(group)
        await self._delete(Pod, name, namespace)
        if wipe_data:
            await self._delete(PersistentVolumeClaim, pvc_name(name), namespace)
            await self._delete(Secret, files_secret_name(name), namespace)

    async def state(self, group: Group, name: str) -> ComponentState:
        namespace = self._namespace(group)
        pod = await self._get(Pod, name, namespace)
        pvc = await self._get(PersistentVolumeClaim, pvc_name(name), namespace)
        phase = None if pod is None or pod.status is None else pod.status.phase
        annotations: Mapping[str, str] = {}
        if pod is not None and pod.metadata is not None:
            annotations = pod.metadata.annotations or {}
        return ComponentState(
            name=name,
            exists=pod is not None or pvc is not None,
            running=phase == "Running",
            data_present=pvc is not None,
            revision=annotations.get(REVISION_ANNOTATION),
            detail="" if pod is None else f"pod phase {phase}",
        )

    async def names(self, group: Group) -> list[str]:
        namespace = self._namespace(group)
        selector: dict[str, Any] = dict(group_labels(group))
        found: set[str] = set()
        async for pod in self.client.list(Pod, namespace=namespace, labels=selector):
            found.add(_component_of(pod))
        async for pvc in self.client.list(PersistentVolumeClaim, namespace=namespace, labels=selector):
            found.add(_component_of(pvc))
        found.discard("")
        return sorted(found)

    async def remove_group(self, group: Group) -> None:
        namespace = self._namespace(group)
        for name in await self.names(group):
            await self.stop(group, name, wipe_data=True)
        await self._delete(Service, service_name(group), namespace)

    async def _apply(self, manifest: dict[str, Any]) -> None:
        obj = codecs.from_dict(manifest)
        await self.client.apply(obj, field_manager=FIELD_MANAGER, force=True)

    async def _get(self, resource: Any, name: str, namespace: str) -> Any | None:
        try:
            return await self.client.get(resource, name, namespace=namespace)
        except ApiError as error:
            if error.status.code == 404:
                return None
            raise

    async def _delete(self, resource: Any, name: str, namespace: str) -> None:
        try:
            await self.client.delete(resource, name, namespace=namespace)
        except ApiError as error:
            if error.status.code != 404:
                raise
