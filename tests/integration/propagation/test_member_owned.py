"""Member-owned fields end to end: an HPA on a member owns the replicas of its copy, and kokpit neither
fights it nor writes to the copy; a Service keeps the addresses the member allocated.

kokpit's writes to a member are counted from the hub manager's own client metrics
(`kokpit_api_requests_total{cluster="member/<name>"}`, every method but GET), so "no write" means no
request of kokpit changed anything there, whatever the member's resourceVersions say. That count is
per member, not per object, so the module runs on a sandbox of its own (`fleet` below): on the
session's, what earlier modules left on the hub is delivered to the same member meanwhile.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kokpit.fleet.names import member_client_name
from kokpit.sandbox import UpOptions
from tests.support import HubThread, SandboxHandle, joined_sandbox, kubectl, kubectl_apply, wait_until

pytestmark = pytest.mark.integration

TIMEOUT = 120.0
QUIET = 60.0


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """A hub and three members for this module alone, kokpit installed and the members joined."""
    options = UpOptions(members=3, nodes=1, tie_to_parent=True)
    with joined_sandbox(tmp_path_factory.mktemp("member-owned"), options) as handle:
        yield handle


"""How long the HPA-scaled copy is watched for kokpit's writes (the acceptance's minute)."""


def get(kubeconfig: Path, resource: str, name: str, namespace: str) -> dict[str, Any] | None:
    out = kubectl(kubeconfig, "get", resource, name, "-n", namespace, "-o", "json", "--ignore-not-found")
    return json.loads(out.stdout) if out.stdout.strip() else None


def policy(name: str, ns: str, clusters: list[str], *kinds: tuple[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "resourceSelectors": [{"apiVersion": v, "kind": k} for v, k in kinds],
            "placement": {"clusterAffinity": {"clusterNames": clusters}},
        },
    }


def deployment(name: str, ns: str, replicas: int, image: str = "nginx:1.27") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def writes_to(hub: HubThread, member: str) -> float:
    """kokpit's requests to `member`'s API server that could change something (all but GET)."""
    client = member_client_name(member)
    total = 0.0
    for metric in hub.manager.metrics.registry.collect():
        for sample in metric.samples:
            labels = sample.labels
            if (
                sample.name == "kokpit_api_requests_total"
                and labels.get("cluster") == client
                and labels.get("method") != "GET"
            ):
                total += sample.value
    return total


def container_image(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else obj["spec"]["template"]["spec"]["containers"][0]["image"]


def test_an_hpa_on_member2_owns_its_copys_replicas_and_kokpit_writes_nothing_to_it(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, member = fleet.kubeconfig("hub"), fleet.kubeconfig("member2")
    ns = f"owned-{uuid.uuid4().hex[:6]}"
    kubectl_apply(hub, tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    kubectl_apply(
        hub,
        tmp_path,
        policy("to-member2", ns, ["member2"], ("apps/v1", "Deployment")),
        deployment("web", ns, 2),
    )
    try:
        wait_until(
            "the copy on member2 with 2 replicas",
            lambda: ((get(member, "deployment", "web", ns) or {}).get("spec") or {}).get("replicas") == 2,
            timeout=TIMEOUT,
        )
        # The member's own HPA: below minReplicas it scales the copy to 5 through the scale subresource,
        # as it would from metrics (the sandbox serves none, so at 5 it stays).
        kubectl_apply(
            member,
            tmp_path,
            {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": ns},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                    "minReplicas": 5,
                    "maxReplicas": 5,
                },
            },
        )
        wait_until(
            "the HPA to scale the copy to 5",
            lambda: ((get(member, "deployment", "web", ns) or {}).get("spec") or {}).get("replicas") == 5,
            timeout=TIMEOUT,
        )
        scaled = get(member, "deployment", "web", ns)
        assert scaled is not None
        before, started = writes_to(hub_controllers, "member2"), time.monotonic()
        seen = set()
        while time.monotonic() - started < QUIET:
            copy = get(member, "deployment", "web", ns)
            seen.add((copy or {}).get("spec", {}).get("replicas"))
            time.sleep(2.0)
        after = writes_to(hub_controllers, "member2")
        print(f"kokpit's writes to member2 in {QUIET:.0f} s after the HPA scaled to 5: {after - before:.0f}")
        assert seen == {5}, f"the copy's replicas moved: {seen}"
        assert after - before == 0
        template = get(hub, "deployment", "web", ns)
        assert template is not None and template["spec"]["replicas"] == 2

        # A change of the template still reaches the copy, and the HPA's replicas stay.
        kubectl_apply(hub, tmp_path, deployment("web", ns, 2, image="nginx:1.28"))
        wait_until(
            "the new image on member2",
            lambda: container_image(get(member, "deployment", "web", ns)) == "nginx:1.28",
            timeout=TIMEOUT,
        )
        updated = get(member, "deployment", "web", ns)
        assert updated is not None and updated["spec"]["replicas"] == 5
    finally:
        kubectl(hub, "delete", "namespace", ns, "--wait=false", check=False)
        kubectl(member, "delete", "hpa", "web", "-n", ns, "--ignore-not-found", check=False)


def test_a_service_keeps_the_cluster_ip_and_node_port_its_member_allocated(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path
) -> None:
    hub, member = fleet.kubeconfig("hub"), fleet.kubeconfig("member1")
    ns = f"owned-{uuid.uuid4().hex[:6]}"

    def service(tier: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": ns, "labels": {"tier": tier}},
            "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]},
        }

    kubectl_apply(hub, tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    kubectl_apply(hub, tmp_path, policy("to-member1", ns, ["member1"], ("v1", "Service")), service("a"))
    try:
        wait_until(
            "the Service on member1", lambda: get(member, "service", "web", ns) is not None, timeout=TIMEOUT
        )
        first = get(member, "service", "web", ns)
        assert first is not None
        cluster_ip, node_port = first["spec"]["clusterIP"], first["spec"]["ports"][0]["nodePort"]
        kubectl_apply(hub, tmp_path, service("b"))
        wait_until(
            "the changed label on member1",
            lambda: (
                ((get(member, "service", "web", ns) or {}).get("metadata") or {})
                .get("labels", {})
                .get("tier")
                == "b"
            ),
            timeout=TIMEOUT,
        )
        second = get(member, "service", "web", ns)
        assert second is not None
        assert second["spec"]["clusterIP"] == cluster_ip
        assert second["spec"]["ports"][0]["nodePort"] == node_port
    finally:
        kubectl(hub, "delete", "namespace", ns, "--wait=false", check=False)
