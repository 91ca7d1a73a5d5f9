"""Command lines of a Kubernetes control plane: etcd, kube-apiserver, controller-manager, scheduler.

Pure functions from a description of the cluster to argv lists. The sandbox runs them as local
processes today; hosted clusters run the same flags as processes or as containers in a meta cluster,
so the flags live here once and every runtime agrees on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kokpit.controlplane.pki import PKIPaths

# Controllers of kube-controller-manager that do not act on workloads. A hub API server stores
# templates (Deployments, ...) that must never run there, so it gets only these: namespaces are
# cleaned up, owner references are collected, service accounts get tokens, RBAC roles aggregate,
# CSRs are signed (agents bootstrap with them) and bootstrap tokens work.
HUB_CONTROLLERS: tuple[str, ...] = (
    "namespace-controller",
    "garbage-collector-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "legacy-serviceaccount-token-cleaner-controller",
    "clusterrole-aggregation-controller",
    "root-ca-certificate-publisher-controller",
    "certificatesigningrequest-signing-controller",
    "certificatesigningrequest-approving-controller",
    "certificatesigningrequest-cleaner-controller",
    "bootstrap-signer-controller",
    "token-cleaner-controller",
)

# Controllers of a cluster that runs workloads and accepts nodes: every default controller, plus
# the two that are off by default and TLS bootstrap needs: the bootstrap signer (signs the
# `cluster-info` ConfigMap with bootstrap tokens) and the token cleaner (deletes expired bootstrap
# token Secrets). The CSR approving and signing controllers are among the defaults.
CLUSTER_CONTROLLERS: tuple[str, ...] = ("*", "bootstrap-signer-controller", "token-cleaner-controller")

KUBELET_PREFERRED_ADDRESS_TYPES: tuple[str, ...] = ("InternalIP", "Hostname")
"""How the API server dials a kubelet (logs, exec, port-forward): by the node's InternalIP first. A
node's hostname need not resolve where the API server runs (the default tries Hostname first)."""


@dataclass(frozen=True)
class EtcdMember:
    """One etcd member's identity and addresses."""

    name: str
    client_url: str
    peer_url: str
    metrics_url: str | None = None
    listen_client_url: str | None = None
    """Where to listen for clients when it differs from `client_url` (in a Pod: every interface)."""
    listen_peer_url: str | None = None
    """Where to listen for peers when it differs from `peer_url`."""


@dataclass(frozen=True)
class EtcdTLSFiles:
    """The certificate files etcd reads: its CA, serving and peer pairs (paths as etcd sees them)."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    peer_cert: Path
    peer_key: Path

    @classmethod
    def from_pki(cls, pki: PKIPaths) -> EtcdTLSFiles:
        """`from_pki` picks the etcd files of a cluster PKI in kubeadm's layout."""
        return cls(
            ca_cert=pki.etcd_ca_cert,
            server_cert=pki.etcd_server_cert,
            server_key=pki.etcd_server_key,
            peer_cert=pki.etcd_peer_cert,
            peer_key=pki.etcd_peer_key,
        )


def etcd_argv(
    binary: Path,
    *,
    member: EtcdMember,
    data_dir: Path,
    pki: PKIPaths | EtcdTLSFiles,
    initial_cluster: Sequence[EtcdMember] = (),
    initial_cluster_state: str = "new",
    cluster_token: str = "kokpit",
    quota_backend_bytes: int = 2 * 1024**3,
) -> list[str]:
    """The etcd command line for `member`, with client and peer TLS required.

    `initial_cluster` defaults to the member alone (a single-member cluster). `pki` is a cluster PKI
    in kubeadm's layout, or just the etcd files (an etcd cluster with its own CA).
    """
    tls = pki if isinstance(pki, EtcdTLSFiles) else EtcdTLSFiles.from_pki(pki)
    peers = initial_cluster or (member,)
    argv = [
        str(binary),
        f"--name={member.name}",
        f"--data-dir={data_dir}",
        f"--listen-client-urls={member.listen_client_url or member.client_url}",
        f"--advertise-client-urls={member.client_url}",
        f"--listen-peer-urls={member.listen_peer_url or member.peer_url}",
        f"--initial-advertise-peer-urls={member.peer_url}",
        "--initial-cluster=" + ",".join(f"{peer.name}={peer.peer_url}" for peer in peers),
        f"--initial-cluster-state={initial_cluster_state}",
        f"--initial-cluster-token={cluster_token}",
        f"--cert-file={tls.server_cert}",
        f"--key-file={tls.server_key}",
        "--client-cert-auth=true",
        f"--trusted-ca-file={tls.ca_cert}",
        f"--peer-cert-file={tls.peer_cert}",
        f"--peer-key-file={tls.peer_key}",
        "--peer-client-cert-auth=true",
        f"--peer-trusted-ca-file={tls.ca_cert}",
        f"--quota-backend-bytes={quota_backend_bytes}",
        "--snapshot-count=10000",
        "--log-level=warn",
    ]
    if member.metrics_url:
        argv.append(f"--listen-metrics-urls={member.metrics_url}")
    return argv


