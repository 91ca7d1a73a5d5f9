"""`kokpit get components` and `kokpit describe component`: Components as their users see them.

Both read the hub only (a Component's status already carries what each cluster reported), and both
take `-w` to keep going: `get -w` prints a row whenever a Component changes, as `kubectl get -w`
does; `describe -w` prints the whole description again whenever the Component or one of its Events
changes, so a rollout can be followed without re-running the command. Formatting is pure (rows and
text from plain objects) so it is unit-tested without a cluster.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
import yaml
from lightkube import AsyncClient
from lightkube.resources.events_v1 import Event
from rich.console import Console
from rich.table import Table

from kokpit.api.component import COMPONENT
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
from kokpit.components.controller import CONTROLLER_ID_LABEL, UNMANAGED_ANNOTATION
from kokpit.errors import KokpitError
from kokpit.runtime import get_or_none
from kokpit.runtime.resources import resource_class

ComponentResource = resource_class(COMPONENT)

WatchOption = Annotated[bool, typer.Option("--watch", "-w", help="Keep printing as things change.")]

COLUMNS = ("NAME", "LANGUAGE", "WORKLOAD", "CLUSTERS", "READY", "AVAILABLE", "PROGRESSING", "AGE")
WATCH_WIDTHS = (24, 9, 12, 9, 7, 10, 12, 5)
"""Column widths of `get -w`: its rows are printed one by one, so they cannot be measured first."""
CLUSTER_COLUMNS = ("CLUSTER", "TEMPLATE", "RENDERED", "APPLIED", "REPLICAS", "READY", "AVAILABLE", "IMAGE")

describe_app = typer.Typer(help="Show one kokpit resource in detail.", no_args_is_help=True)


def component_row(component: Mapping[str, Any], now: datetime, *, namespaced: bool = False) -> list[str]:
    """`component_row` is one line of `kokpit get components`; with `namespaced` the namespace leads."""
    metadata, spec, status = (
        component.get("metadata") or {},
        component.get("spec") or {},
        component.get("status") or {},
    )
    progressing = condition_of(component, "Progressing")
    row = [
        str(metadata.get("name", "")),
        str(spec.get("language", "")),
        str(spec.get("workloadType", "")),
        str(len(status.get("clusters") or [])),
        f"{status.get('readyReplicas', 0)}/{status.get('replicas', 0)}" if status else "",
        str(condition_of(component, "Available").get("status", "")),
        str(progressing.get("reason") or progressing.get("status") or ""),
        age(metadata.get("creationTimestamp"), now),
    ]
    return [str(metadata.get("namespace", "")), *row] if namespaced else row


def watch_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    """`watch_line` pads `cells` to `widths` (a cell longer than its column pushes the rest right)."""
    padded = [cell.ljust(width) for cell, width in zip(cells[:-1], widths[:-1], strict=False)]
    return "  ".join([*padded, cells[-1]]).rstrip() if cells else ""


def _yes(value: Any) -> str:
    return {True: "yes", False: "no"}.get(value, "-")


def cluster_rows(component: Mapping[str, Any]) -> list[list[str]]:
    """`cluster_rows` is the per-cluster table of `describe`, one row per placed cluster."""
    rows = []
    for entry in (component.get("status") or {}).get("clusters") or []:
        rows.append(
            [
                str(entry.get("name", "")),
                str(entry.get("template") or "-"),
                _yes(entry.get("rendered")),
                _yes(entry.get("applied")),
                str(entry.get("replicas", "-")),
                str(entry.get("readyReplicas", "-")),
                str(entry.get("availableReplicas", "-")),
                str(entry.get("image") or "-"),
            ]
        )
    return rows


def _table_lines(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return [
        indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in (header, *rows)
    ]


def describe_component(component: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> str:
    """`describe_component` is the text of `kokpit describe component`: what was asked, whether kokpit
    manages it and in which controller group, each cluster's state, the conditions and recent Events."""
    metadata, spec, status = (
        component.get("metadata") or {},
        component.get("spec") or {},
        component.get("status") or {},
    )
    unmanaged = (metadata.get("annotations") or {}).get(UNMANAGED_ANNOTATION) == "true"
    group = (metadata.get("labels") or {}).get(CONTROLLER_ID_LABEL) or "default"
    exposure = spec.get("exposure") or {}
    lines = [
        f"Component:  {metadata.get('namespace', '')}/{metadata.get('name', '')}",
        f"Spec:       {spec.get('workloadType', '')} {spec.get('language', '')} {spec.get('runType', '')}, "
        f"image {spec.get('image', '')}" + (f", port {exposure['port']}" if exposure.get("port") else ""),
        f"Managed:    {'no (' + UNMANAGED_ANNOTATION + ' is true)' if unmanaged else 'yes'}, "
        f"controller group {group}",
        f"Replicas:   {status.get('replicas', 0)} wanted, {status.get('readyReplicas', 0)} ready, "
        f"{status.get('availableReplicas', 0)} available"
        + (
            f" (status of generation {status['observedGeneration']}, spec is {metadata.get('generation')})"
            if status.get("observedGeneration") not in (None, metadata.get("generation"))
            else ""
        ),
        "Clusters:",
    ]
    rows = cluster_rows(component)
    lines += _table_lines(CLUSTER_COLUMNS, rows, "  ") if rows else ["  (none reported yet)"]
    lines.append("Conditions:")
    for condition in status.get("conditions") or []:
        lines.append(
            f"  {condition.get('type')}={condition.get('status')} {condition.get('reason', '')}: "
            f"{condition.get('message', '')}"
        )
    lines.append("Events:")
    for event in events or ():
        count = ((event.get("series") or {}).get("count")) or 1
        lines.append(
            f"  {event.get('type', '')} {event.get('reason', '')}"
            + (f" (x{count})" if count > 1 else "")
            + f": {event.get('note', '')}"
        )
    if not events:
        lines.append("  (none)")
    return "\n".join(lines)


