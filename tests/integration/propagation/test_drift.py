"""Drift and suspension end to end: a hand edit of a kokpit-owned field in a member copy is set back
through the member watch and reported on the template; a suspended template's change reaches no
member (or only the members not suspended) until it is resumed.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from kokpit.propagation import names
from kokpit.propagation.suspension import SUSPEND_DISPATCHING_ANNOTATION
from tests.support import HubThread, SandboxHandle, kubectl, kubectl_apply, wait_until

pytestmark = pytest.mark.integration

MEMBERS = ("member1", "member2", "member3")
TIMEOUT = 120.0
HELD = 15.0
"""How long a suspended change is watched not reaching members."""


def get(kubeconfig: Path, resource: str, name: str, namespace: str) -> dict[str, Any] | None:
    out = kubectl(kubeconfig, "get", resource, name, "-n", namespace, "-o", "json", "--ignore-not-found")
    return json.loads(out.stdout) if out.stdout.strip() else None


def policy(ns: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "policy.kokpit.io/v1alpha1",
        "kind": "PropagationPolicy",
        "metadata": {"name": "everywhere", "namespace": ns},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment"}],
            "placement": {"clusterAffinity": {"clusterNames": list(MEMBERS)}},
            **spec,
        },
    }


def deployment(ns: str, image: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "web", "namespace": ns, "labels": {"app": "web"}}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def images(fleet: SandboxHandle, ns: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for member in MEMBERS:
        obj = get(fleet.kubeconfig(member), "deployment", "web", ns)
        found[member] = None if obj is None else obj["spec"]["template"]["spec"]["containers"][0]["image"]
    return found


def everywhere(image: str) -> dict[str, str | None]:
    return dict.fromkeys(MEMBERS, image)


def drift_events(hub: Path, ns: str) -> list[dict[str, Any]]:
    out = kubectl(hub, "get", "events", "-n", ns, "--field-selector", "reason=DriftCorrected", "-o", "json")
    return list(json.loads(out.stdout).get("items") or [])


@pytest.fixture
def ns(fleet: SandboxHandle, tmp_path: Path) -> Any:
    hub = fleet.kubeconfig("hub")
    name = f"drift-{uuid.uuid4().hex[:6]}"
    kubectl_apply(hub, tmp_path, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    kubectl(hub, "delete", "namespace", name, "--wait=false", check=False)


def test_a_hand_edited_image_on_member3_is_set_back_and_reported_on_the_template(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path, ns: str
) -> None:
    hub, member3 = fleet.kubeconfig("hub"), fleet.kubeconfig("member3")
    kubectl_apply(hub, tmp_path, policy(ns), deployment(ns, "nginx:1.27"))
    wait_until("the copies", lambda: images(fleet, ns) == everywhere("nginx:1.27"), timeout=TIMEOUT)

    kubectl(member3, "set", "image", "deployment/web", "web=nginx:by-hand", "-n", ns)
    edited = time.monotonic()
    wait_until(
        "member3's image set back",
        lambda: images(fleet, ns)["member3"] == "nginx:1.27",
        timeout=TIMEOUT,
    )
    print(f"member3's hand-edited image was back after about {time.monotonic() - edited:.1f} s")

    wait_until("a DriftCorrected Event", lambda: bool(drift_events(hub, ns)), timeout=TIMEOUT)
    template = get(hub, "deployment", "web", ns)
    assert template is not None
    event = drift_events(hub, ns)[0]
    assert event["involvedObject"]["kind"] == "Deployment"
    assert event["involvedObject"]["uid"] == template["metadata"]["uid"]
    note = str(event.get("note") or event.get("message"))
    assert "member3" in note and "spec.template.spec.containers[web].image" in note, note


def test_a_suspended_templates_edit_reaches_no_member_until_it_is_resumed(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path, ns: str
) -> None:
    hub = fleet.kubeconfig("hub")
    kubectl_apply(hub, tmp_path, policy(ns), deployment(ns, "nginx:1.27"))
    wait_until("the copies", lambda: images(fleet, ns) == everywhere("nginx:1.27"), timeout=TIMEOUT)

    suspended = {SUSPEND_DISPATCHING_ANNOTATION: "true"}
    kubectl_apply(hub, tmp_path, deployment(ns, "nginx:1.28", annotations=suspended))

    def works_suspended_with_new_image() -> bool:
        out = kubectl(hub, "get", "works.work.kokpit.io", "-A", "-o", "json").stdout
        works = [
            w
            for w in json.loads(out)["items"]
            if (w["spec"]["workload"]["manifests"][0]["metadata"].get("namespace") == ns)
        ]
        return len(works) == len(MEMBERS) and all(
            w["spec"].get("suspendDispatching")
            and w["spec"]["workload"]["manifests"][0]["spec"]["template"]["spec"]["containers"][0]["image"]
            == "nginx:1.28"
            for w in works
        )

    wait_until("every Work suspended with the new image", works_suspended_with_new_image, timeout=TIMEOUT)
    started = time.monotonic()
    while time.monotonic() - started < HELD:
        assert images(fleet, ns) == everywhere("nginx:1.27")
        time.sleep(1.0)
    copy = get(fleet.kubeconfig("member1"), "deployment", "web", ns)
    assert copy is not None and SUSPEND_DISPATCHING_ANNOTATION not in (
        copy["metadata"].get("annotations") or {}
    )

    kubectl_apply(hub, tmp_path, deployment(ns, "nginx:1.28"))
    kubectl(hub, "annotate", "deployment", "web", "-n", ns, f"{SUSPEND_DISPATCHING_ANNOTATION}-")
    wait_until(
        "the edit everywhere once resumed",
        lambda: images(fleet, ns) == everywhere("nginx:1.28"),
        timeout=TIMEOUT,
    )


def test_the_policys_suspension_holds_one_cluster_back(
    fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path, ns: str
) -> None:
    hub = fleet.kubeconfig("hub")
    kubectl_apply(hub, tmp_path, policy(ns), deployment(ns, "nginx:1.27"))
    wait_until("the copies", lambda: images(fleet, ns) == everywhere("nginx:1.27"), timeout=TIMEOUT)

    kubectl_apply(
        hub, tmp_path, policy(ns, suspension={"dispatchingOnClusters": {"clusterNames": ["member2"]}})
    )
    work = names.work_name(binding_namespace=ns, binding=names.binding_name(kind="Deployment", name="web"))
    wait_until(
        "member2's Work suspended",
        lambda: bool(
            (
                (get(hub, "works.work.kokpit.io", work, names.execution_namespace("member2")) or {}).get(
                    "spec"
                )
                or {}
            ).get("suspendDispatching")
        ),
        timeout=TIMEOUT,
    )
    kubectl_apply(hub, tmp_path, deployment(ns, "nginx:1.28"))
    held = {"member1": "nginx:1.28", "member2": "nginx:1.27", "member3": "nginx:1.28"}
    wait_until("the edit on member1 and member3", lambda: images(fleet, ns) == held, timeout=TIMEOUT)
    started = time.monotonic()
    while time.monotonic() - started < HELD:
        assert images(fleet, ns)["member2"] == "nginx:1.27"
        time.sleep(1.0)

    kubectl_apply(hub, tmp_path, policy(ns))
    wait_until("member2 once resumed", lambda: images(fleet, ns) == everywhere("nginx:1.28"), timeout=TIMEOUT)
