"""`kokpit agent`: the agent of a Pull member, and `kokpit agent manifests NAME` to run it in the member.

    kokpit agent --hub-kubeconfig ~/.kokpit/agent/edge1/hub.kubeconfig --kubeconfig edge1.kubeconfig
    kokpit agent manifests edge1 --hub-kubeconfig ~/.kokpit/agent/edge1/hub.kubeconfig | kubectl apply -f -

`--hub-kubeconfig` is the agent's own identity on the hub (what `kokpit register` wrote) and
`--kubeconfig` the member's, the other way round from the hub's commands: here the member is local.
The cluster name comes from the certificate when `--cluster` is not given. Ctrl-C or SIGTERM stop it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from kokpit.agent.identity import cluster_of_kubeconfig
from kokpit.agent.lease import DEFAULT_LEASE_DURATION
from kokpit.agent.manifests import DEFAULT_IMAGE, agent_manifests, default_hub_kubeconfig
from kokpit.agent.member_status import MemberStatusOptions
from kokpit.agent.run import AgentOptions, run_agent
from kokpit.cli.errors import fail
from kokpit.runtime import setup_logging
from kokpit.runtime.clients import load_kubeconfig

app = typer.Typer(
    help="The kokpit agent of a Pull member: run it (options below) or print its manifests.",
    invoke_without_command=True,
)


def _usable(path: Path, flag: str) -> Path:
    """`path` if it is a kubeconfig the client can load, else one line naming `flag`."""
    try:
        load_kubeconfig(path)
    except Exception as error:
        fail(f"{flag} {path}: {error}")
    return path


@app.callback()
def agent(
    ctx: typer.Context,
    hub_kubeconfig: Annotated[
        Path | None,
        typer.Option(
            "--hub-kubeconfig",
            help="The agent's kubeconfig for the hub (default: ~/.kokpit/agent/CLUSTER/hub.kubeconfig).",
            show_default=False,
        ),
    ] = None,
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            "--kubeconfig",
            help="The member's kubeconfig (default: in-cluster service account).",
            show_default=False,
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster", help="The cluster served (default: from the certificate's CN).", show_default=False
        ),
    ] = None,
    lease_duration: Annotated[
        float,
        typer.Option(
            "--lease-duration", min=4.0, help="Seconds without renewal before the hub reports Unknown."
        ),
    ] = DEFAULT_LEASE_DURATION,
    renew_fraction: Annotated[
        float,
        typer.Option(
            "--renew-fraction",
            min=0.01,
            max=0.95,
            help="Share of its validity after which the hub certificate is renewed.",
        ),
    ] = 0.7,
    identity: Annotated[
        str | None,
        typer.Option("--id", help="Lease holder identity (default: the host name).", show_default=False),
    ] = None,
    probe_period: Annotated[
        float, typer.Option("--probe-period", help="Seconds between member probes.")
    ] = 10.0,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve /metrics and /healthz.", show_default=False)
    ] = None,
    metrics_host: Annotated[str, typer.Option("--metrics-host")] = "127.0.0.1",
    credentials_secret: Annotated[
        str | None,
        typer.Option(
            "--credentials-secret",
            help="NAMESPACE/NAME of a member Secret to save renewed hub credentials in.",
            show_default=False,
        ),
    ] = None,
    log_format: Annotated[str, typer.Option("--log-format", help="json or kv")] = "kv",
) -> None:
    """Run the agent: apply this cluster's Works from the hub to the member, report back, renew the Lease."""
    if ctx.invoked_subcommand is not None:
        return
    if hub_kubeconfig is None:
        if cluster is None:
            fail("pass --hub-kubeconfig (the file kokpit register wrote) or --cluster")
        hub_kubeconfig = default_hub_kubeconfig(cluster)
    hub_kubeconfig = _usable(hub_kubeconfig, "--hub-kubeconfig")
    if kubeconfig is not None:
        kubeconfig = _usable(kubeconfig, "--kubeconfig")
    name = cluster or cluster_of_kubeconfig(hub_kubeconfig)
    secret: tuple[str, str] | None = None
    if credentials_secret is not None:
        secret_namespace, _, secret_name = credentials_secret.partition("/")
        if not secret_namespace or not secret_name:
            fail(f"--credentials-secret {credentials_secret}: expected NAMESPACE/NAME")
        secret = (secret_namespace, secret_name)
    setup_logging(fmt="json" if log_format == "json" else "kv")
    options = AgentOptions(
        hub_kubeconfig=hub_kubeconfig,
        member_kubeconfig=kubeconfig,
        cluster=name,
        lease_duration=lease_duration,
        renew_fraction=renew_fraction,
        identity=identity,
        status=MemberStatusOptions(period=probe_period),
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        credentials_secret=secret,
    )
    asyncio.run(run_agent(options, handle_signals=True))


@app.command()
def manifests(
    name: Annotated[str, typer.Argument(help="The Pull cluster the agent serves.")],
    hub_kubeconfig: Annotated[
        Path | None,
        typer.Option(
            "--hub-kubeconfig",
            help="The agent's kubeconfig for the hub (default: ~/.kokpit/agent/NAME/hub.kubeconfig).",
            show_default=False,
        ),
    ] = None,
    image: Annotated[
        str, typer.Option("--image", help="The kokpit image the Deployment runs.")
    ] = DEFAULT_IMAGE,
    namespace: Annotated[
        str, typer.Option("--namespace", help="The member namespace it runs in.")
    ] = "kokpit-agent",
) -> None:
    """Print the YAML that runs the agent of NAME as a Deployment in the member (kubectl apply -f -)."""
    path = hub_kubeconfig or default_hub_kubeconfig(name)
    if not path.is_file():
        fail(f"{path} does not exist: run kokpit register {name} first, or pass --hub-kubeconfig")
    typer.echo(agent_manifests(name, path.read_text(), image=image, namespace=namespace), nl=False)
