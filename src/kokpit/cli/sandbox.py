"""`kokpit sandbox`: start, inspect, poke and stop a local fleet of real clusters."""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kokpit import sandbox
from kokpit.cli import sandbox_hosts
from kokpit.cli.errors import fail

app = typer.Typer(help="A hub and member clusters as real local processes.", no_args_is_help=True)
app.add_typer(sandbox_hosts.app, name="hosts")

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="Sandbox directory (default: .kokpit/sandbox under the working directory)."),
]


def _dir(directory: Path | None) -> Path:
    return directory if directory is not None else sandbox.default_dir()


@app.command()
def up(
    members: Annotated[int, typer.Option("--members", help="Number of member clusters.")] = 3,
    nodes: Annotated[int, typer.Option("--nodes", help="kwok nodes per member.")] = 3,
    directory: DirOption = None,
    kubernetes_version: Annotated[
        str | None, typer.Option("--kubernetes-version", help="Binaries to use (default: the newest built).")
    ] = None,
    base_port: Annotated[
        int | None,
        typer.Option("--base-port", help="Take consecutive ports from here instead of free ones."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for readiness.")] = 180.0,
    pull: Annotated[
        list[str] | None,
        typer.Option(
            "--pull",
            help="Put this member behind a firewall in its own network namespace, registered with "
            "the hub by token and run by its agent (a Pull cluster once a hub runs). Repeatable; "
            "needs root.",
        ),
    ] = None,
) -> None:
    """Start the hub API server and MEMBERS member clusters, and wait until they are ready."""
    console = Console(stderr=True)
    options = sandbox.UpOptions(
        members=members,
        nodes=nodes,
        kubernetes_version=kubernetes_version,
        base_port=base_port,
        timeout_seconds=timeout,
        pull=tuple(pull or ()),
    )
    state = sandbox.up(_dir(directory), options, report=lambda message: console.print(f"[dim]{message}[/]"))
    for cluster in state.clusters.values():
        where = f" region={cluster.region} zone={cluster.zone}" if cluster.region else ""
        if cluster.pull is not None:
            where += f" pull: behind a firewall in network namespace {cluster.pull.netns}"
        typer.echo(f"{cluster.name}: {cluster.endpoint} kubeconfig={cluster.kubeconfig}{where}")


@app.command()
def down(directory: DirOption = None) -> None:
    """Stop every process of the sandbox. Safe to run twice."""
    stopped = sandbox.down(_dir(directory))
    typer.echo(f"stopped {len(stopped)} processes" if stopped else "nothing was running")


@app.command()
def status(
    directory: DirOption = None,
    output: Annotated[str, typer.Option("-o", "--output", help="table or json")] = "table",
) -> None:
    """Show every cluster component, whether it runs and is healthy, and its log."""
    rows = sandbox.status(_dir(directory))
    if output == "json":
        typer.echo(json.dumps([asdict(row) for row in rows], indent=2))
    elif output == "table":
        table = Table(box=None, header_style="bold")
        for column in ("CLUSTER", "COMPONENT", "PID", "STATE", "DETAIL", "LOG"):
            table.add_column(column, overflow="fold")
        for row in rows:
            colour = {"running": "green", "unhealthy": "yellow", "dead": "red"}[row.state]
            table.add_row(
                row.cluster, row.component, str(row.pid), f"[{colour}]{row.state}[/]", row.detail, row.log
            )
        Console(width=200).print(table)
    else:
        fail(f"unknown output format {output!r} (use table or json)")
    if any(row.state != "running" for row in rows):
        sys.exit(1)


@app.command()
def restart(
    cluster: Annotated[str, typer.Argument(help="hub, member1, ...")],
    component: Annotated[str, typer.Argument(help=", ".join(sandbox.COMPONENTS))],
    directory: DirOption = None,
) -> None:
    """Restart one component of one cluster with its original command line."""
    restarted = sandbox.restart(_dir(directory), cluster, component)
    typer.echo(f"{cluster} {component} running again as pid {restarted.pid}")


@app.command()
def kill(
    cluster: Annotated[str, typer.Argument(help="hub, member1, ...")],
    component: Annotated[str, typer.Argument(help=", ".join(sandbox.COMPONENTS))],
    directory: DirOption = None,
    sig: Annotated[str, typer.Option("--signal", help="KILL, TERM, STOP, CONT, ...")] = "KILL",
) -> None:
    """Send a signal to one component (for trying out failures)."""
    try:
        chosen = signal.Signals[f"SIG{sig.upper().removeprefix('SIG')}"]
    except KeyError:
        fail(f"unknown signal {sig!r}")
    pid = sandbox.kill(_dir(directory), cluster, component, sig=chosen)
    typer.echo(f"sent {chosen.name} to {cluster} {component} (pid {pid})")


@app.command()
def kubeconfig(
    cluster: Annotated[str, typer.Argument(help="hub, member1, ...")],
    directory: DirOption = None,
) -> None:
    """Print the path of a cluster's admin kubeconfig."""
    state = sandbox.load(_dir(directory))
    if cluster not in state.clusters:
        fail(f"no cluster {cluster!r} in the sandbox (have: {', '.join(state.clusters)})")
    typer.echo(state.clusters[cluster].kubeconfig)


@app.command()
def link(
    cluster: Annotated[str, typer.Argument(help="A Pull member (started with --pull).")],
    state: Annotated[str, typer.Argument(help="down (cut the link to the hub) or up (mend it)")],
    directory: DirOption = None,
) -> None:
    """Cut or mend the network link between a Pull member and the hub (for trying out failures)."""
    if state not in ("up", "down"):
        fail(f"unknown link state {state!r} (use up or down)")
    sandbox.set_link(_dir(directory), cluster, up=state == "up")
    typer.echo(f"{cluster}: link {state}")


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_command(
    context: typer.Context,
    cluster: Annotated[str, typer.Argument(help="hub, member1, ...")],
    directory: DirOption = None,
) -> None:
    """Run a command where CLUSTER's processes run: in a Pull member's network namespace (so its
    API server is reachable), else here. Example: kokpit sandbox exec member3 -- kubectl
    --kubeconfig .kokpit/sandbox/member3.kubeconfig get pods -A"""
    state = sandbox.load(_dir(directory))
    if cluster not in state.clusters:
        fail(f"no cluster {cluster!r} in the sandbox (have: {', '.join(state.clusters)})")
    argv = list(context.args)
    if not argv:
        fail("name the command to run after --")
    netns_path = state.clusters[cluster].netns_path
    if netns_path is not None:
        argv = ["nsenter", f"--net={netns_path}", *argv]
    try:
        os.execvp(argv[0], argv)
    except OSError as error:
        fail(f"cannot run {argv[0]}: {error.strerror}")
