"""Control-plane command lines: the flags every runtime relies on are there."""

from __future__ import annotations

from pathlib import Path

from kokpit.controlplane import commands
from kokpit.controlplane.pki import pki_paths

PKI = pki_paths(Path("/pki"))


def flags(argv: list[str]) -> dict[str, str]:
    return dict(arg.removeprefix("--").split("=", 1) for arg in argv[1:])


def test_etcd_requires_client_and_peer_certificates() -> None:
    member = commands.EtcdMember("e1", "https://127.0.0.1:2379", "https://127.0.0.1:2380")
    other = commands.EtcdMember("e2", "https://127.0.0.2:2379", "https://127.0.0.2:2380")
    argv = commands.etcd_argv(
        Path("/bin/etcd"),
        member=member,
        data_dir=Path("/data"),
        pki=PKI,
        initial_cluster=[member, other],
        initial_cluster_state="existing",
    )
    got = flags(argv)
    assert argv[0] == "/bin/etcd"
    assert got["client-cert-auth"] == "true" and got["peer-client-cert-auth"] == "true"
    assert got["trusted-ca-file"] == "/pki/etcd/ca.crt"
    assert got["initial-cluster"] == "e1=https://127.0.0.1:2380,e2=https://127.0.0.2:2380"
    assert got["initial-cluster-state"] == "existing"


def test_apiserver_serves_tls_with_rbac_and_talks_tls_to_etcd() -> None:
    options = commands.APIServerOptions(
        bind_address="127.0.0.1", secure_port=6443, etcd_servers=["https://127.0.0.1:2379"]
    )
    got = flags(commands.kube_apiserver_argv(Path("/bin/kube-apiserver"), options=options, pki=PKI))
    assert "RBAC" in got["authorization-mode"].split(",")
    assert got["tls-cert-file"] == "/pki/apiserver.crt"
    assert got["client-ca-file"] == "/pki/ca.crt"
    assert got["etcd-certfile"] == "/pki/apiserver-etcd-client.crt"
    assert got["service-account-signing-key-file"] == "/pki/sa.key"
    assert got["secure-port"] == "6443"


def test_hub_controller_manager_runs_no_workload_controllers() -> None:
    argv = commands.kube_controller_manager_argv(
        Path("/bin/kcm"),
        kubeconfig=Path("/k"),
        pki=PKI,
        bind_address="127.0.0.1",
        secure_port=1,
        cert_dir=Path("/c"),
        controllers=commands.HUB_CONTROLLERS,
    )
    controllers = flags(argv)["controllers"].split(",")
    assert "namespace-controller" in controllers
    assert "garbage-collector-controller" in controllers
    for workload in ("deployment-controller", "replicaset-controller", "job-controller", "*"):
        assert workload not in controllers


def test_cluster_controller_manager_runs_what_tls_bootstrap_needs() -> None:
    argv = commands.kube_controller_manager_argv(
        Path("/bin/kcm"),
        kubeconfig=Path("/k"),
        pki=PKI,
        bind_address="127.0.0.1",
        secure_port=1,
        cert_dir=Path("/c"),
    )
    got = flags(argv)
    controllers = got["controllers"].split(",")
    # Every default controller (CSR approving and signing among them), plus the two off by default.
    assert controllers[0] == "*"
    assert {"bootstrap-signer-controller", "token-cleaner-controller"} <= set(controllers)
    assert got["cluster-signing-cert-file"] == "/pki/ca.crt"
    assert got["cluster-signing-key-file"] == "/pki/ca.key"


def test_apiserver_takes_bootstrap_tokens_and_dials_kubelets_by_internal_ip() -> None:
    options = commands.APIServerOptions(
        bind_address="10.77.0.1", secure_port=6443, etcd_servers=["https://127.0.0.1:2379"]
    )
    got = flags(commands.kube_apiserver_argv(Path("/bin/kube-apiserver"), options=options, pki=PKI))
    assert got["enable-bootstrap-token-auth"] == "true"
    assert got["kubelet-preferred-address-types"] == "InternalIP,Hostname"
    assert got["kubelet-client-certificate"] == "/pki/apiserver-kubelet-client.crt"
    assert (got["bind-address"], got["advertise-address"]) == ("10.77.0.1", "10.77.0.1")
