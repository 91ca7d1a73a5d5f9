"""`kokpit hub run`: the hub's controllers in one process."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Annotated

import typer

from kokpit.api.meta import DNS_LABEL_PATTERN
from kokpit.cli.kubeconfig import HubAliasOption, HubOption, hub_choice, hub_kubeconfig, load_hub_config
from kokpit.errors import KokpitError
from kokpit.fleet.proxy.endpoints import advertised, parse_address
from kokpit.hub.manager import LEASE_NAME, HubOptions, run_hub
from kokpit.runtime import setup_logging
from kokpit.settings import HubSettings, default_state_dir

app = typer.Typer(help="The hub's controller process.", no_args_is_help=True)


@app.command()
def run(
    hub: HubOption = None,
    hub_alias: HubAliasOption = None,
    metrics_port: Annotated[
        int, typer.Option("--metrics-port", help="Port of /metrics and /healthz.")
    ] = 8080,
    metrics_host: Annotated[str, typer.Option("--metrics-host")] = "127.0.0.1",
    leader_elect: Annotated[bool, typer.Option("--leader-elect/--no-leader-elect")] = True,
    lease_name: Annotated[
        str, typer.Option("--lease-name", help="Lease in kokpit-system to compete for.")
    ] = (LEASE_NAME),
    lease_duration: Annotated[float, typer.Option("--lease-duration", help="Seconds.")] = 15.0,
    identity: Annotated[str | None, typer.Option("--id", help="Leader-election identity.")] = None,
    qps: Annotated[float, typer.Option("--qps", help="Requests per second to each member.")] = 200.0,
    burst: Annotated[int, typer.Option("--burst", help="Request burst to each member.")] = 400,
    hub_qps: Annotated[
        float, typer.Option("--hub-qps", help="Requests per second to the hub API server.")
    ] = 1000.0,
    hub_burst: Annotated[
        int, typer.Option("--hub-burst", help="Request burst to the hub API server.")
    ] = 2000,
    probe_period: Annotated[
        float, typer.Option("--probe-period", help="Seconds between member probes.")
    ] = 10.0,
    failure_threshold: Annotated[int, typer.Option("--failure-threshold", min=1)] = 2,
    success_threshold: Annotated[int, typer.Option("--success-threshold", min=1)] = 1,
    no_execute_grace: Annotated[
        float, typer.Option("--no-execute-grace", help="Seconds unhealthy before the NoExecute taint.")
    ] = 60.0,
    state_dir: Annotated[
        Path | None,
        typer.Option("--state-dir", help="Where locally run components keep data [default: ./.kokpit/hub]."),
    ] = None,
    allow_exec_credentials: Annotated[
        bool,
        typer.Option(
            "--allow-exec-credentials",
            help="Accept member kubeconfigs with exec/auth-provider plugins (they run programs here).",
        ),
    ] = False,
    proxy_addr: Annotated[
        str | None,
        typer.Option(
            "--proxy-addr",
            help="HOST:PORT of the proxy into members and the agents' tunnel endpoint (port 0: any).",
        ),
    ] = None,
    proxy_url: Annotated[
        str | None,
        typer.Option("--proxy-url", help="The https URL clients dial, when not https://HOST:PORT."),
    ] = None,
    webhook_addr: Annotated[
        str,
        typer.Option(
            "--webhook-addr",
            help="HOST:PORT of kokpit's webhooks for the hub API server (port 0: any; empty: none).",
        ),
    ] = "127.0.0.1:0",
    webhook_url: Annotated[
        str | None,
        typer.Option("--webhook-url", help="The https URL the hub API server dials, when not HOST:PORT."),
    ] = None,
    controller_id: Annotated[
        str | None,
        typer.Option(
            "--controller-id",
            help="Run only the Component controller, for the Components labelled "
            "apps.kokpit.io/controller-id=ID, under a Lease of its own.",
        ),
    ] = None,
    shards: Annotated[
        bool,
        typer.Option(
            "--shards",
            help="Share delivery with the other replicas started with --shards: each writes the "
            "members and handles the templates that fall to it, under Leases in kokpit-system.",
        ),
    ] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="json or kv")] = "kv",
) -> None:
    """Run every hub controller; replicas coordinate through a Lease in kokpit-system."""
    choice = hub_choice(hub, hub_alias)
    load_hub_config(choice)  # a kubeconfig that cannot be used is one line now, not a traceback later
    kubeconfig = hub_kubeconfig(choice)
    if proxy_addr is not None:
        try:
            advertised(*parse_address(proxy_addr), url=proxy_url)
        except ValueError as error:
            raise KokpitError(f"--proxy-addr/--proxy-url: {error}") from None
    if webhook_addr:
        try:
            advertised(*parse_address(webhook_addr), url=webhook_url)
        except ValueError as error:
            raise KokpitError(f"--webhook-addr/--webhook-url: {error}") from None
    if controller_id is not None and not re.fullmatch(DNS_LABEL_PATTERN, controller_id):
        raise KokpitError(f"--controller-id {controller_id!r}: a DNS label (lower case, digits, '-')")
    if shards and controller_id is not None:
        raise KokpitError("--shards shares delivery, which a --controller-id group does not run")
    if shards and not leader_elect:
        raise KokpitError("--shards needs leader election for the rest: drop --no-leader-elect")
    setup_logging(fmt="json" if log_format == "json" else "kv")
    options = HubOptions(
        kubeconfig=kubeconfig,
        metrics_host=metrics_host,
        metrics_port=metrics_port,
        leader_elect=leader_elect,
        lease_name=lease_name,
        qps=qps,
        burst=burst,
        hub_qps=hub_qps,
        hub_burst=hub_burst,
        lease_duration=lease_duration,
        identity=identity,
        sharded=shards,
        settings=HubSettings(
            state_dir=state_dir if state_dir is not None else default_state_dir(),
            probe_period=probe_period,
            failure_threshold=failure_threshold,
            success_threshold=success_threshold,
            no_execute_grace=no_execute_grace,
            allow_exec_credentials=allow_exec_credentials,
            proxy_address=proxy_addr,
            proxy_url=proxy_url,
            controller_id=controller_id,
            webhook_address=None if controller_id is not None else webhook_addr or None,
            webhook_url=webhook_url,
        ),
    )
    asyncio.run(run_hub(options))
