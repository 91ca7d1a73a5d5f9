"""`kokpit register NAME`: on the member's side, exchange a bootstrap token for the agent's credentials.

See `kokpit.agent.registration` for the steps and why each refusal happens before anything exists.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from kokpit.agent.registration import RegistrationRequest, default_out_dir, register
from kokpit.cli.errors import fail
from kokpit.hosted.certificates import parse_duration


def register_command(
    name: Annotated[str, typer.Argument(help="The member's name in the fleet.")],
    hub: Annotated[
        str, typer.Option("--hub", help="The hub API server's https URL, as reachable from here.")
    ],
    token: Annotated[str, typer.Option("--token", help="The bootstrap token of kokpit token create.")],
    ca_cert_hash: Annotated[
        str, typer.Option("--ca-cert-hash", help="The hub CA's hash (sha256:<hex>) of kokpit token create.")
    ],
    kubeconfig: Annotated[
        Path | None, typer.Option("--kubeconfig", help="The member's kubeconfig, for the agent to use.")
    ] = None,
    provider: Annotated[str | None, typer.Option("--provider")] = None,
    region: Annotated[str | None, typer.Option("--region")] = None,
    zone: Annotated[str | None, typer.Option("--zone")] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to write hub.kubeconfig (default ~/.kokpit/agent/NAME)."),
    ] = None,
    cert_ttl: Annotated[str, typer.Option("--cert-ttl", help="Validity of the agent's certificate.")] = "24h",
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the hub's approval (0: forever).")
    ] = 300.0,
) -> None:
    """Register this member with the hub (Pull mode): verify the hub, get the agent's certificate."""
    try:
        validity = parse_duration(cert_ttl)
    except ValueError as error:
        fail(f"--cert-ttl: {error}")
    if timeout < 0:
        fail("--timeout must not be negative")
    request = RegistrationRequest(
        name=name,
        hub=hub,
        token=token,
        ca_cert_hash=ca_cert_hash,
        out_dir=(out or default_out_dir(name)).expanduser(),
        provider=provider,
        region=region,
        zone=zone,
        cert_ttl=validity,
        timeout=timeout or None,
    )
    path = asyncio.run(register(request))
    typer.echo(f"cluster {name} registered; the agent's credentials are in {path}")
    member = str(kubeconfig) if kubeconfig else "MEMBER-KUBECONFIG"
    typer.echo(f"run the agent with: kokpit agent --hub-kubeconfig {path} --kubeconfig {member}")
