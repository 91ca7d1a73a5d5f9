"""`kokpit join`, `kokpit unjoin`, `kokpit get clusters`: the fleet from the command line.

`join` takes the member's kubeconfig as `--kubeconfig`, so there the hub's is only `--hub-kubeconfig`.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from kokpit.cli.errors import fail
from kokpit.cli.kubeconfig import HubAliasOption, HubChoice, HubOption, hub_choice, hub_client
from kokpit.cli.show import age
from kokpit.fleet.join import JoinRequest, join, unjoin
from kokpit.fleet.members import ClusterResource

get_app = typer.Typer(help="Show kokpit resources.", no_args_is_help=True)


def join_command(
    name: Annotated[str, typer.Argument(help="The member's name in the fleet.")],
    kubeconfig: Annotated[Path, typer.Option("--kubeconfig", help="Kubeconfig of the member to join.")],
    context: Annotated[str | None, typer.Option("--context", help="Context in that kubeconfig.")] = None,
    provider: Annotated[str | None, typer.Option("--provider")] = None,
    region: Annotated[str | None, typer.Option("--region")] = None,
    zone: Annotated[str | None, typer.Option("--zone")] = None,
    hub: HubOption = None,
    allow_exec_credentials: Annotated[
        bool,
        typer.Option(
            "--allow-exec-credentials",
            help="Accept an exec/auth-provider credential plugin (the hub must run with the same flag).",
        ),
    ] = False,
) -> None:
    """Join a member cluster (Push mode): check it, store its kubeconfig, create its Cluster."""
    request = JoinRequest(
        name,
        kubeconfig,
        context=context,
        provider=provider,
        region=region,
        zone=zone,
        allow_exec_credentials=allow_exec_credentials,
    )
    choice = HubChoice(hub)

    async def go() -> str:
        client = hub_client(choice)
        try:
            return await join(client, request)
        finally:
            await client.close()

    version = asyncio.run(go())
    typer.echo(f"cluster {name} joined ({version})")


def unjoin_command(
    name: Annotated[str, typer.Argument(help="The member to remove from the fleet.")],
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Remove a member from the fleet (its Cluster and kubeconfig Secret)."""
    choice = hub_choice(hub, hub_alias)

    async def go() -> None:
        client = hub_client(choice)
        try:
            await unjoin(client, name)
        finally:
            await client.close()

    asyncio.run(go())
    typer.echo(f"cluster {name} unjoined")


def cluster_row(cluster: dict[str, Any], now: datetime) -> list[str]:
    spec, status = cluster.get("spec") or {}, cluster.get("status") or {}
    ready = next((c["status"] for c in status.get("conditions") or [] if c.get("type") == "Ready"), "")
    nodes = status.get("nodeSummary") or {}
    return [
        cluster["metadata"]["name"],
        spec.get("syncMode", ""),
        ready,
        status.get("kubernetesVersion", ""),
        spec.get("region", ""),
        spec.get("zone", ""),
        f"{nodes.get('readyNum', 0)}/{nodes.get('totalNum', 0)}" if nodes else "",
        ",".join(f"{t['key']}:{t['effect']}" for t in spec.get("taints") or []),
        age(cluster["metadata"].get("creationTimestamp"), now),
    ]


@get_app.command("clusters")
def get_clusters(
    output: Annotated[str, typer.Option("-o", "--output", help="table, yaml or json")] = "table",
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """List the fleet's clusters, like `kubectl get clusters.cluster.kokpit.io`."""
    choice = hub_choice(hub, hub_alias)
    if output not in ("table", "yaml", "json"):
        fail(f"unknown output format {output!r} (use table, yaml or json)")

    async def go() -> list[dict[str, Any]]:
        client = hub_client(choice)
        try:
            return [dict(item) async for item in client.list(ClusterResource)]
        finally:
            await client.close()

    clusters = sorted(asyncio.run(go()), key=lambda c: c["metadata"]["name"])
    if output == "json":
        typer.echo(json.dumps({"apiVersion": "v1", "kind": "List", "items": clusters}, indent=2))
        return
    if output == "yaml":
        typer.echo(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": clusters}, sort_keys=False))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("NAME", "MODE", "READY", "VERSION", "REGION", "ZONE", "NODES", "TAINTS", "AGE"):
        table.add_column(column)
    now = datetime.now(UTC)
    for cluster in clusters:
        table.add_row(*cluster_row(cluster, now))
    Console(width=200).print(table)
