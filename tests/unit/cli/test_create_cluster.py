"""`kokpit create cluster`'s manifest: kwok nodes, real workers on an address nodes reach, and the
one-line refusals before anything is written to the hub."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from pydantic import ValidationError

from kokpit.cli.hosted import WORKERS_NEED_ADDRESS, cluster_manifest
from kokpit.cli.main import main

VERSION = "v1.36.5"


@pytest.mark.parametrize(
    ("options", "spec"),
    [
        pytest.param({}, {"kubernetesVersion": VERSION, "nodes": 0}, id="nothing asked: no nodes"),
        pytest.param({"nodes": 3}, {"kubernetesVersion": VERSION, "nodes": 3}, id="3 kwok nodes"),
        pytest.param(
            {"workers": 2, "exposure_address": "10.77.0.1"},
            {
                "kubernetesVersion": VERSION,
                "nodes": 0,
                "exposure": {"address": "10.77.0.1"},
                "workers": {"replicas": 2},
            },
            id="2 workers served on the nodes' network",
        ),
        pytest.param(
            {"workers": 1, "exposure_address": "10.0.0.5", "host_selector": {"pool": "gpu"}},
            {
                "kubernetesVersion": VERSION,
                "nodes": 0,
                "exposure": {"address": "10.0.0.5"},
                "workers": {"replicas": 1, "hostSelector": {"matchLabels": {"pool": "gpu"}}},
            },
            id="1 worker on Hosts labelled pool=gpu",
        ),
        pytest.param(
            {"exposure_address": "10.0.0.5"},
            {"kubernetesVersion": VERSION, "nodes": 0, "exposure": {"address": "10.0.0.5"}},
            id="an exposure address without workers",
        ),
    ],
)
def test_the_manifest_create_cluster_writes(options: dict[str, Any], spec: dict[str, Any]) -> None:
    manifest = cluster_manifest(
        "prod", "default", version=VERSION, service_cidr=None, pod_cidr=None, **{"nodes": 0, **options}
    )
    assert manifest["kind"] == "HostedCluster"
    assert manifest["metadata"] == {"name": "prod", "namespace": "default"}
    assert manifest["spec"] == spec


@pytest.mark.parametrize("address", ["127.0.0.1", "127.1.2.3", "::1"])
def test_workers_on_a_loopback_exposure_are_refused(address: str) -> None:
    with pytest.raises(ValidationError, match=r"exposure\.address"):
        cluster_manifest(
            "prod",
            "default",
            version=VERSION,
            nodes=0,
            service_cidr=None,
            pod_cidr=None,
            workers=2,
            exposure_address=address,
        )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--workers", "2"], WORKERS_NEED_ADDRESS, id="workers without an exposure address"),
        pytest.param(
            ["--workers", "2", "--exposure-address", "127.0.0.1"],
            "set exposure.address to an address they reach",
            id="workers on loopback",
        ),
        pytest.param(
            ["--host-selector", "pool=gpu"], "give --workers N too", id="a host selector without workers"
        ),
        pytest.param(
            ["--workers", "1", "--exposure-address", "10.0.0.5", "--host-selector", "pool"],
            "use key=value",
            id="a host selector that is not key=value",
        ),
    ],
)
def test_bad_worker_flags_are_one_line(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before the hub is asked anything (no hub kubeconfig is even set)."""
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KOKPIT_KUBECONFIG", "/nonexistent/hub.kubeconfig")
    monkeypatch.setattr(sys, "argv", ["kokpit", "create", "cluster", "prod", "--no-wait", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code not in (0, None)
    assert len(err.splitlines()) == 1, err
    assert err.startswith("kokpit: error: ")
    assert message in err, err
