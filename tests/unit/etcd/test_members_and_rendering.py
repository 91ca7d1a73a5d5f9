"""Member command lines, revisions, the kubernetes runtime's objects, and the etcd API types."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kokpit.api.crd import crd_manifest
from kokpit.api.etcd import ETCD_BACKUP, ETCD_CLUSTER, EtcdClusterSpec
from kokpit.api.registry import ALL_RESOURCES
from kokpit.controlplane.runtime import Group, KubernetesRuntime, ProcessRuntime
from kokpit.controlplane.runtime.kubernetes import render_files_secret, render_pod, render_pvc, render_service
from kokpit.etcd.members import EtcdProgram, container_program, etcd_member, member_spec, revision
from kokpit.etcd.pki import new_etcd_pki, pki_from_secret_data, pki_secret_data

GROUP = Group("ns", "db")
PKI = new_etcd_pki("db", dns_names=["localhost"], ip_addresses=["127.0.0.1"])
PROGRAM = EtcdProgram(version="v3.6.16", etcd=Path("/bin/etcd"), etcdutl=Path("/bin/etcdutl"))


def test_process_member_spec(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path)
    spec = member_spec(
        runtime,
        GROUP,
        "db-1",
        program=PROGRAM,
        pki=PKI,
        initial_cluster=["db-0", "db-1"],
        initial_cluster_state="existing",
        cluster_token="tok",
    )
    me, other = runtime.addresses(GROUP, "db-1"), runtime.addresses(GROUP, "db-0")
    assert spec.argv[0] == "/bin/etcd"
    assert f"--listen-client-urls={me.client_url}" in spec.argv
    assert f"--initial-cluster=db-0={other.peer_url},db-1={me.peer_url}" in spec.argv
    assert "--initial-cluster-state=existing" in spec.argv
    assert f"--data-dir={tmp_path}/ns/db/db-1/data" in spec.argv
    assert f"--cert-file={tmp_path}/ns/db/db-1/files/server.crt" in spec.argv
    assert spec.init_argv is None
    assert runtime.addresses(GROUP, "db-1") == me  # stable


def test_revision_ignores_first_start_flags_but_not_the_version(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path)
    a = member_spec(
        runtime,
        GROUP,
        "db-0",
        program=PROGRAM,
        pki=PKI,
        cluster_token="t",
        initial_cluster=["db-0"],
        initial_cluster_state="new",
    )
    b = member_spec(
        runtime,
        GROUP,
        "db-0",
        program=PROGRAM,
        pki=PKI,
        cluster_token="t",
        initial_cluster=["db-0", "db-1"],
        initial_cluster_state="existing",
    )
    assert a.revision == b.revision
    newer = EtcdProgram(version="v3.7.0", etcd=Path("/bin/etcd"), etcdutl=Path("/bin/etcdutl"))
    member = etcd_member(runtime, GROUP, "db-0")
    assert revision(newer, member, PKI.member_files()) != a.revision


def test_restore_seeds_with_etcdutl(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path)
    spec = member_spec(
        runtime,
        GROUP,
        "db-0",
        program=PROGRAM,
        pki=PKI,
        initial_cluster=["db-0", "db-1", "db-2"],
        initial_cluster_state="new",
        cluster_token="tok",
        restore_from=Path("/snap.db"),
    )
    assert spec.init_argv is not None
    assert spec.init_argv[:4] == ("/bin/etcdutl", "snapshot", "restore", "/snap.db")
    assert "--initial-cluster-token=tok" in spec.init_argv
    assert any(a.startswith("--initial-cluster=db-0=") and a.count("=https") == 3 for a in spec.init_argv)


def test_kubernetes_rendering() -> None:
    runtime = KubernetesRuntime(client=None)  # type: ignore[arg-type]
    spec = member_spec(
        runtime,
        GROUP,
        "db-0",
        program=container_program("v3.6.16"),
        pki=PKI,
        initial_cluster=["db-0", "db-1", "db-2"],
        initial_cluster_state="new",
        cluster_token="tok",
        storage_size="8Gi",
    )
    pod = render_pod(spec, "ns")
    container = pod["spec"]["containers"][0]
    assert container["image"] == "registry.k8s.io/etcd:3.6.16-0"
    assert container["command"][0] == "/usr/local/bin/etcd"
    assert "--advertise-client-urls=https://db-0.db-peers.ns.svc:2379" in container["command"]
    assert "--listen-client-urls=https://0.0.0.0:2379" in container["command"]
    assert pod["spec"]["hostname"] == "db-0" and pod["spec"]["subdomain"] == "db-peers"
    assert pod["metadata"]["annotations"]["kokpit.io/revision"] == spec.revision
    assert render_pvc(spec, "ns")["spec"]["resources"]["requests"]["storage"] == "8Gi"
    assert set(render_files_secret(spec, "ns")["data"]) == set(PKI.member_files())
    service = render_service(GROUP, "ns")
    assert service["spec"]["clusterIP"] == "None" and service["spec"]["publishNotReadyAddresses"] is True
    dns, _ = runtime.certificate_hosts(GROUP)
    assert "*.db-peers.ns.svc" in dns


def test_pki_round_trips_through_a_secret() -> None:
    assert pki_from_secret_data(pki_secret_data(PKI)) == PKI


@pytest.mark.parametrize(
    ("spec", "ok"),
    [
        ({"version": "v3.6.16"}, True),
        ({"version": "3.5.35", "size": 7}, True),
        ({"version": "v3.6.16", "size": 0}, False),
        ({"version": "v3.6.16", "size": 8}, False),
        ({"version": "latest"}, False),
        ({"version": "v3.6.16", "backup": {"schedule": "*/5 * * * *", "destination": "/b"}}, False),
        ({"version": "v3.6.16", "backup": {"schedule": "10m", "destination": "/b"}}, True),
    ],
    ids=["defaults", "3.5 size 7", "size 0", "size 8", "not a version", "cron", "interval"],
)
def test_spec_validation(spec: dict[str, object], ok: bool) -> None:
    if ok:
        EtcdClusterSpec.model_validate(spec)
    else:
        with pytest.raises(ValidationError):
            EtcdClusterSpec.model_validate(spec)


def test_crds() -> None:
    assert ETCD_CLUSTER in ALL_RESOURCES and ETCD_BACKUP in ALL_RESOURCES
    crd = crd_manifest(ETCD_CLUSTER)
    version = crd["spec"]["versions"][0]
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[:5] == ["Size", "Ready", "Leader", "Version", "Phase"] and "Age" in columns
    size = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["size"]
    assert (size["minimum"], size["maximum"]) == (1, 7)
    rules = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"]
    assert any("oldSelf" in r["rule"] for r in rules)
    crd_manifest(ETCD_BACKUP)
