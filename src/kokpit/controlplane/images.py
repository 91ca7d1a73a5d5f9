"""Small OCI images built locally, so real nodes run pods without any registry on the internet.

Nodes have no route to a public registry, and a node cannot start a single pod without a sandbox
("pause") image. kokpit therefore builds its few images itself, in Python, from Debian's static
busybox (`/bin/busybox` of the `busybox-static` package): one uncompressed layer holding busybox
and its applet links, an OCI image config and manifest, packed as an OCI image layout archive that
also carries Docker's `manifest.json`, so both `ctr -n k8s.io images import` and `docker load`
read it. The containerd NodeComponent imports these archives into the node's containerd (the
operator uploads them as artifacts); pods then use the ordinary names (`kokpit.local/web:1.0`)
with `imagePullPolicy: IfNotPresent` or `Never`.

Builders are pure: the same busybox bytes give the same archive bytes and the same digests (sorted
tar members, zero timestamps and owners, no compression, whose output could vary with the zlib
version). Only `build_images` and `built_references` touch the disk.

The pause image is busybox `sh` as PID 1 with a TERM/INT trap (a PID 1 without a handler ignores
TERM) that waits on `sleep` forever; its `wait` reaps any child, so orphans re-parented to it in a
shared PID namespace do not linger as zombies.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kokpit.controlplane.files import write_private
from kokpit.errors import KokpitError

IMAGES_DIR_ENV = "KOKPIT_IMAGES_DIR"
BUSYBOX = Path("/bin/busybox")
"""Debian's `busybox-static`: statically linked, so it runs in an image with nothing else in it."""

INSTALL_HINT = "install Debian's busybox-static (apt-get install busybox-static)"

REGISTRY = "kokpit.local"
"""Not a resolvable registry on purpose: a node that lacks an image fails with a clear pull error
instead of reaching out to the internet."""

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"

APPLETS = ("sh", "sleep", "httpd", "cat", "echo", "env", "hostname", "ls", "ps", "wget", "nslookup", "ip")
"""The busybox applets linked in /bin: enough for the entrypoints, `kubectl exec` and debugging."""

PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"
WEB_SCRIPT = (
    'mkdir -p /tmp/www && printf "kokpit web: pod %s on node %s\\n" "${HOSTNAME:-unknown}" '
    '"${NODE_NAME:-unknown}" > /tmp/www/index.html && exec httpd -f -v -p "${PORT:-8080}" -h /tmp/www'
)


class ImageError(KokpitError):
    """An image cannot be built (busybox missing or not static)."""


@dataclass(frozen=True)
class ImageSpec:
    """What one kokpit image is: its name, tag and how its container starts."""

    name: str
    tag: str
    entrypoint: tuple[str, ...]
    env: tuple[str, ...] = ("PATH=/bin",)
    exposed_ports: tuple[str, ...] = ()
    description: str = ""

    @property
    def reference(self) -> str:
        """`reference` is the image name pods use, e.g. `kokpit.local/pause:3.10`."""
        return f"{REGISTRY}/{self.name}:{self.tag}"

    @property
    def archive_name(self) -> str:
        """`archive_name` is the file name of the image's archive in the cache, e.g. `pause-3.10.tar`."""
        return f"{self.name}-{self.tag}.tar"


PAUSE = ImageSpec(
    name="pause",
    tag="3.10",
    entrypoint=("/bin/sh", "-c", PAUSE_SCRIPT),
    description="sandbox image: sleeps until TERM",
)
WEB = ImageSpec(
    name="web",
    tag="1.0",
    entrypoint=("/bin/sh", "-c", WEB_SCRIPT),
    exposed_ports=("8080/tcp",),
    description="test web server: busybox httpd on :8080 saying which pod and node answered",
)
IMAGES: tuple[ImageSpec, ...] = (PAUSE, WEB)


@dataclass(frozen=True)
class ImageArchive:
    """One built image: its archive bytes and the digests containerd will report."""

    spec: ImageSpec
    data: bytes = field(repr=False)
    manifest_digest: str
    config_digest: str
    layer_digest: str

    @property
    def reference(self) -> str:
        """`reference` is the image's name, as `ImageSpec.reference`."""
        return self.spec.reference


def go_architecture(machine: str | None = None) -> str:
    """`go_architecture` maps `platform.machine()` names to the OCI/Go ones (x86_64 → amd64)."""
    value = (machine or platform.machine()).lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(value, value)


