"""The Component's conversion webhook on the real hub API server: the serving hub replica registers it
on the CRD (TLS, its CA as caBundle), a v1alpha1 object written with kubectl reads back as v1beta1 and
back exactly, the old load balancer type renders the new class on the member, and with the webhook
stopped the other version fails with the API server's error while nothing stored changes.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kokpit.api.component import COMPONENT
from kokpit.api.crd import crd_manifest
from kokpit.binaries import find_binaries
from kokpit.settings import HubSettings
from tests.support import (
    HubThread,
    SandboxHandle,
    kokpit_cli,
    kubectl,
    kubectl_apply,
    kubectl_get,
    wait_until,
)

pytestmark = pytest.mark.integration

ALPHA = "components.v1alpha1.apps.kokpit.io"
BETA = "components.v1beta1.apps.kokpit.io"
NS = "comp-convert"
TIMEOUT = 120.0

ISSUE_SPEC = {
    "workloadType": "Deployment",
    "developLanguage": "python",
    "runType": "server",
    "image": "python-demo:latest",
    "port": 8080,
}


@pytest.fixture(scope="module")
def serving(fleet: SandboxHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubThread]:
    """Every hub controller, serving kokpit's webhooks on a loopback port of this process; afterwards
    the CRD is put back as `kokpit install` writes it without a webhook."""
    hub = fleet.kubeconfig("hub")
    settings = HubSettings(state_dir=tmp_path_factory.mktemp("hub-state"), webhook_address="127.0.0.1:0")
    controllers = HubThread(hub, settings=settings).start()
    try:
        yield controllers
    finally:
        controllers.stop()
        plain = tmp_path_factory.mktemp("crd") / "component-crd.yaml"
        plain.write_text(yaml.safe_dump(crd_manifest(COMPONENT)))
        kubectl(
            hub, "apply", "--server-side", "--force-conflicts", "--field-manager=kokpit", "-f", str(plain)
        )
        kubectl(hub, "delete", "namespace", NS, "--ignore-not-found", "--wait=false", check=False)


def alpha(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps.kokpit.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": name, "namespace": NS},
        "spec": ISSUE_SPEC | spec,
    }


def get(hub: Path, resource: str, name: str) -> dict[str, Any]:
    obj = kubectl_get(hub, resource, name, NS)
    assert obj is not None
    return obj


def registered(hub: Path) -> bool:
    crd = kubectl_get(hub, "crd", COMPONENT.crd_name) or {}
    served = {v["name"]: v["served"] for v in crd["spec"]["versions"]}
    webhook = (crd["spec"].get("conversion") or {}).get("webhook") or {}
    return served == {"v1beta1": True, "v1alpha1": True} and bool(
        webhook.get("clientConfig", {}).get("caBundle")
    )


def test_the_serving_replica_registers_the_conversion_webhook_over_tls(
    fleet: SandboxHandle, serving: HubThread
) -> None:
    hub = fleet.kubeconfig("hub")
    wait_until("the Component CRD converts through kokpit", lambda: registered(hub), timeout=TIMEOUT)
    crd = get(hub, "crd", COMPONENT.crd_name)
    conversion = crd["spec"]["conversion"]
    assert conversion["strategy"] == "Webhook"
    assert conversion["webhook"]["clientConfig"]["url"].startswith("https://127.0.0.1:")
    # `kokpit install` run again keeps it.
    assert kokpit_cli("install", hub=hub).returncode == 0
    assert registered(hub)


def test_the_issue_spec_written_as_v1alpha1_reads_as_v1beta1_and_back_exactly(
    fleet: SandboxHandle, serving: HubThread, tmp_path: Path
) -> None:
    hub = fleet.kubeconfig("hub")
    wait_until("the conversion webhook", lambda: registered(hub), timeout=TIMEOUT)
    kubectl_apply(hub, tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    kubectl_apply(hub, tmp_path, alpha("nginx"))
    beta = get(hub, BETA, "nginx")
    assert beta["apiVersion"] == "apps.kokpit.io/v1beta1"
    assert beta["spec"] == {
        "workloadType": "Deployment",
        "language": "python",
        "runType": "server",
        "image": "python-demo:latest",
        "exposure": {"port": 8080},
    }
    back = get(hub, ALPHA, "nginx")
    assert back["apiVersion"] == "apps.kokpit.io/v1alpha1"
    assert back["spec"] == ISSUE_SPEC
    # kubectl shows the columns of the version asked for.
    table = kubectl(hub, "get", ALPHA, "-n", NS).stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "LANGUAGE", "WORKLOAD"]
    assert table[1].split()[:3] == ["nginx", "python", "Deployment"]


def set_storage_version(hub: Path, tmp_path: Path, version: str) -> None:
    """The Component CRD as registered now, with `version` as the storage version (an older kokpit
    stored v1alpha1)."""
    crd = get(hub, "crd", COMPONENT.crd_name)
    manifest = crd_manifest(COMPONENT)
    manifest["spec"]["conversion"] = crd["spec"]["conversion"]
    for served in manifest["spec"]["versions"]:
        served["served"] = True
        served["storage"] = served["name"] == version
    path = tmp_path / f"crd-{version}.yaml"
    path.write_text(yaml.safe_dump(manifest))
    kubectl(hub, "apply", "--server-side", "--force-conflicts", "--field-manager=kokpit", "-f", str(path))


COMPONENT_ALPHA = "apps.kokpit.io/v1alpha1"
COMPONENT_BETA = "apps.kokpit.io/v1beta1"


def stored_in_etcd(fleet: SandboxHandle, name: str) -> dict[str, Any]:
    """The Component as the hub's etcd holds it (custom resources are stored as JSON), read with the
    hub API server's own etcd client flags."""
    argv = fleet.state.clusters["hub"].components["kube-apiserver"].argv
    flags = dict(arg.removeprefix("--").split("=", 1) for arg in argv if arg.startswith("--") and "=" in arg)
    key = f"{flags.get('etcd-prefix', '/registry').rstrip('/')}/apps.kokpit.io/components/{NS}/{name}"
    out = subprocess.run(
        [
            str(find_binaries().etcdctl),
            f"--endpoints={flags['etcd-servers']}",
            f"--cacert={flags['etcd-cafile']}",
            f"--cert={flags['etcd-certfile']}",
            f"--key={flags['etcd-keyfile']}",
            "get",
            key,
            "--print-value-only",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return dict(json.loads(out.stdout))


def stored_versions(hub: Path) -> list[str]:
    return list(get(hub, "crd", COMPONENT.crd_name)["status"]["storedVersions"])


def test_an_object_stored_in_v1alpha1_renders_the_new_load_balancer_class_and_migrates(
    fleet: SandboxHandle, serving: HubThread, tmp_path: Path
) -> None:
    hub, member = fleet.kubeconfig("hub"), fleet.kubeconfig("member1")
    wait_until("the conversion webhook", lambda: registered(hub), timeout=TIMEOUT)
    kubectl_apply(hub, tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    # Written while v1alpha1 was the storage version, with the old load balancer type.
    set_storage_version(hub, tmp_path, "v1alpha1")
    try:
        kubectl_apply(
            hub,
            tmp_path,
            alpha("edge", svc={"type": "external-lb"}, placement={"clusters": [{"name": "member1"}]}),
        )
        assert stored_in_etcd(fleet, "edge")["apiVersion"] == COMPONENT_ALPHA
    finally:
        set_storage_version(hub, tmp_path, "v1beta1")
    assert sorted(stored_versions(hub)) == ["v1alpha1", "v1beta1"]
    written = get(hub, BETA, "edge")
    # Converted on read: the new type, which the controller renders without anyone touching the object.
    assert written["spec"]["exposure"]["service"] == {
        "type": "LoadBalancer",
        "loadBalancerClass": "kokpit.io/l4",
    }
    wait_until(
        "a LoadBalancer Service of class kokpit.io/l4 on member1",
        lambda: (
            ((kubectl_get(member, "service", "edge", NS) or {}).get("spec") or {}).get("loadBalancerClass")
            == "kokpit.io/l4"
        ),
        timeout=TIMEOUT,
    )
    assert get(hub, ALPHA, "edge")["spec"]["svc"] == {"type": "external-lb"}
    migrated = kokpit_cli("migrate", "storage", "components", hub=hub)
    assert migrated.returncode == 0, migrated.stderr
    assert "-> v1beta1" in migrated.stdout
    assert stored_versions(hub) == ["v1beta1"]
    # What etcd holds, not the resourceVersion: a status write of the controller after the switch
    # back has already encoded it in v1beta1, and the migration's write is then a no-op.
    assert stored_in_etcd(fleet, "edge")["apiVersion"] == COMPONENT_BETA
    after = get(hub, BETA, "edge")
    assert after["spec"] == written["spec"]
    refused = kokpit_cli("migrate", "storage", "gizmos", hub=hub)
    assert refused.returncode != 0 and "no kokpit resource 'gizmos'" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_with_the_webhook_stopped_the_other_version_fails_and_nothing_stored_changes(
    fleet: SandboxHandle, serving: HubThread, tmp_path: Path
) -> None:
    hub = fleet.kubeconfig("hub")
    wait_until("the conversion webhook", lambda: registered(hub), timeout=TIMEOUT)
    kubectl_apply(hub, tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    kubectl_apply(hub, tmp_path, alpha("stopped"))
    before = get(hub, BETA, "stopped")
    serving.stop()
    failed = kubectl(hub, "get", ALPHA, "stopped", "-n", NS, "-o", "json", check=False)
    assert failed.returncode != 0
    assert "conversion webhook" in failed.stderr
    written = kubectl(
        hub,
        "patch",
        ALPHA,
        "stopped",
        "-n",
        NS,
        "--type",
        "merge",
        "-p",
        json.dumps({"spec": {"port": 9090}}),
        check=False,
    )
    assert written.returncode != 0
    after = get(hub, BETA, "stopped")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"] == before["spec"]
