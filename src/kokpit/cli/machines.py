"""`kokpit machines get|describe|promote|drain` and `kokpit hosts get`: machines from the command line.

Everything is read from and written to the hub; `drain` also talks to the Machine's target cluster,
through the kubeconfig the hub keeps for it (the same one the controllers use). Rows are built by
pure functions (`machine_row`, `set_row`, `host_row`), so what a table shows is tested without a
cluster.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
import yaml
from lightkube import AsyncClient
from lightkube.types import PatchType
from rich.console import Console
from rich.table import Table

from kokpit.api.machine import HOST, MACHINE, MACHINE_SET
from kokpit.cli.errors import fail
from kokpit.cli.kubeconfig import HubAliasOption, HubOption, hub_choice, hub_client
from kokpit.cli.show import (
    AllNamespacesOption,
    NamespaceOption,
    OutputOption,
    age,
    as_plain,
    condition_of,
    recent_events,
)
from kokpit.errors import KokpitError
from kokpit.machines.drain import DrainResult, cordon, drain, drain_condition, listing
from kokpit.machines.health_plan import DONE_ANNOTATION, REMEDIATION_ANNOTATION, REQUESTED_ANNOTATION
from kokpit.machines.machineset_plan import PROMOTED_ANNOTATION, REVISION_LABEL, SET_LABEL, revision_of
from kokpit.machines.targets import TargetUnavailable, target_cluster_access
from kokpit.runtime import get_or_none
from kokpit.runtime.resources import resource_class

app = typer.Typer(
    help="Machines: real nodes kokpit prepares, joins and keeps consistent.", no_args_is_help=True
)
hosts_app = typer.Typer(help="Hosts: the machines kokpit may claim.", no_args_is_help=True)

MachineResource = resource_class(MACHINE)
MachineSetResource = resource_class(MACHINE_SET)
HostResource = resource_class(HOST)

OUTPUTS = ("table", "yaml", "json")


# -- rows (pure) ------------------------------------------------------------------------------------


def _parts(obj: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]:
    return obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}


def components_cell(machine: Mapping[str, Any]) -> str:
    """`components_cell` is `kubelet=v1.36.5,containerd=2.4.2` from the status (what is installed),
    a component not healthy marked with `!`, one still to install with `?`."""
    installed = {str(c.get("name")): c for c in (machine.get("status") or {}).get("components") or []}
    cells = []
    for wanted in (machine.get("spec") or {}).get("components") or []:
        name = str(wanted.get("name"))
        found = installed.get(name)
        if found is None or not found.get("version"):
            cells.append(f"{name}=?{wanted.get('version', '')}")
            continue
        mark = "" if found.get("healthy") else "!"
        cells.append(f"{name}={found.get('version')}{mark}")
    return ",".join(cells)


MACHINE_COLUMNS = ("NAME", "SET", "HOST", "NODE", "PHASE", "READY", "REVISION", "COMPONENTS", "AGE")


def machine_row(machine: Mapping[str, Any], now: datetime) -> list[str]:
    """`machine_row` is one line of `kokpit machines get`."""
    metadata, spec, status = (
        machine.get("metadata") or {},
        machine.get("spec") or {},
        machine.get("status") or {},
    )
    labels = metadata.get("labels") or {}
    phase = str(status.get("phase") or "")
    remediation = (metadata.get("annotations") or {}).get(REMEDIATION_ANNOTATION)
    if remediation:
        phase = f"{phase} ({remediation})" if phase else f"({remediation})"
    return [
        str(metadata.get("name", "")),
        str(labels.get(SET_LABEL, "")),
        str((spec.get("hostRef") or {}).get("name", "")),
        str((status.get("nodeRef") or {}).get("name", "")),
        phase,
        str(condition_of(machine, "Ready").get("status", "")),
        str(labels.get(REVISION_LABEL, "")),
        components_cell(machine),
        age(metadata.get("creationTimestamp"), now),
    ]


SET_COLUMNS = ("NAME", "REPLICAS", "READY", "UPDATED", "REVISION", "PAUSED", "STATUS", "AGE")


def set_row(machine_set: Mapping[str, Any], now: datetime) -> list[str]:
    """`set_row` is one line of `kokpit machines get --sets`: the set, and why it is not Ready."""
    metadata, spec, status = _parts(machine_set)
    ready = condition_of(machine_set, "Ready")
    paused = condition_of(machine_set, "Paused")
    note = str(ready.get("reason", ""))
    if paused.get("status") == "True":
        note = str(paused.get("reason", ""))
    return [
        str(metadata.get("name", "")),
        str(spec.get("replicas", "")),
        str(status.get("readyReplicas", 0)),
        str(status.get("updatedReplicas", 0)),
        str(status.get("revision", "")),
        "yes" if status.get("paused") else "",
        note,
        age(metadata.get("creationTimestamp"), now),
    ]


HOST_COLUMNS = ("NAME", "ADDRESS", "PHASE", "MACHINE", "REACHABLE", "OS", "ARCH", "AGE")


def host_row(host: Mapping[str, Any], now: datetime) -> list[str]:
    """`host_row` is one line of `kokpit hosts get`."""
    metadata, spec, status = _parts(host)
    address = str(spec.get("address", ""))
    port = spec.get("port")
    if port and port != 22:
        address = f"{address}:{port}"
    return [
        str(metadata.get("name", "")),
        address,
        str(status.get("phase", "")),
        str((status.get("machineRef") or {}).get("name", "")),
        str(condition_of(host, "Reachable").get("status", "")),
        str(status.get("distribution") or status.get("os") or ""),
        str(status.get("architecture", "")),
        age(metadata.get("creationTimestamp"), now),
    ]


def describe_machine(machine: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> str:
    """`describe_machine` is the text of `kokpit machines describe` for a Machine: where it runs, each
    component (version, digest, health, message), the remediation record, conditions, Events."""
    metadata, spec, status = (
        machine.get("metadata") or {},
        machine.get("spec") or {},
        machine.get("status") or {},
    )
    annotations = metadata.get("annotations") or {}
    cluster = spec.get("clusterRef") or {}
    lines = [
        f"Machine:    {metadata.get('namespace', '')}/{metadata.get('name', '')}",
        f"Set:        {(metadata.get('labels') or {}).get(SET_LABEL, '-')}"
        f"  revision {(metadata.get('labels') or {}).get(REVISION_LABEL, '-')}",
        f"Host:       {(spec.get('hostRef') or {}).get('name', '-')}",
        f"Cluster:    {cluster.get('kind', '')} {cluster.get('name', '')}",
        f"Node:       {(status.get('nodeRef') or {}).get('name', '-')}",
        f"Phase:      {status.get('phase', '-')}",
    ]
    if annotations.get(REMEDIATION_ANNOTATION):
        lines.append(
            f"Remediation: {annotations[REMEDIATION_ANNOTATION]} requested "
            f"{annotations.get(REQUESTED_ANNOTATION, '?')}, done {annotations.get(DONE_ANNOTATION, '-')}"
        )
    lines.append("Components:")
    installed = {str(c.get("name")): c for c in status.get("components") or []}
    for wanted in spec.get("components") or []:
        name = str(wanted.get("name"))
        found = installed.get(name, {})
        digest = str(found.get("digest") or "")
        health = "healthy" if found.get("healthy") else "not healthy"
        lines.append(
            f"  {name:<16} want {wanted.get('version', ''):<10} have {found.get('version') or '-':<10} "
            f"{digest[:19] or '-':<19} {health}"
        )
        if found.get("message"):
            for text in str(found["message"]).splitlines()[-5:]:
                lines.append(f"      {text}")
    lines.append("Conditions:")
    for condition in status.get("conditions") or []:
        lines.append(
            f"  {condition.get('type')}={condition.get('status')} {condition.get('reason', '')}: "
            f"{condition.get('message', '')}"
        )
    if events:
        lines.append("Events:")
        for event in events:
            lines.append(f"  {event.get('type', '')} {event.get('reason', '')}: {event.get('note', '')}")
    return "\n".join(lines)


def describe_set(machine_set: Mapping[str, Any], machines: Sequence[Mapping[str, Any]], now: datetime) -> str:
    """`describe_machine`'s counterpart for a MachineSet: counts, revision, canary, conditions and
    its Machines."""
    metadata, spec, status = _parts(machine_set)
    strategy = spec.get("strategy") or {}
    promoted = (metadata.get("annotations") or {}).get(PROMOTED_ANNOTATION, "-")
    lines = [
        f"MachineSet: {metadata.get('namespace', '')}/{metadata.get('name', '')}",
        f"Replicas:   {spec.get('replicas', '')} wanted, {status.get('readyReplicas', 0)} ready, "
        f"{status.get('updatedReplicas', 0)} updated",
        f"Revision:   {status.get('revision', '-')} (promoted {promoted})"
        + ("  PAUSED" if status.get("paused") else ""),
        f"Strategy:   maxUnavailable {strategy.get('maxUnavailable', 1)}, canary {strategy.get('canary', 0)}",
        "Conditions:",
    ]
    for condition in status.get("conditions") or []:
        lines.append(
            f"  {condition.get('type')}={condition.get('status')} {condition.get('reason', '')}: "
            f"{condition.get('message', '')}"
        )
    lines.append("Machines:")
    for machine in machines:
        lines.append("  " + "  ".join(machine_row(machine, now)))
    return "\n".join(lines)


def promotion_patch(machine_set: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """`promotion_patch` is the revision of the set's template now and the merge patch that promotes
    it (what the controller compares its canary gate with)."""
    template = ((machine_set.get("spec") or {}).get("template") or {}).get("spec") or {}
    revision = revision_of(template)
    return revision, {"metadata": {"annotations": {PROMOTED_ANNOTATION: revision}}}


# -- commands -------------------------------------------------------------------------------------


def _print(items: list[dict[str, Any]], output: str, columns: Sequence[str], row: Any) -> None:
    if output == "json":
        typer.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2, default=str))
        return
    if output == "yaml":
        typer.echo(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}, sort_keys=False))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column)
    now = datetime.now(UTC)
    for item in items:
        table.add_row(*row(item, now))
    Console(width=220, highlight=False).print(table)


def _check_output(output: str) -> None:
    if output not in OUTPUTS:
        fail(f"unknown output format {output!r} (use table, yaml or json)")


async def _list(
    client: AsyncClient, resource: Any, namespace: str | None, *, labels: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    try:
        items = [
            as_plain(item) async for item in client.list(resource, namespace=namespace or "*", labels=labels)
        ]
    finally:
        await client.close()
    return sorted(items, key=lambda i: (i["metadata"].get("namespace", ""), i["metadata"]["name"]))


@app.command("get")
def get(
    machine_set: Annotated[
        str | None, typer.Option("--set", help="Only the Machines of this MachineSet.")
    ] = None,
    sets: Annotated[bool, typer.Option("--sets", help="List MachineSets instead of Machines.")] = False,
    namespace: NamespaceOption = "default",
    all_namespaces: AllNamespacesOption = False,
    output: OutputOption = "table",
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """List Machines (host, node, phase, revision, installed components), or MachineSets with --sets."""
    _check_output(output)
    client = hub_client(hub_choice(hub, hub_alias))
    where = None if all_namespaces else namespace
    if sets:
        items = asyncio.run(_list(client, MachineSetResource, where))
        _print(items, output, SET_COLUMNS, set_row)
        return
    labels: dict[str, Any] | None = {SET_LABEL: machine_set} if machine_set else None
    items = asyncio.run(_list(client, MachineResource, where, labels=labels))
    _print(items, output, MACHINE_COLUMNS, machine_row)


@app.command("describe")
def describe(
    name: Annotated[str, typer.Argument(help="A Machine, or a MachineSet.")],
    namespace: NamespaceOption = "default",
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Show a Machine (components with version, digest and health; conditions; Events), or a
    MachineSet and its Machines."""
    client = hub_client(hub_choice(hub, hub_alias))

    async def go() -> str:
        try:
            machine = await get_or_none(client, MachineResource, name, namespace=namespace)
            if machine is not None:
                plain = as_plain(machine)
                return describe_machine(plain, await recent_events(client, namespace, name, MACHINE.kind))
            machine_set = await get_or_none(client, MachineSetResource, name, namespace=namespace)
            if machine_set is None:
                raise KokpitError(f"no Machine or MachineSet {name!r} in namespace {namespace}")
            machines = [
                as_plain(m)
                async for m in client.list(MachineResource, namespace=namespace, labels={SET_LABEL: name})
            ]
            return describe_set(
                as_plain(machine_set),
                sorted(machines, key=lambda m: m["metadata"]["name"]),
                datetime.now(UTC),
            )
        finally:
            await client.close()

    typer.echo(asyncio.run(go()))