def is_static_elf(data: bytes) -> bool:
    """`is_static_elf` says whether `data` is a 64-bit little-endian ELF without an interpreter
    (PT_INTERP): only such a binary runs in an image that holds nothing else."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    phoff = int.from_bytes(data[32:40], "little")
    phentsize = int.from_bytes(data[54:56], "little")
    phnum = int.from_bytes(data[56:58], "little")
    for index in range(phnum):
        start = phoff + index * phentsize
        if int.from_bytes(data[start : start + 4], "little") == 3:  # PT_INTERP
            return False
    return True


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _tar_info(name: str, *, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = linkname
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _tar(entries: Iterable[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for info, data in sorted(entries, key=lambda entry: entry[0].name):
            archive.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return buffer.getvalue()


def rootfs_layer(busybox: bytes) -> bytes:
    """`rootfs_layer` is the uncompressed layer tar: /bin/busybox, its applet links in /bin, and an
    empty, world-writable /tmp (where the web image writes its page)."""
    entries: list[tuple[tarfile.TarInfo, bytes]] = [
        (_tar_info("bin", kind=tarfile.DIRTYPE, mode=0o755), b""),
        (_tar_info("tmp", kind=tarfile.DIRTYPE, mode=0o1777), b""),
        (_tar_info("bin/busybox", kind=tarfile.REGTYPE, mode=0o755, size=len(busybox)), busybox),
    ]
    entries += [
        (_tar_info(f"bin/{applet}", kind=tarfile.SYMTYPE, mode=0o777, linkname="busybox"), b"")
        for applet in APPLETS
    ]
    return _tar(entries)


def image_archive(spec: ImageSpec, busybox: bytes, *, architecture: str | None = None) -> ImageArchive:
    """`image_archive` builds `spec` over `busybox` as an OCI image layout archive (plus Docker's
    `manifest.json`). Deterministic: equal inputs give equal bytes. Raises `ImageError` if
    `busybox` is not a static ELF binary."""
    if not is_static_elf(busybox):
        raise ImageError(f"busybox is not a statically linked 64-bit ELF binary; {INSTALL_HINT}")
    arch = architecture or go_architecture()
    layer = rootfs_layer(busybox)
    layer_digest = _digest(layer)
    image_config: dict[str, object] = {"Entrypoint": list(spec.entrypoint), "Env": list(spec.env)}
    if spec.exposed_ports:
        image_config["ExposedPorts"] = {port: {} for port in spec.exposed_ports}
    config = _canonical_json(
        {
            "architecture": arch,
            "os": "linux",
            "config": image_config,
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
            "history": [{"created_by": f"kokpit: {spec.description}"}],
        }
    )
    config_digest = _digest(config)
    manifest = _canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
        }
    )
    manifest_digest = _digest(manifest)
    index = _canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": manifest_digest,
                    "size": len(manifest),
                    "platform": {"architecture": arch, "os": "linux"},
                    "annotations": {
                        "io.containerd.image.name": spec.reference,
                        "org.opencontainers.image.ref.name": spec.tag,
                    },
                }
            ],
        }
    )

    def blob(digest: str) -> str:
        return "blobs/sha256/" + digest.removeprefix("sha256:")

    docker_manifest = _canonical_json(
        [{"Config": blob(config_digest), "RepoTags": [spec.reference], "Layers": [blob(layer_digest)]}]
    )
    files = {
        "oci-layout": _canonical_json({"imageLayoutVersion": "1.0.0"}),
        "index.json": index,
        "manifest.json": docker_manifest,
        blob(config_digest): config,
        blob(layer_digest): layer,
        blob(manifest_digest): manifest,
    }
    directories = ("blobs", "blobs/sha256")
    entries = [(_tar_info(d, kind=tarfile.DIRTYPE, mode=0o755), b"") for d in directories]
    entries += [
        (_tar_info(name, kind=tarfile.REGTYPE, mode=0o644, size=len(data)), data)
        for name, data in files.items()
    ]
    return ImageArchive(
        spec=spec,
        data=_tar(entries),
        manifest_digest=manifest_digest,
        config_digest=config_digest,
        layer_digest=layer_digest,
    )


def images_dir() -> Path:
    """`images_dir` is `$KOKPIT_IMAGES_DIR` if set and non-empty, else `~/.cache/kokpit/images`."""
    configured = os.environ.get(IMAGES_DIR_ENV, "")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "kokpit" / "images"


def build_images(
    directory: Path | None = None, *, busybox: Path = BUSYBOX, specs: Iterable[ImageSpec] = IMAGES
) -> list[tuple[ImageArchive, Path]]:
    """`build_images` writes every image archive into `directory` (default `images_dir()`) and
    returns each with its path. Idempotent: an archive already holding the same bytes is left
    alone. Raises `ImageError` if busybox is missing or not static."""
    target = directory or images_dir()
    try:
        busybox_bytes = busybox.read_bytes()
    except OSError as error:
        raise ImageError(f"cannot read {busybox}: {error.strerror}; {INSTALL_HINT}") from error
    results = []
    for spec in specs:
        archive = image_archive(spec, busybox_bytes)
        path = target / spec.archive_name
        write_private(path, archive.data, mode=0o644, unchanged_ok=True)
        results.append((archive, path))
    return results


def built_references(directory: Path | None = None, *, specs: Iterable[ImageSpec] = IMAGES) -> list[str]:
    """`built_references` lists the references of the images whose archive is in `directory`
    (default `images_dir()`), in catalogue order."""
    target = directory or images_dir()
    return [spec.reference for spec in specs if (target / spec.archive_name).is_file()]
