"""A restart is not a storm: a hub started over templates already delivered writes nothing to the
members for objects that did not change, and still delivers the next change.

kokpit's writes to a member are counted from the hub manager's own client metrics
(`kokpit_api_requests_total{cluster="member/<name>"}`, every method but GET), as in
`test_member_owned.py`, on a sandbox of this module's own (on the session's, what earlier modules left
on the hub would be delivered to the same member meanwhile).
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
from kokpit.settings import HubSettings
from tests.support import HubThread, SandboxHandle, joined_sandbox, kubectl, kubectl_apply, wait_until

pytestmark = pytest.mark.integration

TIMEOUT = 120.0
COUNT = 5
QUIET = 20.0
"""How long the restarted hub is watched once it has reported every Work again."""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """A hub and one member for this module alone, kokpit installed and the member joined."""
    options = UpOptions(members=1, nodes=1, tie_to_parent=True)
    with joined_sandbox(tmp_path_factory.mktemp("restart"), options) as handle:
        yield handle


def items(kubeconfig: Path, resource: str, ns: str) -> list[dict[str, Any]]:
    out = kubectl(kubeconfig, "get", resource, "-n", ns, "-o", "json")
    return list(json.loads(out.stdout)["items"])


def writes_to(hub: HubThread, member: str) -> float:
    """kokpit's requests to `member`'s API server that could change something (all but GET)."""
    client = member_client_name(member)
    return sum(
        sample.value
        for metric in hub.manager.metrics.registry.collect()
        for sample in metric.samples
        if sample.name == "kokpit_api_requests_total"
        and sample.labels.get("cluster") == client
        and sample.labels.get("method") != "GET"
    )


def templates(ns: str, *, greeting: str = "hello") -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "policy.kokpit.io/v1alpha1",
            "kind": "PropagationPolicy",
            "metadata": {"name": "to-member1", "namespace": ns},
            "spec": {
                "resourceSelectors": [
                    {"apiVersion": "apps/v1", "kind": "Deployment"},
                    {"apiVersion": "v1", "kind": "ConfigMap", "labelSelector": {"matchLabels": {"app": "x"}}},
                ],
                "placement": {"clusterAffinity": {"clusterNames": ["member1"]}},
            },
        }
    ]
    for i in range(COUNT):
        name = f"app-{i}"
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": ns, "labels": {"app": "x"}},
                "data": {"GREETING": greeting},
            }
        )
        docs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "namespace": ns},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "web",
                                    "image": "nginx:1.27",
                                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                                }
                            ]
                        },
                    },
                },
            }
        )
    return docs


def test_a_hub_restarted_over_delivered_templates_writes_nothing_to_the_member_and_delivers_the_next_edit(
    fleet: SandboxHandle, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    hub, member = fleet.kubeconfig("hub"), fleet.kubeconfig("member1")
    ns = f"restart-{uuid.uuid4().hex[:6]}"
    kubectl_apply(hub, tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    settings = HubSettings(state_dir=tmp_path_factory.mktemp("hub-state"))
    first = HubThread(hub, settings=settings).start()
    try:
        kubectl_apply(hub, tmp_path, *templates(ns))
        wait_until(
            "every object on member1",
            lambda: (
                len(items(member, "deployments", ns)) == COUNT
                and len(
                    [c for c in items(member, "configmaps", ns) if c["metadata"]["name"].startswith("app-")]
                )
                == COUNT
            ),
            timeout=TIMEOUT,
        )
    finally:
        first.stop()
    versions = {
        (kind, obj["metadata"]["name"]): obj["metadata"]["resourceVersion"]
        for kind in ("deployments", "configmaps")
        for obj in items(member, kind, ns)
    }

    second = HubThread(hub, settings=settings).start()
    try:
        reconciled = 0.0

        def looked_at_every_work() -> bool:
            nonlocal reconciled
            reconciled = sum(
                sample.value
                for metric in second.manager.metrics.registry.collect()
                for sample in metric.samples
                if sample.name == "kokpit_reconcile_total" and sample.labels.get("controller") == "execution"
            )
            return reconciled >= 2 * COUNT

        wait_until(
            "the restarted hub's execution controller to look at every Work",
            looked_at_every_work,
            timeout=TIMEOUT,
        )
        time.sleep(QUIET)
        written = writes_to(second, "member1")
        print(f"kokpit's writes to member1 after the restart over {2 * COUNT} objects: {written:.0f}")
        assert written == 0
        after = {
            (kind, obj["metadata"]["name"]): obj["metadata"]["resourceVersion"]
            for kind in ("deployments", "configmaps")
            for obj in items(member, kind, ns)
            if kind == "configmaps"  # a Deployment's resourceVersion also moves with its own status
        }
        assert after == {key: value for key, value in versions.items() if key[0] == "configmaps"}

        kubectl_apply(hub, tmp_path, *templates(ns, greeting="edited"))
        wait_until(
            "the edit on member1",
            lambda: all(
                c["data"].get("GREETING") == "edited"
                for c in items(member, "configmaps", ns)
                if c["metadata"]["name"].startswith("app-")
            ),
            timeout=TIMEOUT,
        )
    finally:
        second.stop()
        kubectl(hub, "delete", "namespace", ns, "--wait=false", check=False)