@dataclass(frozen=True)
class APIServerOptions:
    """What differs between one kube-apiserver and another."""

    bind_address: str
    secure_port: int
    etcd_servers: Sequence[str]
    service_cluster_ip_range: str = "10.96.0.0/16"
    etcd_prefix: str = "/registry"
    advertise_address: str | None = None
    cluster_domain: str = "cluster.local"
    """The cluster's DNS domain: the service-account issuer is `kubernetes.default.svc.<domain>`."""
    extra_args: Sequence[str] = field(default_factory=tuple)


def kube_apiserver_argv(binary: Path, *, options: APIServerOptions, pki: PKIPaths) -> list[str]:
    """The kube-apiserver command line: TLS, client-cert and service-account auth, RBAC on."""
    return [
        str(binary),
        f"--bind-address={options.bind_address}",
        f"--advertise-address={options.advertise_address or options.bind_address}",
        f"--secure-port={options.secure_port}",
        "--etcd-servers=" + ",".join(options.etcd_servers),
        f"--etcd-prefix={options.etcd_prefix}",
        f"--etcd-cafile={pki.etcd_ca_cert}",
        f"--etcd-certfile={pki.apiserver_etcd_client_cert}",
        f"--etcd-keyfile={pki.apiserver_etcd_client_key}",
        f"--tls-cert-file={pki.apiserver_cert}",
        f"--tls-private-key-file={pki.apiserver_key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--kubelet-client-certificate={pki.apiserver_kubelet_client_cert}",
        f"--kubelet-client-key={pki.apiserver_kubelet_client_key}",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--service-account-issuer=https://kubernetes.default.svc.{options.cluster_domain}",
        f"--service-cluster-ip-range={options.service_cluster_ip_range}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        "--enable-bootstrap-token-auth=true",
        "--kubelet-preferred-address-types=" + ",".join(KUBELET_PREFERRED_ADDRESS_TYPES),
        f"--requestheader-client-ca-file={pki.front_proxy_ca_cert}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        f"--proxy-client-cert-file={pki.front_proxy_client_cert}",
        f"--proxy-client-key-file={pki.front_proxy_client_key}",
        "--profiling=false",
        *options.extra_args,
    ]


def kube_controller_manager_argv(
    binary: Path,
    *,
    kubeconfig: Path,
    pki: PKIPaths,
    bind_address: str,
    secure_port: int,
    cert_dir: Path,
    controllers: Sequence[str] = CLUSTER_CONTROLLERS,
    leader_elect: bool = False,
) -> list[str]:
    """The kube-controller-manager command line; `controllers` narrows it (the hub profile).

    It signs CSRs with the cluster CA (`--cluster-signing-*-file`), so kubelets that bootstrap with a
    token get client certificates the API server trusts."""
    return [
        *_component_base(binary, kubeconfig, bind_address, secure_port, cert_dir, leader_elect),
        f"--client-ca-file={pki.ca_cert}",
        f"--requestheader-client-ca-file={pki.front_proxy_ca_cert}",
        f"--cluster-signing-cert-file={pki.ca_cert}",
        f"--cluster-signing-key-file={pki.ca_key}",
        f"--root-ca-file={pki.ca_cert}",
        f"--service-account-private-key-file={pki.service_account_key}",
        "--use-service-account-credentials=true",
        "--controllers=" + ",".join(controllers),
    ]


def kube_scheduler_argv(
    binary: Path,
    *,
    kubeconfig: Path,
    bind_address: str,
    secure_port: int,
    cert_dir: Path,
    leader_elect: bool = False,
) -> list[str]:
    """The kube-scheduler command line."""
    return _component_base(binary, kubeconfig, bind_address, secure_port, cert_dir, leader_elect)


def _component_base(
    binary: Path, kubeconfig: Path, bind_address: str, secure_port: int, cert_dir: Path, leader_elect: bool
) -> list[str]:
    """Flags the controller-manager and the scheduler share: one kubeconfig for everything, a
    serving port with a self-signed certificate in `cert_dir`."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--bind-address={bind_address}",
        f"--secure-port={secure_port}",
        f"--cert-dir={cert_dir}",
        f"--leader-elect={'true' if leader_elect else 'false'}",
        "--profiling=false",
    ]
