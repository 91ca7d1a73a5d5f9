from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kokpit.controlplane import kwok


def _argv(**overrides: object) -> list[str]:
    args: dict[str, object] = {
        "kwok": Path("/bin/kwok"),
        "kubeconfig": Path("/sandbox/member-1/admin.kubeconfig"),
        "server_address": "127.0.0.1:10247",
        "stage_files": kwok.stage_files(),
    }
    args.update(overrides)
    return kwok.kwok_argv(**args)  # type: ignore[arg-type]


def test_argv_starts_with_binary_and_names_kubeconfig_selector_and_server() -> None:
    argv = _argv()
    assert argv[0] == "/bin/kwok"
    assert "--kubeconfig=/sandbox/member-1/admin.kubeconfig" in argv
    assert "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake" in argv
    assert "--server-address=127.0.0.1:10247" in argv
    assert "--node-ip=10.0.0.1" in argv
    assert "--node-lease-duration-seconds=40" in argv
    assert not any(arg.startswith("--manage-all-nodes") for arg in argv)


def test_argv_passes_each_stage_file_with_its_own_config_flag() -> None:
    files = kwok.stage_files()
    configs = [arg.removeprefix("--config=") for arg in _argv() if arg.startswith("--config=")]
    assert configs == [str(path) for path in files]


def test_argv_node_ip_and_cidr_are_configurable() -> None:
    argv = _argv(node_ip="10.1.0.1", pod_cidr="10.96.0.0/12")
    assert "--node-ip=10.1.0.1" in argv
    assert "--cidr=10.96.0.0/12" in argv


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"stage_files": []}, id="no stage files"),
        pytest.param({"node_lease_duration_seconds": 0}, id="leases off"),
        pytest.param({"stage_files": [Path("/a,b/stage.yaml")]}, id="comma in stage path"),
    ],
)
def test_argv_rejects(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        _argv(**overrides)


@pytest.mark.parametrize(
    ("address", "url"),
    [
        pytest.param("127.0.0.1:10247", "http://127.0.0.1:10247/healthz", id="loopback"),
        pytest.param("0.0.0.0:10247", "http://127.0.0.1:10247/healthz", id="wildcard ipv4"),
        pytest.param("[::]:10247", "http://[::1]:10247/healthz", id="wildcard ipv6"),
        pytest.param("127.0.5.9:31000", "http://127.0.5.9:31000/healthz", id="own loopback address"),
    ],
)
def test_healthz_url(address: str, url: str) -> None:
    assert kwok.healthz_url(address) == url


def test_healthz_url_needs_a_port() -> None:
    with pytest.raises(ValueError):
        kwok.healthz_url("127.0.0.1")


def test_kwok_env_sets_work_directory() -> None:
    assert kwok.kwok_env(Path("/sandbox/member-1/kwok")) == {"KWOK_WORKDIR": "/sandbox/member-1/kwok"}


def _node() -> dict[str, object]:
    return kwok.fake_node(
        "member-1-node-0",
        cpu="32",
        memory="256Gi",
        pods="110",
        labels={"topology.kubernetes.io/region": "eu-west", "topology.kubernetes.io/zone": "eu-west-a"},
    )


def test_fake_node_carries_the_selector_annotation() -> None:
    node = _node()
    metadata = node["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["name"] == "member-1-node-0"
    assert metadata["annotations"][kwok.NODE_ANNOTATION] == "fake"
    assert kwok.NODE_SELECTOR == "kwok.x-k8s.io/node=fake"


def test_fake_node_labels() -> None:
    metadata = _node()["metadata"]
    assert isinstance(metadata, dict)
    assert metadata["labels"] == {
        "type": "kwok",
        "kubernetes.io/hostname": "member-1-node-0",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node-role.kubernetes.io/agent": "",
        "topology.kubernetes.io/region": "eu-west",
        "topology.kubernetes.io/zone": "eu-west-a",
    }


def test_fake_node_capacity_and_allocatable() -> None:
    status = _node()["status"]
    assert isinstance(status, dict)
    expected = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    assert status["capacity"] == expected
    assert status["allocatable"] == expected
    assert "addresses" not in status


def test_fake_node_has_no_taints() -> None:
    spec = _node()["spec"]
    assert isinstance(spec, dict)
    assert "taints" not in spec
    assert "unschedulable" not in spec


def test_fake_node_optional_pod_cidr_and_address() -> None:
    node = kwok.fake_node(
        "n", cpu="1", memory="1Gi", pods="10", labels={}, pod_cidr="10.244.3.0/24", internal_ip="10.0.3.1"
    )
    assert node["spec"] == {"podCIDR": "10.244.3.0/24", "podCIDRs": ["10.244.3.0/24"]}
    assert node["status"]["addresses"] == [
        {"type": "InternalIP", "address": "10.0.3.1"},
        {"type": "Hostname", "address": "n"},
    ]


def test_stage_files_exist_and_are_kwok_stages() -> None:
    files = kwok.stage_files()
    assert [path.name for path in files] == [
        "node-initialize.yaml",
        "node-heartbeat-with-lease.yaml",
        "pod-ready.yaml",
        "pod-complete.yaml",
        "pod-delete.yaml",
    ]
    kinds: dict[str, str] = {}
    for path in files:
        assert path.is_file(), path
        docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        assert len(docs) == 1, path
        (stage,) = docs
        assert stage["apiVersion"] == "kwok.x-k8s.io/v1alpha1"
        assert stage["kind"] == "Stage"
        assert stage["metadata"]["name"] == path.stem
        kinds[path.stem] = stage["spec"]["resourceRef"]["kind"]
    assert sorted(kinds.values()) == ["Node", "Node", "Pod", "Pod", "Pod"]


def test_pod_delete_stage_deletes() -> None:
    (stage,) = yaml.safe_load_all((kwok.STAGE_DIR / "pod-delete.yaml").read_text())
    assert stage["spec"]["next"]["delete"] is True
