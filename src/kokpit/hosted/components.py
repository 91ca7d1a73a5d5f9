"""What each control-plane component of a hosted cluster runs: command line, files and revision.

Pure: from the cluster's parameters, its PKI, its etcd's client credentials, the binaries of the
version to run and where the runtime puts things (`Layout`, ports), to `ComponentSpec`s. The flags
themselves come from `kokpit.controlplane.commands` and `kokpit.controlplane.kwok`, shared with the
sandbox. The revision starts with the version (`v1.36.5/<hash>`), so the version a component runs is
read back from the runtime itself.

The API server's revision leaves out its certificate files: kube-apiserver reloads its serving
certificate and client CA from disk, so renewal needs no restart and its clients never see it go.
The other components read credentials only at start, so theirs include them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kokpit.binaries import BinarySet
from kokpit.controlplane import commands, kwok, pki
from kokpit.controlplane.runtime import ComponentSpec, Group, Layout
from kokpit.hosted import names

PKI_DIR = "pki"
KUBECONFIG_FILE = "kubeconfig"


@dataclass(frozen=True)
class EtcdAccess:
    """How the API server reaches its etcd: endpoints, prefix and client credentials."""

    endpoints: tuple[str, ...]
    prefix: str
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class ClusterParameters:
    """What the components of one hosted cluster share."""

    name: str
    group: Group
    endpoint: str
    bind_address: str
    port: int
    service_cidr: str
    pod_cidr: str
    cluster_domain: str = "cluster.local"


def revision_version(revision: str | None) -> str | None:
    """`revision_version` reads the version back from a revision made here (None if not one)."""
    if not revision or "/" not in revision:
        return None
    return revision.split("/", 1)[0]


def _revision(version: str, argv: list[str], files: Mapping[str, bytes]) -> str:
    digest = hashlib.sha256("\0".join(argv).encode())
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + files[path])
    return f"{version}/{digest.hexdigest()[:16]}"


def _pki_paths(layout: Layout) -> pki.PKIPaths:
    return pki.pki_paths(Path(layout.files_dir) / PKI_DIR)


def _relative(layout: Layout, path: Path) -> str:
    return str(PurePosixPath(path).relative_to(layout.files_dir))


def kubeconfig_bytes(
    params: ClusterParameters, cluster_pki: pki.ClusterPKI, user: str, cert: pki.CertKey
) -> bytes:
    """`kubeconfig_bytes` is a kubeconfig for `user` with `cert`, every credential embedded."""
    config = pki.kubeconfig(
        cluster=params.name,
        server=params.endpoint,
        ca_pem=cluster_pki.ca.cert_pem,
        user=user,
        credentials=cert,
    )
    return pki.kubeconfig_yaml(config).encode()


def apiserver_spec(
    params: ClusterParameters,
    layout: Layout,
    binaries: BinarySet,
    cluster_pki: pki.ClusterPKI,
    etcd: EtcdAccess,
) -> ComponentSpec:
    """`apiserver_spec` runs kube-apiserver on `params.bind_address:params.port` against `etcd`."""
    paths = _pki_paths(layout)
    files = {
        _relative(layout, paths.ca_cert): cluster_pki.ca.cert_pem,
        _relative(layout, paths.apiserver_cert): cluster_pki.apiserver.cert_pem,
        _relative(layout, paths.apiserver_key): cluster_pki.apiserver.key_pem,
        _relative(layout, paths.apiserver_kubelet_client_cert): cluster_pki.apiserver_kubelet_client.cert_pem,
        _relative(layout, paths.apiserver_kubelet_client_key): cluster_pki.apiserver_kubelet_client.key_pem,
        _relative(layout, paths.front_proxy_ca_cert): cluster_pki.front_proxy_ca.cert_pem,
        _relative(layout, paths.front_proxy_client_cert): cluster_pki.front_proxy_client.cert_pem,
        _relative(layout, paths.front_proxy_client_key): cluster_pki.front_proxy_client.key_pem,
        _relative(layout, paths.service_account_pub): cluster_pki.service_account_pub,
        _relative(layout, paths.service_account_key): cluster_pki.service_account_key,
        _relative(layout, paths.etcd_ca_cert): etcd.ca_pem,
        _relative(layout, paths.apiserver_etcd_client_cert): etcd.cert_pem,
        _relative(layout, paths.apiserver_etcd_client_key): etcd.key_pem,
    }
    options = commands.APIServerOptions(
        bind_address=params.bind_address,
        secure_port=params.port,
        etcd_servers=list(etcd.endpoints),
        service_cluster_ip_range=params.service_cidr,
        etcd_prefix=etcd.prefix,
        cluster_domain=params.cluster_domain,
    )
    argv = commands.kube_apiserver_argv(binaries.kube_apiserver, options=options, pki=paths)
    # Certificates are reloaded from disk by kube-apiserver: not part of the revision (see module doc).
    # The service-account keys are not, nor is the etcd CA: they are.
    restart_files = {
        k: v
        for k, v in files.items()
        if k
        in (
            _relative(layout, paths.service_account_pub),
            _relative(layout, paths.service_account_key),
            _relative(layout, paths.etcd_ca_cert),
        )
    }
    return ComponentSpec(
        group=params.group,
        name=names.APISERVER,
        argv=tuple(argv),
        revision=_revision(binaries.kubernetes_version, argv, restart_files),
        files=files,
        labels={"component": names.APISERVER},
    )


def controller_manager_spec(
    params: ClusterParameters, layout: Layout, binaries: BinarySet, cluster_pki: pki.ClusterPKI, port: int
) -> ComponentSpec:
    """`controller_manager_spec` runs kube-controller-manager with every controller, on `port`."""
    paths = _pki_paths(layout)
    kubeconfig = Path(layout.files_dir) / KUBECONFIG_FILE
    files = {
        KUBECONFIG_FILE: kubeconfig_bytes(
            params, cluster_pki, "system:kube-controller-manager", cluster_pki.controller_manager
        ),
        _relative(layout, paths.ca_cert): cluster_pki.ca.cert_pem,
        _relative(layout, paths.ca_key): cluster_pki.ca.key_pem,
        _relative(layout, paths.front_proxy_ca_cert): cluster_pki.front_proxy_ca.cert_pem,
        _relative(layout, paths.service_account_key): cluster_pki.service_account_key,
    }
    argv = commands.kube_controller_manager_argv(
        binaries.kube_controller_manager,
        kubeconfig=kubeconfig,
        pki=paths,
        bind_address=params.bind_address,
        secure_port=port,
        cert_dir=Path(layout.data_dir) / "certs",
    )
    return ComponentSpec(
        group=params.group,
        name=names.CONTROLLER_MANAGER,
        argv=tuple(argv),
        revision=_revision(binaries.kubernetes_version, argv, files),
        files=files,
        labels={"component": names.CONTROLLER_MANAGER},
    )


def scheduler_spec(
    params: ClusterParameters, layout: Layout, binaries: BinarySet, cluster_pki: pki.ClusterPKI, port: int
) -> ComponentSpec:
    """`scheduler_spec` runs kube-scheduler on `port`."""
    kubeconfig = Path(layout.files_dir) / KUBECONFIG_FILE
    files = {
        KUBECONFIG_FILE: kubeconfig_bytes(
            params, cluster_pki, "system:kube-scheduler", cluster_pki.scheduler
        ),
    }
    argv = commands.kube_scheduler_argv(
        binaries.kube_scheduler,
        kubeconfig=kubeconfig,
        bind_address=params.bind_address,
        secure_port=port,
        cert_dir=Path(layout.data_dir) / "certs",
    )
    return ComponentSpec(
        group=params.group,
        name=names.SCHEDULER,
        argv=tuple(argv),
        revision=_revision(binaries.kubernetes_version, argv, files),
        files=files,
        labels={"component": names.SCHEDULER},
    )


def kwok_spec(
    params: ClusterParameters, layout: Layout, binaries: BinarySet, cluster_pki: pki.ClusterPKI, port: int
) -> ComponentSpec:
    """`kwok_spec` runs kwok for the cluster's simulated nodes, its HTTP server on `port`."""
    kubeconfig = Path(layout.files_dir) / KUBECONFIG_FILE
    files = {KUBECONFIG_FILE: kubeconfig_bytes(params, cluster_pki, "kokpit-admin", cluster_pki.admin)}
    argv = kwok.kwok_argv(
        kwok=binaries.kwok,
        kubeconfig=kubeconfig,
        server_address=f"{params.bind_address}:{port}",
        stage_files=kwok.stage_files(),
        pod_cidr=params.pod_cidr,
    )
    return ComponentSpec(
        group=params.group,
        name=names.KWOK,
        argv=tuple(argv),
        revision=_revision("kwok", argv, files),
        files=files,
        labels={"component": names.KWOK},
    )


def health_url(component: str, bind_address: str, port: int) -> str:
    """`health_url` is where a component answers `ok` (the API server is probed through its client)."""
    if component == names.KWOK:
        return kwok.healthz_url(f"{bind_address}:{port}")
    return f"https://{bind_address}:{port}/healthz"
