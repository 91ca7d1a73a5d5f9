"""A Machine holds its Host: the claim, the Host's status, and the SSH target built from Host + Secret.

A Host is claimed by writing `status.phase: Claimed` and `status.machineRef` with the Host's
resourceVersion as a precondition, so when two Machines (say, of a MachineSet scaling out in
parallel) go for one Host, exactly one wins and the other sees `HostClaimed`. A claim by a Machine
that no longer exists is stale and taken over. Freeing writes `phase: Available` without machineRef.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from kokpit.api.machine import HOST, HostPhase
from kokpit.machines.facts import HostFacts
from kokpit.machines.ssh import SSHTarget
from kokpit.runtime import FIELD_MANAGER, Condition, get_or_none, status_writer
from kokpit.runtime.resources import resource_class

HostResource = resource_class(HOST)

PRIVATE_KEY = "ssh-privatekey"
REACHABLE = "Reachable"


class HostProblem(Exception):
    """The Host cannot be used now; `reason` is the HostReachable reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def claimed_by(host: Any) -> str | None:
    """`claimed_by` is the name of the Machine named in the Host's status, None when free."""
    ref = (host.get("status") or {}).get("machineRef") or {}
    return str(ref["name"]) if ref.get("name") else None


def claim_problem(host: Any, machine: str, machine_exists: Callable[[str], bool]) -> str | None:
    """`claim_problem` says why `machine` may not take `host` (another live Machine holds it), or None
    (free, already ours, or held by a Machine that is gone)."""
    holder = claimed_by(host)
    if holder is None or holder == machine or not machine_exists(holder):
        return None
    return f"Host {host.metadata.name} is claimed by Machine {holder}"


async def claim(client: AsyncClient, host: Any, machine: str) -> Any:
    """`claim` marks `host` as held by `machine` unless it already is; the write carries the Host's
    resourceVersion, so a concurrent claim fails with 409 (the reconcile retries and sees the
    winner). Returns the Host as it now is."""
    status = host.get("status") or {}
    if claimed_by(host) == machine and status.get("phase") == HostPhase.CLAIMED:
        return host
    namespace, name = str(host.metadata.namespace), str(host.metadata.name)
    body = {
        "apiVersion": HOST.api_version,
        "kind": HOST.kind,
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": host.metadata.resourceVersion},
        "status": {**_kept(status), "phase": HostPhase.CLAIMED.value, "machineRef": {"name": machine}},
    }
    return await client.patch(
        HostResource.Status,
        name,
        body,
        namespace=namespace,
        patch_type=PatchType.APPLY,
        field_manager=FIELD_MANAGER,
        force=True,
    )


def _kept(status: dict[str, Any]) -> dict[str, Any]:
    """The facts a claim keeps (the claim is an apply of the whole status kokpit owns)."""
    return {k: status[k] for k in ("os", "distribution", "architecture") if k in status}


async def record_host(
    client: AsyncClient,
    host: Any,
    machine: str | None,
    *,
    reachable: Condition | None = None,
    facts: HostFacts | None = None,
) -> None:
    """`record_host` writes the Host's status: Claimed by `machine` (Available when None), its facts
    and its Reachable condition (each kept from before when not given)."""
    async with status_writer(client, HostResource, host, owned=(REACHABLE,)) as patch:
        fields: dict[str, Any] = patch.current_fields("os", "distribution", "architecture")
        if facts is not None:
            fields.update(os=facts.os, distribution=facts.distribution, architecture=facts.architecture)
        fields["phase"] = (HostPhase.CLAIMED if machine else HostPhase.AVAILABLE).value
        if machine:
            fields["machineRef"] = {"name": machine}
        fields["observedGeneration"] = host.metadata.generation
        patch.fields.update(fields)
        if reachable is not None:
            patch.set(reachable)


async def free(client: AsyncClient, host: Any, machine: str) -> None:
    """`free` makes `host` Available again if `machine` holds it (a Host claimed by another Machine is
    left alone)."""
    if claimed_by(host) not in (None, machine):
        return
    namespace, name = str(host.metadata.namespace), str(host.metadata.name)
    # A merge patch with null removes machineRef whoever wrote it (an apply only drops fields it owns).
    await client.patch(
        HostResource.Status,
        name,
        {"status": {"phase": HostPhase.AVAILABLE.value, "machineRef": None}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )


async def ssh_target(client: AsyncClient, host: Any) -> SSHTarget:
    """`ssh_target` is how to log in to `host`: its spec and the private key of its Secret. Raises
    `HostProblem` (CredentialsMissing) when the Secret or its key is missing."""
    spec = host.get("spec") or {}
    namespace, name = str(host.metadata.namespace), str(host.metadata.name)
    secret_name = str((spec.get("credentialsSecretRef") or {}).get("name") or "")
    secret = await get_or_none(client, Secret, secret_name, namespace=namespace) if secret_name else None
    if secret is None:
        raise HostProblem(
            "CredentialsMissing", f"Host {name}: credentials Secret {namespace}/{secret_name} does not exist"
        )
    data = (secret.data or {}).get(PRIVATE_KEY)
    if not data:
        raise HostProblem(
            "CredentialsMissing", f"Host {name}: Secret {namespace}/{secret_name} has no {PRIVATE_KEY!r} key"
        )
    return SSHTarget(
        name=f"{namespace}/{name}",
        address=str(spec.get("address") or ""),
        port=int(spec.get("port") or 22),
        user=str(spec.get("user") or "root"),
        host_key=str(spec.get("hostKey") or ""),
        private_key=base64.b64decode(data),
    )
