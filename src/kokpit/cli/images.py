"""`kokpit images`: build the small OCI images real nodes run, and list what was built."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kokpit.controlplane.images import BUSYBOX, build_images, built_references

app = typer.Typer(help="Build and list the OCI images kokpit delivers to nodes.", no_args_is_help=True)

DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir", help="Image cache directory (default: $KOKPIT_IMAGES_DIR or ~/.cache/kokpit/images)."
    ),
]


@app.command()
def build(
    directory: DirOption = None,
    busybox: Annotated[
        Path, typer.Option("--busybox", help="The static busybox the images are made of.")
    ] = BUSYBOX,
) -> None:
    """Build every image archive (idempotent); print reference, manifest digest and archive path."""
    for archive, path in build_images(directory, busybox=busybox):
        typer.echo(f"{archive.reference} {archive.manifest_digest} {path}")


@app.command("list")
def list_images(directory: DirOption = None) -> None:
    """Print the references of the images kokpit built, one a line."""
    for reference in built_references(directory):
        typer.echo(reference)
