"""What the controller does inside a hosted cluster, through its admin client: health, kwok nodes, addons.

Addons are server-side applied (field manager kokpit) and pruned from an inventory kept in the
cluster itself (ConfigMap `kube-system/kokpit-addons`: per addon its version, a hash of what was
applied, and the objects), so an unchanged addon costs one read per pass and a removed one leaves
nothing behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightkube import ApiError, AsyncClient, codecs
from lightkube.core.resource_registry import resource_registry
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, ServiceAccount

from kokpit.controlplane import kwok
from kokpit.controlplane.kwok import NODE_CPU, NODE_MEMORY, NODE_PODS
from kokpit.hosted import names
from kokpit.hosted.addons import RenderedAddon, object_ref, parse_ref, to_prune
from kokpit.runtime import delete_if_present, get_or_none
from kokpit.runtime.raw import get_raw
from kokpit.runtime.resources import PlainNode

INVENTORY = ("kube-system", "kokpit-addons")


async def readyz(client: AsyncClient) -> tuple[bool, str]:
    """`readyz` asks the API server's /readyz; (ready, detail)."""
    try:
        response = await get_raw(client, "/readyz", timeout=3.0)
    except Exception as error:
        return False, f"{type(error).__name__}: {error}".strip(": ")
    if response.status_code == 200:
        return True, "ok"
    return False, f"/readyz answered HTTP {response.status_code}"


async def server_version(client: AsyncClient) -> str | None:
    """`server_version` is /version's gitVersion, None when it does not answer."""
    try:
        response = await get_raw(client, "/version", timeout=3.0)
    except Exception:
        return None
    return str(response.json().get("gitVersion")) if response.status_code == 200 else None


async def default_service_account(client: AsyncClient) -> bool:
    """Pods can be created once the default namespace's service account exists."""
    try:
        await client.get(ServiceAccount, "default", namespace="default")
    except ApiError:
        return False
    return True


async def ensure_nodes(client: AsyncClient, cluster: str, count: int) -> tuple[int, int]:
    """`ensure_nodes` creates the missing kwok nodes `<cluster>-node-<i>` (i < count), deletes kokpit's
    nodes beyond, and returns (ready nodes, wanted nodes)."""
    wanted = [names.node_name(cluster, i) for i in range(count)]
    existing: dict[str, dict[str, Any]] = {}
    async for found in client.list(PlainNode, labels={names.NODE_LABEL: "true"}):
        existing[str(found["metadata"]["name"])] = dict(found)
    for name in wanted:
        if name not in existing:
            manifest = kwok.fake_node(
                name, cpu=NODE_CPU, memory=NODE_MEMORY, pods=NODE_PODS, labels={names.NODE_LABEL: "true"}
            )
            try:
                await client.create(PlainNode.from_dict(manifest))
            except ApiError as error:
                if error.status.code != 409:
                    raise
    for name in sorted(set(existing) - set(wanted)):
        await delete_if_present(client, PlainNode, name)
    ready = 0
    for name in wanted:
        conditions = ((existing.get(name) or {}).get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            ready += 1
    return ready, len(wanted)


async def ready_real_nodes(client: AsyncClient) -> int:
    """`ready_real_nodes` counts the Ready Nodes that are not kokpit's kwok nodes (machines)."""
    ready = 0
    async for found in client.list(PlainNode):
        if ((found.get("metadata") or {}).get("labels") or {}).get(names.NODE_LABEL) == "true":
            continue
        conditions = (found.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            ready += 1
    return ready


@dataclass(frozen=True)
class InventoryEntry:
    """What was applied for one addon."""

    version: str
    digest: str
    refs: tuple[str, ...]


def digest(rendered: RenderedAddon) -> str:
    """`digest` identifies what an addon renders to (a change means: apply again)."""
    text = json.dumps([rendered.version, list(rendered.objects)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def read_inventory(client: AsyncClient) -> dict[str, InventoryEntry]:
    """`read_inventory` reads the addon inventory; empty when there is none yet."""
    config = await get_or_none(client, ConfigMap, INVENTORY[1], namespace=INVENTORY[0])
    if config is None:
        return {}
    out: dict[str, InventoryEntry] = {}
    for name, text in (config.data or {}).items():
        try:
            data = json.loads(text)
            out[name] = InventoryEntry(str(data["version"]), str(data["digest"]), tuple(data["refs"]))
        except (ValueError, KeyError, TypeError):
            continue
    return out


async def _write_inventory(client: AsyncClient, inventory: Mapping[str, InventoryEntry]) -> None:
    data = {
        name: json.dumps({"version": e.version, "digest": e.digest, "refs": list(e.refs)})
        for name, e in sorted(inventory.items())
    }
    config = ConfigMap(
        metadata=ObjectMeta(name=INVENTORY[1], namespace=INVENTORY[0], labels=dict(names.MANAGED_BY)),
        data=data,
    )
    await client.apply(config, field_manager="kokpit", force=True)


async def _delete_ref(client: AsyncClient, ref: str) -> None:
    api_version, kind, namespace, name = parse_ref(ref)
    try:
        resource: Any = resource_registry.load(api_version, kind)
    except Exception:
        return  # a kind this client cannot name (e.g. its CRD is gone): nothing left to delete
    if resource is None:
        return
    await delete_if_present(client, resource, name, namespace=namespace or None)


async def sync_addons(client: AsyncClient, wanted: Sequence[RenderedAddon]) -> dict[str, InventoryEntry]:
    """`sync_addons` applies every addon whose rendering changed, prunes what is no longer rendered
    (objects dropped from an addon, and whole addons removed), and returns the new inventory."""
    inventory = await read_inventory(client)
    new: dict[str, InventoryEntry] = {}
    changed = False
    for rendered in wanted:
        entry = InventoryEntry(rendered.version, digest(rendered), tuple(_refs(rendered)))
        previous = inventory.get(rendered.name)
        if previous is None or previous.digest != entry.digest:
            for obj in rendered.objects:
                await client.apply(codecs.from_dict(obj), field_manager="kokpit", force=True)
            for ref in to_prune(previous.refs if previous else (), entry.refs):
                await _delete_ref(client, ref)
            changed = True
        new[rendered.name] = entry
    for name, entry in inventory.items():
        if name not in new:
            for ref in to_prune(entry.refs, ()):
                await _delete_ref(client, ref)
            changed = True
    if changed or (not inventory and new):
        await _write_inventory(client, new)
    return new


def _refs(rendered: RenderedAddon) -> list[str]:
    return [object_ref(obj) for obj in rendered.objects]
