"""kokpit's OCI images: deterministic archives whose digests and manifests containerd accepts."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from kokpit.controlplane.images import (
    APPLETS,
    IMAGES,
    PAUSE,
    WEB,
    ImageError,
    ImageSpec,
    build_images,
    built_references,
    go_architecture,
    image_archive,
    is_static_elf,
)


def fake_elf(*, interpreter: bool = False, payload: bytes = b"busybox") -> bytes:
    """A 64-bit little-endian ELF header with one program header (PT_INTERP or PT_LOAD)."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    header[32:40] = (64).to_bytes(8, "little")  # e_phoff
    header[54:56] = (56).to_bytes(2, "little")  # e_phentsize
    header[56:58] = (1).to_bytes(2, "little")  # e_phnum
    program = bytearray(56)
    program[:4] = (3 if interpreter else 1).to_bytes(4, "little")
    return bytes(header + program) + payload


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        return {info.name: info for info in archive.getmembers()}


def read(data: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        extracted = archive.extractfile(name)
        assert extracted is not None
        return extracted.read()


def blob(data: bytes, digest: str) -> bytes:
    return read(data, "blobs/sha256/" + digest.removeprefix("sha256:"))


@pytest.mark.parametrize(
    ("data", "static"),
    [
        pytest.param(fake_elf(), True, id="ELF without interpreter is static"),
        pytest.param(fake_elf(interpreter=True), False, id="ELF with PT_INTERP is dynamic"),
        pytest.param(b"#!/bin/sh\necho hi\n", False, id="a script is not an ELF"),
        pytest.param(b"\x7fELF\x01\x01" + bytes(60), False, id="32-bit ELF refused"),
    ],
)
def test_is_static_elf(data: bytes, static: bool) -> None:
    assert is_static_elf(data) is static


def test_a_dynamic_busybox_is_refused() -> None:
    with pytest.raises(ImageError, match="busybox-static"):
        image_archive(PAUSE, fake_elf(interpreter=True), architecture="amd64")


@pytest.mark.parametrize("spec", IMAGES, ids=lambda spec: spec.reference)
def test_archives_are_deterministic(spec: ImageSpec) -> None:
    busybox = fake_elf()
    first = image_archive(spec, busybox, architecture="amd64")
    second = image_archive(spec, busybox, architecture="amd64")
    assert first.data == second.data
    assert first.manifest_digest == second.manifest_digest
    other = image_archive(spec, fake_elf(payload=b"other"), architecture="amd64")
    assert other.layer_digest != first.layer_digest


@pytest.mark.parametrize("spec", IMAGES, ids=lambda spec: spec.reference)
def test_digests_index_and_docker_manifest_agree(spec: ImageSpec) -> None:
    image = image_archive(spec, fake_elf(), architecture="arm64")
    names = members(image.data)
    assert json.loads(read(image.data, "oci-layout")) == {"imageLayoutVersion": "1.0.0"}
    for name in names:
        if name.startswith("blobs/sha256/") and names[name].isfile():
            assert name.rsplit("/", 1)[1] == hashlib.sha256(read(image.data, name)).hexdigest()

    index = json.loads(read(image.data, "index.json"))
    (entry,) = index["manifests"]
    assert entry["digest"] == image.manifest_digest
    assert entry["platform"] == {"architecture": "arm64", "os": "linux"}
    assert entry["annotations"]["io.containerd.image.name"] == image.reference
    assert entry["size"] == len(blob(image.data, image.manifest_digest))

    manifest = json.loads(blob(image.data, image.manifest_digest))
    assert manifest["config"]["digest"] == image.config_digest
    assert [layer["digest"] for layer in manifest["layers"]] == [image.layer_digest]
    assert manifest["layers"][0]["size"] == len(blob(image.data, image.layer_digest))

    config = json.loads(blob(image.data, image.config_digest))
    assert config["rootfs"]["diff_ids"] == [image.layer_digest]  # an uncompressed layer is its own diff
    assert config["architecture"] == "arm64"
    assert config["config"]["Entrypoint"][0] == "/bin/sh"

    (docker,) = json.loads(read(image.data, "manifest.json"))
    assert docker["RepoTags"] == [image.reference]
    assert docker["Config"] == "blobs/sha256/" + image.config_digest.removeprefix("sha256:")


def test_layer_holds_busybox_its_applets_and_tmp() -> None:
    busybox = fake_elf()
    image = image_archive(WEB, busybox, architecture="amd64")
    layer = blob(image.data, image.layer_digest)
    entries = members(layer)
    assert read(layer, "bin/busybox") == busybox
    assert entries["bin/busybox"].mode == 0o755
    assert {f"bin/{applet}" for applet in APPLETS} <= set(entries)
    assert all(entries[f"bin/{applet}"].linkname == "busybox" for applet in APPLETS)
    assert entries["tmp"].isdir() and entries["tmp"].mode == 0o1777
    assert {info.mtime for info in entries.values()} == {0}
    assert {(info.uid, info.gid) for info in entries.values()} == {(0, 0)}


def test_web_serves_on_8080_and_pause_traps_term() -> None:
    assert "httpd -f" in WEB.entrypoint[-1] and "8080" in WEB.entrypoint[-1]
    assert WEB.exposed_ports == ("8080/tcp",)
    assert "trap 'exit 0' TERM" in PAUSE.entrypoint[-1]
    assert [spec.reference for spec in IMAGES] == ["kokpit.local/pause:3.10", "kokpit.local/web:1.0"]


def test_build_is_idempotent_and_list_shows_what_was_built(tmp_path: Path) -> None:
    busybox = tmp_path / "busybox"
    busybox.write_bytes(fake_elf())
    cache = tmp_path / "images"
    assert built_references(cache) == []
    first = build_images(cache, busybox=busybox)
    inodes = {path.name: path.stat().st_ino for _, path in first}
    second = build_images(cache, busybox=busybox)
    assert {path.name: path.stat().st_ino for _, path in second} == inodes
    assert [path.read_bytes() for _, path in second] == [archive.data for archive, _ in first]
    assert built_references(cache) == ["kokpit.local/pause:3.10", "kokpit.local/web:1.0"]


def test_missing_busybox_names_the_package(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="busybox-static"):
        build_images(tmp_path, busybox=tmp_path / "nope")


@pytest.mark.parametrize(
    ("machine", "arch"), [("x86_64", "amd64"), ("aarch64", "arm64"), ("riscv64", "riscv64")]
)
def test_go_architecture(machine: str, arch: str) -> None:
    assert go_architecture(machine) == arch
