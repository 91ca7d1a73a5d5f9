"""The etcd of a hosted cluster: an owned EtcdCluster (size 1 or 3), or a key prefix in a shared one.

The etcd operator (`kokpit.etcd`) runs the members; this module only asks for the EtcdCluster and
reads back what the API server needs: the client endpoints, once the cluster is Available, and the
client certificate from the operator's client Secret.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from kokpit.api.hostedcluster import HostedClusterSpec, HostedRuntime
from kokpit.etcd.names import client_secret_name
from kokpit.etcd.resources import EtcdClusterResource
from kokpit.hosted import names
from kokpit.hosted.components import EtcdAccess
from kokpit.runtime import apply, delete_if_present, get_condition, get_or_none

DEFAULT_PREFIX = "/registry"


@dataclass(frozen=True)
class EtcdTarget:
    """Which EtcdCluster a hosted cluster uses and under which key prefix; `owned` if kokpit made it."""

    name: str
    prefix: str
    owned: bool


def target_of(namespace: str, name: str, spec: HostedClusterSpec) -> EtcdTarget:
    """`target_of` picks the EtcdCluster of a hosted cluster from its spec."""
    shared = spec.etcd.shared if spec.etcd else None
    if shared is not None:
        return EtcdTarget(shared.name, shared.prefix or names.etcd_prefix(namespace, name), owned=False)
    return EtcdTarget(names.etcd_cluster_name(name), DEFAULT_PREFIX, owned=True)


def etcd_manifest(owner: Any, spec: HostedClusterSpec, *, etcd_version: str) -> dict[str, Any]:
    """`etcd_manifest` is the dedicated EtcdCluster of the hosted cluster `owner`, owned by it."""
    meta = owner.metadata
    etcd_spec: dict[str, Any] = {
        "size": (spec.etcd.size if spec.etcd and spec.etcd.size else 1),
        "version": etcd_version,
        "runtime": spec.runtime.value,
    }
    if spec.runtime is HostedRuntime.KUBERNETES and spec.meta_cluster:
        etcd_spec["metaCluster"] = spec.meta_cluster
    return {
        "apiVersion": "etcd.kokpit.io/v1alpha1",
        "kind": "EtcdCluster",
        "metadata": {
            "name": names.etcd_cluster_name(str(meta.name)),
            "namespace": meta.namespace,
            "labels": {names.CLUSTER_LABEL: str(meta.name), **names.MANAGED_BY},
            "ownerReferences": [
                {
                    "apiVersion": owner.apiVersion,
                    "kind": owner.kind,
                    "name": meta.name,
                    "uid": meta.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": etcd_spec,
    }


async def ensure_owned(
    client: AsyncClient, owner: Any, spec: HostedClusterSpec, *, etcd_version: str
) -> None:
    """`ensure_owned` applies the dedicated EtcdCluster (server-side apply, field manager kokpit)."""
    await apply(
        client,
        EtcdClusterResource.from_dict(etcd_manifest(owner, spec, etcd_version=etcd_version)),
        force=True,
    )


@dataclass(frozen=True)
class EtcdReadiness:
    """Whether the API server can be started against the etcd, and with what."""

    access: EtcdAccess | None
    reason: str
    message: str


async def read_access(client: AsyncClient, namespace: str, target: EtcdTarget) -> EtcdReadiness:
    """`read_access` returns the access once the EtcdCluster is Available and its client Secret exists."""
    etcd = await get_or_none(client, EtcdClusterResource, target.name, namespace=namespace)
    if etcd is None:
        return EtcdReadiness(None, "EtcdMissing", f"EtcdCluster {namespace}/{target.name} does not exist")
    status = dict(etcd.get("status") or {})
    available = get_condition(status.get("conditions"), "Available")
    endpoints = [str(e) for e in status.get("clientEndpoints") or []]
    if available is None or available.get("status") != "True" or not endpoints:
        why = (available or {}).get("message") or status.get("phase") or "no status yet"
        return EtcdReadiness(None, "EtcdNotAvailable", f"EtcdCluster {target.name} not available: {why}")
    secret = await get_or_none(client, Secret, client_secret_name(target.name), namespace=namespace)
    if secret is None:
        return EtcdReadiness(
            None, "EtcdCredentialsMissing", f"no client Secret for EtcdCluster {target.name}"
        )
    data = secret.data or {}
    access = EtcdAccess(
        endpoints=tuple(endpoints),
        prefix=target.prefix,
        ca_pem=base64.b64decode(data["ca.crt"]),
        cert_pem=base64.b64decode(data["tls.crt"]),
        key_pem=base64.b64decode(data["tls.key"]),
    )
    members = f"{len(endpoints)} member{'s' if len(endpoints) != 1 else ''}"
    return EtcdReadiness(access, "EtcdAvailable", f"EtcdCluster {target.name} available ({members})")


async def delete_owned(client: AsyncClient, namespace: str, target: EtcdTarget) -> None:
    """`delete_owned` deletes the dedicated EtcdCluster (its operator stops the members); no-op if gone."""
    if not target.owned:
        return
    await delete_if_present(client, EtcdClusterResource, target.name, namespace=namespace)
