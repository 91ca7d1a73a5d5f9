"""`kokpit sandbox hosts`: machines on this machine (network namespaces with sshd) for real nodes."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kokpit import sandbox
from kokpit.cli.errors import fail
from kokpit.sandbox import hosts

app = typer.Typer(
    help="Sandbox hosts: network namespaces on a bridge, each with its own disk and sshd.",
    no_args_is_help=True,
)

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="Directory (default: the sandbox's, .kokpit/sandbox under the working directory)."
    ),
]


def _dir(directory: Path | None) -> Path:
    return directory if directory is not None else sandbox.default_dir()


@app.command()
def up(
    count: Annotated[int, typer.Option("--count", help="Number of hosts.")] = 3,
    directory: DirOption = None,
    namespace: Annotated[
        str | None, typer.Option("--namespace", help="Namespace written into the inventory (default: none).")
    ] = None,
) -> None:
    """Create COUNT hosts and write their inventory (Secrets and Hosts) to DIR/hosts.yaml."""
    console = Console(stderr=True)
    inventory = hosts.hosts_up(
        _dir(directory),
        count,
        namespace=namespace,
        report=lambda message: console.print(f"[dim]{message}[/]"),
    )
    for host in inventory.hosts:
        typer.echo(
            f"{host.name}: {host.address} prefix={host.prefix} ssh: {inventory.ssh_command(host.name)}"
        )
    typer.echo(f"inventory: {inventory.path} (kubectl apply -f {inventory.path})")


@app.command()
def down(directory: DirOption = None) -> None:
    """Remove the hosts and every process, mount and file in them. Safe to run twice."""
    removed = hosts.hosts_down(_dir(directory))
    if removed.hosts:
        typer.echo(
            f"removed {len(removed.hosts)} hosts ({removed.processes} processes stopped, "
            f"{len(removed.mounts)} mounts unmounted)"
        )
    else:
        typer.echo("no hosts were there")


@app.command()
def status(
    directory: DirOption = None,
    output: Annotated[str, typer.Option("-o", "--output", help="table or json")] = "table",
) -> None:
    """Show each host: address, namespace present, sshd alive, port 22 answering."""
    rows = hosts.hosts_status(_dir(directory))
    if output == "json":
        typer.echo(json.dumps([{**asdict(row), "ok": row.ok} for row in rows], indent=2))
    elif output == "table":
        table = Table(box=None, header_style="bold")
        for column in ("HOST", "ADDRESS", "NETNS", "SSHD", "PORT 22"):
            table.add_column(column)

        def mark(ok: bool, yes: str) -> str:
            return f"[green]{yes}[/]" if ok else "[red]no[/]"

        for row in rows:
            table.add_row(
                row.name,
                row.address,
                mark(row.netns, "present"),
                mark(row.sshd, f"pid {row.pid}"),
                mark(row.reachable, "answers"),
            )
        Console(width=200).print(table)
    else:
        fail(f"unknown output format {output!r} (use table or json)")
    if not all(row.ok for row in rows):
        sys.exit(1)
