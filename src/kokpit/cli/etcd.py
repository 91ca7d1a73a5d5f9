"""`kokpit etcd`: back up an EtcdCluster now, and show a cluster's members."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx2
import typer
from lightkube import ApiError, AsyncClient
from rich.console import Console
from rich.table import Table

from kokpit.cli.kubeconfig import HubAliasOption, HubOption, hub_choice, hub_client
from kokpit.errors import KokpitError
from kokpit.etcd.resources import EtcdBackupResource, EtcdClusterResource
from kokpit.runtime.conditions import get_condition

app = typer.Typer(help="etcd clusters run by kokpit.", no_args_is_help=True)

NamespaceOption = Annotated[str, typer.Option("--namespace", "-n", help="Namespace of the EtcdCluster.")]


@app.command()
def backup(
    cluster: Annotated[str, typer.Argument(help="Name of the EtcdCluster.")],
    namespace: NamespaceOption = "default",
    to: Annotated[
        Path | None,
        typer.Option("--to", help="Directory for the snapshot (default: the cluster's backup destination)."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for the snapshot.")] = 300.0,
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Take a snapshot of CLUSTER now (creates an EtcdBackup and waits for it)."""
    destination = None if to is None else str(to.resolve())
    status = asyncio.run(
        _backup(hub_client(hub_choice(hub, hub_alias)), cluster, namespace, destination, timeout)
    )
    typer.echo(f"{status['path']} sha256={status['sha256']} size={status['size']}")


async def _backup(client: AsyncClient, cluster: str, namespace: str, to: str | None, timeout: float) -> Any:
    name = f"{cluster}-{datetime.now(UTC).strftime('%Y%m%d%H%M%S')}"
    spec: dict[str, Any] = {"clusterRef": cluster}
    if to is not None:
        spec["destination"] = to
    body = {
        "apiVersion": "etcd.kokpit.io/v1alpha1",
        "kind": "EtcdBackup",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    try:
        await client.get(EtcdClusterResource, cluster, namespace=namespace)
        await client.create(EtcdBackupResource.from_dict(body))
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            obj = await client.get(EtcdBackupResource, name, namespace=namespace)
            status = dict(obj.get("status") or {})
            if status.get("phase") == "Completed":
                return status
            if status.get("phase") == "Failed":
                raise KokpitError(f"etcdbackup/{name} failed: {_message(status)}")
            await asyncio.sleep(0.5)
        raise KokpitError(
            f"etcdbackup/{name} not done after {timeout:g}s: {_message(status) or 'no status yet'}"
        )
    except ApiError as error:
        raise KokpitError(f"{error.status.message}") from error
    except httpx2.TransportError as error:
        raise KokpitError(f"cannot reach the hub: {error}") from error
    finally:
        await client.close()


def _message(status: dict[str, Any]) -> str:
    condition = get_condition(status.get("conditions"), "Complete")
    return "" if condition is None else f"{condition.get('reason')}: {condition.get('message')}"


@app.command()
def status(
    cluster: Annotated[str, typer.Argument(help="Name of the EtcdCluster.")],
    namespace: NamespaceOption = "default",
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Show CLUSTER's members, leader and conditions."""
    obj = asyncio.run(_get(hub_client(hub_choice(hub, hub_alias)), cluster, namespace))
    current = dict(obj.get("status") or {})
    console = Console(highlight=False)
    console.print(
        f"{cluster}: phase {current.get('phase', '-')}, leader {current.get('leader', '-')}, "
        f"version {current.get('currentVersion', '-')}"
    )
    table = Table("NAME", "ID", "HEALTHY", "LEADER", "LEARNER", "VERSION", "DB SIZE", "CLIENT URL", box=None)
    for member in current.get("members") or []:
        table.add_row(
            member.get("name", ""),
            member.get("id", ""),
            str(member.get("healthy", False)).lower(),
            "*" if member.get("isLeader") else "",
            "yes" if member.get("isLearner") else "",
            member.get("version", ""),
            str(member.get("dbSize", "")),
            member.get("clientURL", ""),
        )
    console.print(table)
    for condition in current.get("conditions") or []:
        console.print(
            f"{condition['type']}={condition['status']} {condition['reason']}: {condition['message']}"
        )


async def _get(client: AsyncClient, cluster: str, namespace: str) -> Any:
    try:
        return await client.get(EtcdClusterResource, cluster, namespace=namespace)
    except ApiError as error:
        raise KokpitError(f"{error.status.message}") from error
    except httpx2.TransportError as error:
        raise KokpitError(f"cannot reach the hub: {error}") from error
    finally:
        await client.close()