# -- commands -------------------------------------------------------------------------------------


def _check_output(output: str, watch: bool) -> None:
    if output not in ("table", "yaml", "json"):
        fail(f"unknown output format {output!r} (use table, yaml or json)")
    if watch and output != "table":
        fail("--watch prints a table: leave out -o")


def get_components(
    namespace: NamespaceOption = "default",
    all_namespaces: AllNamespacesOption = False,
    output: OutputOption = "table",
    watch: WatchOption = False,
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """List Components: language, workload, clusters, ready/wanted replicas, Available, progress."""
    _check_output(output, watch)
    client = hub_client(hub_choice(hub, hub_alias))
    where = "*" if all_namespaces else namespace
    if watch:
        asyncio.run(_watch_components(client, where, all_namespaces))
        return

    async def listed() -> list[dict[str, Any]]:
        try:
            return [as_plain(c) async for c in client.list(ComponentResource, namespace=where)]
        finally:
            await client.close()

    items = sorted(
        asyncio.run(listed()), key=lambda c: (c["metadata"].get("namespace", ""), c["metadata"]["name"])
    )
    if output == "json":
        typer.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=2))
        return
    if output == "yaml":
        typer.echo(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}, sort_keys=False))
        return
    if not items:
        typer.echo("No Components found" + ("." if all_namespaces else f" in namespace {namespace}."))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("NAMESPACE", *COLUMNS) if all_namespaces else COLUMNS:
        table.add_column(column)
    now = datetime.now(UTC)
    for item in items:
        table.add_row(*component_row(item, now, namespaced=all_namespaces))
    Console(width=220, highlight=False).print(table)


async def _watch_components(client: AsyncClient, where: str, namespaced: bool) -> None:
    """Prints the header, a row per Component there is, then a row per change, until interrupted."""
    header = ("NAMESPACE", *COLUMNS) if namespaced else COLUMNS
    widths = (20, *WATCH_WIDTHS) if namespaced else WATCH_WIDTHS
    typer.echo(watch_line(header, widths))
    try:
        async for kind, obj in client.watch(ComponentResource, namespace=where):
            if kind in ("ADDED", "MODIFIED"):
                row = component_row(as_plain(obj), datetime.now(UTC), namespaced=namespaced)
                typer.echo(watch_line(row, widths))
    finally:
        await client.close()


def describe_component_command(
    name: Annotated[str, typer.Argument(help="The Component.")],
    namespace: NamespaceOption = "default",
    watch: WatchOption = False,
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Show a Component: each cluster's state, the conditions, recent Events (-w: on every change)."""
    client = hub_client(hub_choice(hub, hub_alias))

    async def go() -> None:
        try:
            shown = ""
            async for text in _descriptions(client, name, namespace, watch):
                if text != shown:
                    typer.echo(("-" * 40 + "\n" if shown else "") + text, nl=True)
                    shown = text
        finally:
            await client.close()

    asyncio.run(go())


async def _description(client: AsyncClient, name: str, namespace: str) -> str:
    component = await get_or_none(client, ComponentResource, name, namespace=namespace)
    if component is None:
        raise KokpitError(f"no Component {name!r} in namespace {namespace}")
    return describe_component(
        as_plain(component), await recent_events(client, namespace, name, COMPONENT.kind)
    )


async def _descriptions(client: AsyncClient, name: str, namespace: str, watch: bool) -> AsyncIterator[str]:
    """The description now and, with `watch`, after every change of the Component or its Events."""
    yield await _description(client, name, namespace)
    if not watch:
        return
    changed: asyncio.Queue[None] = asyncio.Queue()

    async def follow(resource: Any, fields: dict[str, Any]) -> None:
        async for _ in client.watch(resource, namespace=namespace, fields=fields):
            changed.put_nowait(None)

    watches = [
        asyncio.create_task(follow(ComponentResource, {"metadata.name": name})),
        asyncio.create_task(follow(Event, {"regarding.name": name, "regarding.kind": COMPONENT.kind})),
    ]
    try:
        while True:
            waiting = asyncio.create_task(changed.get())
            done, _ = await asyncio.wait([waiting, *watches], return_when=asyncio.FIRST_COMPLETED)
            for task in done - {waiting}:
                task.result()  # a watch that ended raised: let the error through
            if waiting not in done:
                waiting.cancel()
                continue
            while not changed.empty():  # a burst of changes is one new description
                changed.get_nowait()
            yield await _description(client, name, namespace)
    finally:
        for task in watches:
            task.cancel()
