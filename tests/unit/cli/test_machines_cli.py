"""`kokpit machines` and `kokpit hosts`: what the tables show, the promotion patch, and bad hub
kubeconfigs answered with one line."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kokpit.cli.machines import (
    components_cell,
    describe_machine,
    describe_set,
    host_row,
    machine_row,
    promotion_patch,
    set_row,
)
from kokpit.machines.machineset_plan import PROMOTED_ANNOTATION, revision_of

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

MACHINE: dict[str, Any] = {
    "metadata": {
        "name": "pool-host-1",
        "namespace": "default",
        "creationTimestamp": "2026-01-01T11:55:00Z",
        "labels": {"machines.kokpit.io/machine-set": "pool", "machines.kokpit.io/revision": "abc123"},
        "annotations": {"machines.kokpit.io/remediation": "repair"},
    },
    "spec": {
        "hostRef": {"name": "host-1"},
        "clusterRef": {"kind": "HostedCluster", "name": "prod"},
        "components": [
            {"name": "containerd", "version": "2.4.2"},
            {"name": "kubelet", "version": "v1.36.5"},
            {"name": "kube-proxy", "version": "v1.36.5"},
        ],
    },
    "status": {
        "phase": "Repairing",
        "nodeRef": {"name": "host-1"},
        "components": [
            {"name": "containerd", "version": "2.4.2", "digest": "sha256:" + "a" * 64, "healthy": True},
            {"name": "kubelet", "version": "v1.35.4", "healthy": False, "message": "check: no pid\nexit 1"},
        ],
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "ComponentUnhealthy", "message": "kubelet"}
        ],
    },
}


def test_machine_row() -> None:
    assert machine_row(MACHINE, NOW) == [
        "pool-host-1",
        "pool",
        "host-1",
        "host-1",
        "Repairing (repair)",
        "False",
        "abc123",
        "containerd=2.4.2,kubelet=v1.35.4!,kube-proxy=?v1.36.5",
        "5m",
    ]


def test_components_cell_of_a_machine_without_status() -> None:
    assert components_cell({"spec": {"components": [{"name": "runc", "version": "1.1.5"}]}}) == "runc=?1.1.5"


def test_host_row() -> None:
    host = {
        "metadata": {"name": "host-2", "creationTimestamp": "2026-01-01T10:00:00Z"},
        "spec": {"address": "10.77.0.12", "port": 2222},
        "status": {
            "phase": "Claimed",
            "machineRef": {"name": "pool-host-2"},
            "distribution": "debian",
            "architecture": "amd64",
            "conditions": [{"type": "Reachable", "status": "True"}],
        },
    }
    assert host_row(host, NOW) == [
        "host-2",
        "10.77.0.12:2222",
        "Claimed",
        "pool-host-2",
        "True",
        "debian",
        "amd64",
        "2h",
    ]


def test_set_row_shows_a_pause() -> None:
    machine_set = {
        "metadata": {"name": "pool", "creationTimestamp": "2026-01-01T11:00:00Z"},
        "spec": {"replicas": 3},
        "status": {
            "readyReplicas": 3,
            "updatedReplicas": 1,
            "revision": "abc123",
            "paused": True,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Ready"},
                {"type": "Paused", "status": "True", "reason": "AwaitingPromotion"},
            ],
        },
    }
    assert set_row(machine_set, NOW) == ["pool", "3", "3", "1", "abc123", "yes", "AwaitingPromotion", "1h"]
    text = describe_set(machine_set, [MACHINE], NOW)
    assert "PAUSED" in text and "pool-host-1" in text


def test_describe_machine_names_versions_digests_health_and_the_remediation() -> None:
    text = describe_machine(
        MACHINE, [{"type": "Warning", "reason": "RemediationRequested", "note": "repair"}]
    )
    assert "kubelet" in text and "want v1.36.5" in text and "have v1.35.4" in text
    assert "sha256:aaaaaaaaaaaa" in text
    assert "not healthy" in text and "check: no pid" in text
    assert "Remediation: repair" in text
    assert "Ready=False ComponentUnhealthy" in text
    assert "RemediationRequested" in text


def test_promotion_patch_is_the_template_revision() -> None:
    template = {"clusterRef": {"kind": "HostedCluster", "name": "prod"}, "components": []}
    revision, patch = promotion_patch(
        {"spec": {"template": {"spec": template}}, "status": {"revision": "stale"}}
    )
    assert revision == revision_of(template)
    assert patch == {"metadata": {"annotations": {PROMOTED_ANNOTATION: revision}}}


UNREACHABLE = """\
apiVersion: v1
kind: Config
clusters: [{name: hub, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: hub, context: {cluster: hub, user: hub}}]
users: [{name: hub, user: {token: t}}]
current-context: hub
"""


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["machines", "get"], id="machines get"),
        pytest.param(["machines", "get", "--sets"], id="machines get --sets"),
        pytest.param(["machines", "describe", "m1"], id="machines describe"),
        pytest.param(["machines", "promote", "pool"], id="machines promote"),
        pytest.param(["machines", "drain", "m1", "--timeout", "1"], id="machines drain"),
        pytest.param(["hosts", "get"], id="hosts get"),
    ],
)
@pytest.mark.parametrize(
    "kubeconfig", [UNREACHABLE, "clusters: [\n  a: b: c\n"], ids=["unreachable", "bad YAML"]
)
def test_a_hub_it_cannot_use_is_one_line(
    argv: list[str],
    kubeconfig: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kokpit.cli.main import main

    hub = tmp_path / "hub.kubeconfig"
    hub.write_text(kubeconfig)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KOKPIT_KUBECONFIG", str(hub))
    monkeypatch.setattr(sys, "argv", ["kokpit", *argv])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code not in (0, None)
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith("kokpit: error: ")


def test_an_unknown_output_format_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from kokpit.cli.main import main

    monkeypatch.setattr(sys, "argv", ["kokpit", "hosts", "get", "-o", "wide"])
    with pytest.raises(SystemExit):
        main()
    assert "unknown output format 'wide'" in capsys.readouterr().err
