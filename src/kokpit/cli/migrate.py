"""`kokpit migrate storage RESOURCE`: rewrite every stored object of a kokpit type in its storage version."""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx2
import typer

from kokpit.cli.kubeconfig import HubAliasOption, HubOption, hub_choice, hub_client
from kokpit.errors import KokpitError
from kokpit.hub.storage import Migration, migrate_storage, resource_by_plural

app = typer.Typer(help="Migrations of what the hub stores.", no_args_is_help=True)


@app.command("storage")
def storage(
    resource: Annotated[str, typer.Argument(help="The kokpit resource, by plural (components).")],
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Write every object of RESOURCE back in the storage version and record it as the only one stored."""
    kind = resource_by_plural(resource)
    client = hub_client(hub_choice(hub, hub_alias))

    async def go() -> Migration:
        try:
            return await migrate_storage(client, kind)
        except httpx2.TransportError as error:
            raise KokpitError(f"cannot reach the hub at {client.config.cluster.server}: {error}") from error
        finally:
            await client.close()

    done = asyncio.run(go())
    typer.echo(
        f"{done.resource}: {done.rewritten} objects rewritten in {done.storage_version}; "
        f"stored versions {', '.join(done.stored_versions) or 'none'} -> {done.storage_version}"
    )
