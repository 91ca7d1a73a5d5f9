"""`kokpit install`: put kokpit's namespace and CRDs into the hub API server, or print the CRDs."""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx2
import typer
import yaml
from lightkube import AsyncClient

from kokpit.api.crd import crd_manifest
from kokpit.api.registry import ALL_RESOURCES
from kokpit.cli.kubeconfig import HubAliasOption, HubOption, hub_choice, hub_client
from kokpit.errors import KokpitError
from kokpit.hub import install as hub_install


def install(
    print_only: Annotated[
        bool,
        typer.Option("--print", help="Print the CRDs as YAML and exit, without contacting the hub."),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the CRDs to be Established.")
    ] = 60.0,
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Install or upgrade kokpit's CRDs and namespace in the hub; safe to run again."""
    if print_only:
        manifests = [crd_manifest(resource) for resource in ALL_RESOURCES]
        typer.echo(yaml.safe_dump_all(manifests, sort_keys=False, width=1000), nl=False)
        return
    client = hub_client(hub_choice(hub, hub_alias), field_manager=hub_install.FIELD_MANAGER)
    for line in asyncio.run(_install(client, wait_seconds=timeout)):
        typer.echo(line)


async def _install(client: AsyncClient, *, wait_seconds: float) -> list[str]:
    try:
        return await hub_install.install(client, wait_seconds=wait_seconds)
    except httpx2.TransportError as error:
        raise KokpitError(f"cannot reach the hub at {client.config.cluster.server}: {error}") from error
    finally:
        await client.close()
