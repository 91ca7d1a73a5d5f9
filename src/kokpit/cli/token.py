"""`kokpit token create`: a bootstrap token with which `kokpit register` joins a Pull member.

It prints the token, the hub CA's pin (kubeadm's `sha256:<hex>` of its public key) that the member
checks the hub against, and the `kokpit register` line to run there. The token is only a way in:
kokpit's approver uses it up at the first registration, and it expires after `--ttl` regardless.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from lightkube import AsyncClient
from lightkube.resources.core_v1 import ConfigMap

from kokpit.cli.errors import fail
from kokpit.cli.kubeconfig import HubAliasOption, HubOption, hub_choice, hub_client
from kokpit.controlplane import bootstrap_tokens
from kokpit.errors import KokpitError
from kokpit.fleet.registration.approval import name_problem
from kokpit.fleet.registration.names import AGENT_TOKEN_LABEL, TOKEN_CLUSTER_LABEL, agent_groups
from kokpit.hosted.certificates import parse_duration
from kokpit.hub.install import install_registration
from kokpit.runtime import format_time

app = typer.Typer(help="Bootstrap tokens for registering Pull-mode members.", no_args_is_help=True)


async def _create(
    client: AsyncClient, *, cluster: str | None, ttl_seconds: float
) -> tuple[bootstrap_tokens.BootstrapToken, str, str, datetime]:
    """Publishes cluster-info (idempotent), makes the token; returns it, the pin, the hub URL, expiry."""
    await install_registration(client)
    info = await client.get(
        ConfigMap, bootstrap_tokens.CLUSTER_INFO_NAME, namespace=bootstrap_tokens.CLUSTER_INFO_NAMESPACE
    )
    server, ca_pem = bootstrap_tokens.read_cluster_info(info.data or {})
    pin = bootstrap_tokens.ca_cert_hashes(ca_pem)[0]
    labels = {AGENT_TOKEN_LABEL: "true", **({TOKEN_CLUSTER_LABEL: cluster} if cluster else {})}
    now = datetime.now(UTC)
    ttl = timedelta(seconds=ttl_seconds)
    token = await bootstrap_tokens.create_bootstrap_token(
        client,
        description=f"kokpit agent registration of {cluster}" if cluster else "kokpit agent registration",
        ttl=ttl,
        groups=agent_groups(cluster),
        labels=labels,
        now=now,
    )
    return token, pin, server, now + ttl


@app.command("create")
def create(
    ttl: Annotated[str, typer.Option("--ttl", help="How long the token is valid, e.g. 1h, 30m.")] = "1h",
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", help="Bind the token to this cluster name (else: any new name)."),
    ] = None,
    hub_url: Annotated[
        str | None,
        typer.Option("--hub-url", help="The hub's URL as the member reaches it, for the printed command."),
    ] = None,
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
) -> None:
    """Create a bootstrap token for `kokpit register`; prints it with the hub's CA hash."""
    try:
        seconds = parse_duration(ttl).total_seconds()
    except ValueError as error:
        fail(f"--ttl: {error}")
    if cluster is not None and (problem := name_problem(cluster)):
        fail(f"--cluster: {problem}")
    choice = hub_choice(hub, hub_alias)

    async def go() -> tuple[bootstrap_tokens.BootstrapToken, str, str, datetime]:
        client = hub_client(choice)
        try:
            return await _create(client, cluster=cluster, ttl_seconds=seconds)
        except ValueError as error:
            raise KokpitError(f"the hub's cluster-info cannot be used: {error}") from None
        finally:
            await client.close()

    token, pin, server, expires = asyncio.run(go())
    name = cluster or "NAME"
    typer.echo(f"token: {token.token}")
    typer.echo(f"ca-cert-hash: {pin}")
    typer.echo(f"expires: {format_time(expires)}")
    typer.echo("register the member with:")
    typer.echo(
        f"  kokpit register {name} --hub {hub_url or server} --token {token.token} --ca-cert-hash {pin}"
    )
