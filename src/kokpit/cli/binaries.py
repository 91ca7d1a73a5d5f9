"""`kokpit binaries`: build the Kubernetes, etcd and kwok binaries, and say where they are."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from kokpit.binaries import DEFAULT_ETCD_VERSION, DEFAULT_KUBERNETES_VERSION, build_binaries, find_binaries
from kokpit.binaries.build import bin_dir_summary

app = typer.Typer(
    help="Build and locate the Kubernetes, etcd and kwok binaries kokpit runs.",
    no_args_is_help=True,
)

KubernetesVersion = Annotated[
    str, typer.Option("--kubernetes-version", help="Kubernetes release to build, e.g. v1.36.5.")
]


@app.command()
def build(
    kubernetes_version: KubernetesVersion = DEFAULT_KUBERNETES_VERSION,
    etcd_version: Annotated[
        str,
        typer.Option(
            "--etcd-version",
            help="Also build this etcd release into its own directory (the default one is always built).",
        ),
    ] = DEFAULT_ETCD_VERSION,
) -> None:
    """Build every missing binary for a Kubernetes version; binaries already built are kept."""
    console = Console(stderr=True, highlight=False)
    results = build_binaries(kubernetes_version, etcd_version=etcd_version, console=console)
    console.print(bin_dir_summary(results), soft_wrap=True)


@app.command()
def path(kubernetes_version: KubernetesVersion = DEFAULT_KUBERNETES_VERSION) -> None:
    """Print the directory holding the binaries for a Kubernetes version; exit 1 if it is incomplete."""
    binaries = find_binaries(kubernetes_version)
    typer.echo(str(binaries.kube_apiserver.parent))
