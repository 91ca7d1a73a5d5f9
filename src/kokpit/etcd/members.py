"""What one etcd member runs: its command line (through `kokpit.controlplane.commands.etcd_argv`,
the one etcd command-line builder), its files and its revision, for any runtime.

Pure: the runtime is asked only for addresses and paths, never to act.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kokpit.controlplane.commands import EtcdMember, EtcdTLSFiles, etcd_argv
from kokpit.controlplane.runtime import ComponentRuntime, ComponentSpec, Group
from kokpit.etcd import pki as etcd_pki
from kokpit.etcd.pki import EtcdPKI
from kokpit.etcd.planner import normalize_version

IMAGE_REPOSITORY = "registry.k8s.io/etcd"
CONTAINER_ETCD = PurePosixPath("/usr/local/bin/etcd")


@dataclass(frozen=True)
class EtcdProgram:
    """The etcd to run: local binaries (process runtime) or an image (kubernetes runtime)."""

    version: str
    etcd: Path
    etcdutl: Path
    image: str | None = None


def image_for(version: str) -> str:
    """`image_for` is the upstream etcd image of `version` (`registry.k8s.io/etcd:3.6.16-0`)."""
    return f"{IMAGE_REPOSITORY}:{normalize_version(version)}-0"


def container_program(version: str) -> EtcdProgram:
    """`container_program` is etcd as found inside the upstream image."""
    return EtcdProgram(
        version=version,
        etcd=Path(CONTAINER_ETCD),
        etcdutl=Path(CONTAINER_ETCD.parent / "etcdutl"),
        image=image_for(version),
    )


def etcd_member(runtime: ComponentRuntime, group: Group, name: str) -> EtcdMember:
    """`etcd_member` is the member's identity and addresses as the runtime places it."""
    addresses = runtime.addresses(group, name)
    return EtcdMember(
        name=name,
        client_url=addresses.client_url,
        peer_url=addresses.peer_url,
        listen_client_url=addresses.listen_client_url,
        listen_peer_url=addresses.listen_peer_url,
    )


def revision(program: EtcdProgram, member: EtcdMember, files: dict[str, bytes]) -> str:
    """`revision` changes when anything a running member must restart for changes: the version,
    its addresses, its certificates."""
    digest = hashlib.sha256()
    for part in (normalize_version(program.version), member.name, member.client_url, member.peer_url):
        digest.update(part.encode() + b"\0")
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name] + b"\0")
    return digest.hexdigest()[:16]


def member_spec(
    runtime: ComponentRuntime,
    group: Group,
    name: str,
    *,
    program: EtcdProgram,
    pki: EtcdPKI,
    initial_cluster: Sequence[str],
    initial_cluster_state: str,
    cluster_token: str,
    restore_from: Path | None = None,
    storage_size: str | None = None,
) -> ComponentSpec:
    """`member_spec` is the ComponentSpec of member `name`.

    `initial_cluster` names the members of the first membership the member sees (all initial members
    at bootstrap; the current members plus itself when joining an existing cluster). With
    `restore_from`, the data directory is first seeded from that snapshot by etcdutl.
    """
    layout = runtime.layout(group, name)
    files_dir = Path(layout.files_dir)
    tls = EtcdTLSFiles(
        ca_cert=files_dir / etcd_pki.CA_CERT,
        server_cert=files_dir / etcd_pki.SERVER_CERT,
        server_key=files_dir / etcd_pki.SERVER_KEY,
        peer_cert=files_dir / etcd_pki.PEER_CERT,
        peer_key=files_dir / etcd_pki.PEER_KEY,
    )
    member = etcd_member(runtime, group, name)
    peers = [member if peer == name else etcd_member(runtime, group, peer) for peer in initial_cluster]
    argv = etcd_argv(
        program.etcd,
        member=member,
        data_dir=Path(layout.data_dir),
        pki=tls,
        initial_cluster=peers,
        initial_cluster_state=initial_cluster_state,
        cluster_token=cluster_token,
    )
    files = pki.member_files()
    init_argv: tuple[str, ...] | None = None
    if restore_from is not None:
        init_argv = (
            str(program.etcdutl),
            "snapshot",
            "restore",
            str(restore_from),
            f"--name={name}",
            f"--data-dir={layout.data_dir}",
            "--initial-cluster=" + ",".join(f"{p.name}={p.peer_url}" for p in peers),
            f"--initial-cluster-token={cluster_token}",
            f"--initial-advertise-peer-urls={member.peer_url}",
        )
    return ComponentSpec(
        group=group,
        name=name,
        argv=tuple(argv),
        revision=revision(program, member, files),
        files=files,
        image=program.image,
        container_command=str(CONTAINER_ETCD) if program.image else None,
        init_argv=init_argv,
        labels={"etcd.kokpit.io/cluster": group.name},
        storage_size=storage_size,
    )