@app.command("promote")
def promote(
    machine_set: Annotated[str, typer.Argument(help="The MachineSet whose canary is promoted.")],
    namespace: NamespaceOption = "default",
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Let a paused MachineSet roll its current revision to the rest of its Machines."""
    client = hub_client(hub_choice(hub, hub_alias))

    async def go() -> tuple[str, bool]:
        try:
            obj = await get_or_none(client, MachineSetResource, machine_set, namespace=namespace)
            if obj is None:
                raise KokpitError(f"no MachineSet {machine_set!r} in namespace {namespace}")
            plain = as_plain(obj)
            revision, patch = promotion_patch(plain)
            paused = bool((plain.get("status") or {}).get("paused"))
            await client.patch(
                MachineSetResource, machine_set, patch, namespace=namespace, patch_type=PatchType.MERGE
            )
            return revision, paused
        finally:
            await client.close()

    revision, paused = asyncio.run(go())
    note = "" if paused else " (it was not paused: the revision is promoted ahead of its canary)"
    typer.echo(f"machineset/{machine_set}: revision {revision} promoted{note}")


@app.command("drain")
def drain_command(
    machine: Annotated[str, typer.Argument(help="The Machine whose node is drained.")],
    namespace: NamespaceOption = "default",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the pods to go.")] = 300.0,
    grace_period: Annotated[
        int | None, typer.Option("--grace-period", help="Seconds each pod gets to stop (default: its own).")
    ] = None,
    uncordon: Annotated[
        bool, typer.Option("--uncordon", help="Make the node schedulable again instead of draining it.")
    ] = False,
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Cordon a Machine's node and evict its pods (PodDisruptionBudgets honoured; DaemonSet and mirror
    pods stay), waiting until they are gone."""
    client = hub_client(hub_choice(hub, hub_alias))

    async def go() -> DrainResult | str:
        try:
            obj = await get_or_none(client, MachineResource, machine, namespace=namespace)
            if obj is None:
                raise KokpitError(f"no Machine {machine!r} in namespace {namespace}")
            plain = as_plain(obj)
            node = ((plain.get("status") or {}).get("nodeRef") or {}).get("name")
            if not node:
                raise KokpitError(f"machine {machine} has no node yet")
            ref = (plain.get("spec") or {}).get("clusterRef") or {}
            try:
                access = await target_cluster_access(
                    client,
                    kind=str(ref.get("kind", "")),
                    name=str(ref.get("name", "")),
                    namespace=str(ref.get("namespace") or namespace),
                )
            except TargetUnavailable as error:
                raise KokpitError(f"{error.reason}: {error}") from None
        finally:
            await client.close()
        target = access.client()
        try:
            if uncordon:
                if not await cordon(target, str(node), unschedulable=False):
                    raise KokpitError(f"node {node} does not exist")
                return str(node)
            return await drain(target, str(node), timeout=timeout, grace_period=grace_period)
        finally:
            await target.close()

    result = asyncio.run(go())
    if isinstance(result, str):
        typer.echo(f"node/{result} uncordoned")
        return
    condition = drain_condition(result)
    if not result.done:
        fail(f"{condition.reason}: {condition.message}")
    if not result.node_found:
        fail(f"node {result.node} does not exist")
    typer.echo(
        f"node/{result.node} drained: evicted {len(result.evicted)} pod(s)"
        + (f" ({listing(result.evicted)})" if result.evicted else "")
        + (f"; skipped {listing(result.skipped)}" if result.skipped else "")
    )


@hosts_app.command("get")
def get_hosts(
    namespace: NamespaceOption = "default",
    all_namespaces: AllNamespacesOption = False,
    output: OutputOption = "table",
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """List Hosts: address, Available or Claimed (and by which Machine), reachable, platform."""
    _check_output(output)
    client = hub_client(hub_choice(hub, hub_alias))
    items = asyncio.run(_list(client, HostResource, None if all_namespaces else namespace))
    _print(items, output, HOST_COLUMNS, host_row)
