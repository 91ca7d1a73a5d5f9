"""Delivery's member side end to end: Works on the hub -> objects in the members -> status back on the hub.

Works (and, for the aggregation test, a template and its ResourceBinding) are written by hand on the hub,
with the routing labels `kokpit.propagation.names` defines; the hub controllers run in-process. Binding
names of hand-made Works deliberately do not end in `-<kind>`, so no template-side controller takes them
for its own. Every test uses its own names and removes what it created.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kokpit.propagation import names
from kokpit.propagation.apply_plan import WORK_NAME_ANNOTATION
from tests.support import HubThread, SandboxHandle, kubectl, wait_until

pytestmark = pytest.mark.integration

TIMEOUT = 90.0
WORKS = "works.work.kokpit.io"


# --- helpers ---------------------------------------------------------------------------------------------


class Fleet:
    """kubectl against the sandbox's hub and members, files written under `tmp`."""

    def __init__(self, sandbox: SandboxHandle, tmp: Path) -> None:
        self.sandbox = sandbox
        self.tmp = tmp

    def kubeconfig(self, cluster: str) -> Path:
        return self.sandbox.kubeconfig(cluster)

    def run(self, cluster: str, *args: str, check: bool = True) -> str:
        return kubectl(self.kubeconfig(cluster), *args, check=check).stdout

    def apply(self, cluster: str, *docs: dict[str, Any], server_side: bool = False) -> None:
        path = self.tmp / f"{uuid.uuid4().hex}.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        extra = ["--server-side", "--field-manager=someone-else"] if server_side else []
        self.run(cluster, "apply", "-f", str(path), *extra)

    def get(
        self, cluster: str, resource: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        args = ["get", resource, name, "-o", "json", "--ignore-not-found", "--show-managed-fields"]
        if namespace:
            args += ["-n", namespace]
        out = self.run(cluster, *args).strip()
        return json.loads(out) if out else None

    def delete(self, cluster: str, resource: str, name: str, namespace: str | None = None) -> None:
        args = ["delete", resource, name, "--ignore-not-found", "--wait=false"]
        if namespace:
            args += ["-n", namespace]
        self.run(cluster, *args, check=False)

    def gone(
        self, cluster: str, resource: str, name: str, namespace: str | None = None
    ) -> Callable[[], bool]:
        """A condition for `wait_until`: the object is not (or no longer) in `cluster`."""
        return lambda: self.get(cluster, resource, name, namespace) is None

    def work(self, member: str, name: str) -> dict[str, Any] | None:
        return self.get("hub", WORKS, name, names.execution_namespace(member))

    def events(self, cluster: str, namespace: str, name: str) -> list[dict[str, Any]]:
        out = self.run(
            cluster,
            "get",
            "events",
            "-n",
            namespace,
            "--field-selector",
            f"involvedObject.name={name}",
            "-o",
            "json",
        )
        return list(json.loads(out)["items"])


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any]:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item["type"] == type_:
            return dict(item)
    return {}


def make_work(
    member: str,
    name: str,
    *manifests: dict[str, Any],
    binding: names.BindingRef | None = None,
    **spec: Any,
) -> dict[str, Any]:
    ref = binding or names.BindingRef(namespace="exec", name=f"{name}-exec")
    labels, annotations = names.binding_metadata(ref, cluster=member)
    return {
        "apiVersion": "work.kokpit.io/v1alpha1",
        "kind": "Work",
        "metadata": {
            "name": name,
            "namespace": names.execution_namespace(member),
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {"workload": {"manifests": list(manifests)}, **spec},
    }


def deployment(name: str, namespace: str, replicas: int, **pod: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}], **pod},
            },
        },
    }


def configmap(name: str, namespace: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def managers(obj: dict[str, Any] | None) -> set[str]:
    return {
        str(entry.get("manager")) for entry in ((obj or {}).get("metadata") or {}).get("managedFields") or []
    }


@pytest.fixture
def kube(fleet: SandboxHandle, hub_controllers: HubThread, tmp_path: Path) -> Iterator[Fleet]:
    kube = Fleet(fleet, tmp_path)
    for member in fleet.members:
        kube.apply(
            "hub",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": names.execution_namespace(member)},
            },
        )
    yield kube


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


# --- tests -----------------------------------------------------------------------------------------------


def test_a_deployment_lands_in_a_new_namespace_becomes_healthy_and_goes_with_its_work(kube: Fleet) -> None:
    namespace, work = unique("exec-ns"), unique("web")
    kube.apply("hub", make_work("member1", work, deployment("web", namespace, 2)))
    try:
        wait_until(
            "the deployment in member1",
            lambda: kube.get("member1", "deployment", "web", namespace) is not None,
            timeout=TIMEOUT,
        )
        applied = kube.get("member1", "deployment", "web", namespace)
        assert "kokpit" in managers(applied)
        assert applied is not None
        assert applied["metadata"]["labels"][names.MANAGED_BY_LABEL] == names.MANAGED_BY_VALUE
        assert applied["metadata"]["annotations"][WORK_NAME_ANNOTATION] == work
        created = kube.get("member1", "namespace", namespace)
        assert created is not None

        def healthy() -> bool:
            found = kube.work("member1", work)
            statuses = ((found or {}).get("status") or {}).get("manifestStatuses") or []
            return (
                condition(found, "Applied").get("status") == "True"
                and condition(found, "Available").get("status") == "True"
                and len(statuses) == 1
                and statuses[0]["health"] == "Healthy"
                and (statuses[0].get("status") or {}).get("readyReplicas") == 2
            )

        wait_until("the Work to report 2 ready replicas", healthy, timeout=TIMEOUT)
        status = kube.work("member1", work)
        assert status is not None
        identifier = status["status"]["manifestStatuses"][0]["identifier"]
        assert identifier == {
            "ordinal": 0,
            "group": "apps",
            "version": "v1",
            "kind": "Deployment",
            "namespace": namespace,
            "name": "web",
        }
    finally:
        kube.delete("hub", WORKS, work, names.execution_namespace("member1"))
    wait_until("the Work to go", lambda: kube.work("member1", work) is None, timeout=TIMEOUT)
    wait_until(
        "the deployment to go from member1",
        lambda: kube.get("member1", "deployment", "web", namespace) is None,
        timeout=TIMEOUT,
    )
    kube.delete("member1", "namespace", namespace)


def test_a_cluster_scoped_kind_and_a_custom_kind_apply_in_a_version_the_member_serves(kube: Fleet) -> None:
    group = f"{uuid.uuid4().hex[:6]}.exec.example.com"
    crd_name = f"gadgets.{group}"
    role, work, unserved_work = unique("exec-role"), unique("custom"), unique("unserved")
    namespace = unique("exec-custom")
    kube.apply(
        "member1",
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": crd_name},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {
                    "plural": "gadgets",
                    "singular": "gadget",
                    "kind": "Gadget",
                    "listKind": "GadgetList",
                },
                "versions": [
                    {
                        "name": "v1",
                        "served": True,
                        "storage": True,
                        "schema": {
                            "openAPIV3Schema": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            }
                        },
                    }
                ],
            },
        },
    )
    cluster_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": role},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    # The member serves only v1 of the group: the v1beta1 manifest is written as v1.
    gadget = {
        "apiVersion": f"{group}/v1beta1",
        "kind": "Gadget",
        "metadata": {"name": "g1", "namespace": namespace},
    }
    gizmo = {"apiVersion": f"{group}/v1", "kind": "Gizmo", "metadata": {"name": "z1", "namespace": namespace}}
    kube.apply("hub", make_work("member1", work, cluster_role, gadget))
    kube.apply("hub", make_work("member1", unserved_work, gizmo))
    try:
        wait_until(
            "the ClusterRole in member1",
            lambda: kube.get("member1", "clusterrole", role) is not None,
            timeout=TIMEOUT,
        )
        wait_until(
            "the Gadget in member1",
            lambda: kube.get("member1", f"gadgets.{group}", "g1", namespace) is not None,
            timeout=TIMEOUT,
        )
        found = kube.get("member1", f"gadgets.{group}", "g1", namespace)
        assert found is not None
        assert found["apiVersion"] == f"{group}/v1"
        wait_until(
            "the Work to be applied",
            lambda: condition(kube.work("member1", work), "Applied").get("status") == "True",
            timeout=TIMEOUT,
        )

        def not_served() -> bool:
            applied = condition(kube.work("member1", unserved_work), "Applied")
            return applied.get("status") == "False" and applied.get("reason") == "KindNotServed"

        wait_until("the unserved kind to be reported", not_served, timeout=TIMEOUT)
        message = condition(kube.work("member1", unserved_work), "Applied")["message"]
        assert "Gizmo" in message and "member1" in message
    finally:
        kube.delete("hub", WORKS, work, names.execution_namespace("member1"))
        kube.delete("hub", WORKS, unserved_work, names.execution_namespace("member1"))
    wait_until(
        "the ClusterRole to go", lambda: kube.get("member1", "clusterrole", role) is None, timeout=TIMEOUT
    )
    wait_until(
        "the Gadget to go",
        lambda: kube.get("member1", f"gadgets.{group}", "g1", namespace) is None,
        timeout=TIMEOUT,
    )
    kube.delete("member1", "crd", crd_name)
    kube.delete("member1", "namespace", namespace)


def test_an_object_kokpit_does_not_own_is_left_alone_under_abort_and_taken_over_under_overwrite(
    kube: Fleet,
) -> None:
    namespace, work = unique("exec-conflict"), unique("settings")
    kube.apply("member2", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    kube.apply("member2", configmap("settings", namespace, colour="blue"), server_side=True)
    kube.apply("hub", make_work("member2", work, configmap("settings", namespace, colour="green")))
    try:

        def conflict() -> bool:
            applied = condition(kube.work("member2", work), "Applied")
            return applied.get("status") == "False" and applied.get("reason") == "Conflict"

        wait_until("the Conflict condition", conflict, timeout=TIMEOUT)
        message = condition(kube.work("member2", work), "Applied")["message"]
        assert f"ConfigMap {namespace}/settings" in message and "member2" in message
        mine = kube.get("member2", "configmap", "settings", namespace)
        assert mine is not None
        assert mine["data"] == {"colour": "blue"}
        assert names.MANAGED_BY_LABEL not in (mine["metadata"].get("labels") or {})
        events = kube.events("hub", names.execution_namespace("member2"), work)
        assert any(e["type"] == "Warning" and e["reason"] == "Conflict" for e in events), events

        kube.run(
            "hub",
            "patch",
            WORKS,
            work,
            "-n",
            names.execution_namespace("member2"),
            "--type=merge",
            "-p",
            json.dumps({"spec": {"conflictResolution": "Overwrite"}}),
        )

        def taken_over() -> bool:
            found = kube.get("member2", "configmap", "settings", namespace) or {}
            return (found.get("data") or {}).get("colour") == "green"

        wait_until("the ConfigMap to be taken over", taken_over, timeout=TIMEOUT)
        taken = kube.get("member2", "configmap", "settings", namespace)
        assert taken is not None
        assert taken["metadata"]["labels"][names.MANAGED_BY_LABEL] == names.MANAGED_BY_VALUE
        wait_until(
            "Applied=True after the take-over",
            lambda: condition(kube.work("member2", work), "Applied").get("status") == "True",
            timeout=TIMEOUT,
        )
    finally:
        kube.delete("hub", WORKS, work, names.execution_namespace("member2"))
    wait_until(
        "the taken-over ConfigMap to go with the Work",
        lambda: kube.get("member2", "configmap", "settings", namespace) is None,
        timeout=TIMEOUT,
    )
    kube.delete("member2", "namespace", namespace)


def test_member_rejections_reach_the_work_as_conditions_and_warning_events(kube: Fleet) -> None:
    namespace, invalid, over_quota = unique("exec-invalid"), unique("invalid"), unique("quota")
    kube.apply("member1", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    kube.apply(
        "member1",
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "no-services", "namespace": namespace},
            "spec": {"hard": {"services": "0"}},
        },
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"ports": [{"port": 80}], "selector": {"app": "web"}},
    }
    kube.apply("hub", make_work("member1", invalid, deployment("broken", namespace, -1)))
    kube.apply("hub", make_work("member1", over_quota, service))
    try:
        for work, reason, needle in (
            (invalid, "Invalid", "spec.replicas"),
            (over_quota, "Forbidden", "quota"),
        ):

            def rejected(work: str = work, reason: str = reason) -> bool:
                applied = condition(kube.work("member1", work), "Applied")
                return applied.get("status") == "False" and applied.get("reason") == reason

            wait_until(f"Applied=False reason {reason}", rejected, timeout=TIMEOUT)
            message = condition(kube.work("member1", work), "Applied")["message"]
            assert needle in message and "member1" in message, message
            events = kube.events("hub", names.execution_namespace("member1"), work)
            assert any(e["type"] == "Warning" and needle in e.get("message", "") for e in events), events
        assert kube.get("member1", "deployment", "broken", namespace) is None
        assert kube.get("member1", "service", "web", namespace) is None
    finally:
        kube.delete("hub", WORKS, invalid, names.execution_namespace("member1"))
        kube.delete("hub", WORKS, over_quota, names.execution_namespace("member1"))
    wait_until("the Works to go", lambda: kube.work("member1", invalid) is None, timeout=TIMEOUT)
    wait_until("the Works to go", lambda: kube.work("member1", over_quota) is None, timeout=TIMEOUT)
    kube.delete("member1", "namespace", namespace)


def test_preserve_resources_on_deletion_keeps_the_object_and_releases_it(kube: Fleet) -> None:
    namespace, work = unique("exec-keep"), unique("keep")
    kube.apply(
        "hub",
        make_work("member3", work, configmap("kept", namespace, a="1"), preserveResourcesOnDeletion=True),
    )
    try:
        wait_until(
            "the ConfigMap in member3",
            lambda: kube.get("member3", "configmap", "kept", namespace) is not None,
            timeout=TIMEOUT,
        )
    finally:
        kube.delete("hub", WORKS, work, names.execution_namespace("member3"))
    wait_until("the Work to go", lambda: kube.work("member3", work) is None, timeout=TIMEOUT)
    kept = kube.get("member3", "configmap", "kept", namespace)
    assert kept is not None
    assert kept["data"] == {"a": "1"}
    assert names.MANAGED_BY_LABEL not in (kept["metadata"].get("labels") or {})
    kube.delete("member3", "namespace", namespace)


def test_a_work_for_a_cluster_that_is_not_in_the_fleet_reports_it_and_can_be_deleted(kube: Fleet) -> None:
    work = unique("ghost")
    kube.apply("hub", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kokpit-es-ghost"}})
    kube.apply("hub", make_work("ghost", work, configmap("cfg", "default", a="1")))

    def reported() -> bool:
        found = kube.work("ghost", work)
        applied = condition(found, "Applied")
        return applied.get("reason") == "ClusterNotFound" and "ghost" in applied.get("message", "")

    wait_until("ClusterNotFound on the Work", reported, timeout=TIMEOUT)
    found = kube.work("ghost", work)
    assert found is not None and found["metadata"].get("finalizers")
    kube.delete("hub", WORKS, work, "kokpit-es-ghost")
    wait_until("the Work to go without its member", lambda: kube.work("ghost", work) is None, timeout=TIMEOUT)
    kube.delete("hub", "namespace", "kokpit-es-ghost")


def test_the_template_status_sums_the_members_and_names_an_unhealthy_cluster(kube: Fleet) -> None:
    namespace, name = unique("exec-tpl"), "shop"
    kube.apply("hub", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    kube.apply("hub", deployment(name, namespace, 4))
    template = kube.get("hub", "deployment", name, namespace)
    assert template is not None
    ref = names.BindingRef(namespace=namespace, name=names.binding_name(kind="Deployment", name=name))
    kube.apply(
        "hub",
        {
            "apiVersion": "work.kokpit.io/v1alpha1",
            "kind": "ResourceBinding",
            "metadata": {"name": ref.name, "namespace": namespace},
            "spec": {
                "resource": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "namespace": namespace,
                    "name": name,
                    "uid": template["metadata"]["uid"],
                },
                "replicas": 4,
                "clusters": [{"name": "member1", "replicas": 2}, {"name": "member2", "replicas": 2}],
            },
        },
    )
    work = names.work_name(binding_namespace=namespace, binding=ref.name)
    kube.apply("hub", make_work("member1", work, deployment(name, namespace, 2), binding=ref))
    kube.apply("hub", make_work("member2", work, deployment(name, namespace, 2), binding=ref))
    try:

        def summed() -> bool:
            found = kube.get("hub", "deployment", name, namespace) or {}
            status = found.get("status") or {}
            return status.get("readyReplicas") == 4 and condition(found, "Available").get("status") == "True"

        wait_until("the template to sum 4 ready replicas", summed, timeout=TIMEOUT)
        found = kube.get("hub", "deployment", name, namespace)
        assert found is not None
        assert found["status"]["replicas"] == 4
        assert found["status"]["availableReplicas"] == 4
        assert found["status"]["observedGeneration"] == found["metadata"]["generation"]
        binding = kube.get("hub", "resourcebindings.work.kokpit.io", ref.name, namespace)
        assert condition(binding, "FullyApplied").get("status") == "True"
        items = {item["clusterName"]: item for item in (binding or {})["status"]["aggregatedStatus"]}
        assert set(items) == {"member1", "member2"}
        assert all(item["applied"] and item["health"] == "Healthy" for item in items.values())
        assert items["member1"]["status"]["readyReplicas"] == 2

        # member2's pods cannot be scheduled: the template and the binding say so, naming member2.
        stuck = deployment(name, namespace, 2, nodeSelector={"exec.example.com/nowhere": "true"})
        kube.apply("hub", make_work("member2", work, stuck, binding=ref))

        def degraded() -> bool:
            found = kube.get("hub", "deployment", name, namespace)
            available = condition(found, "Available")
            return available.get("status") == "False" and "member2" in available.get("message", "")

        wait_until("the template to report member2 unhealthy", degraded, timeout=TIMEOUT)

        def health() -> dict[str, str]:
            binding = kube.get("hub", "resourcebindings.work.kokpit.io", ref.name, namespace)
            items = (binding or {}).get("status", {}).get("aggregatedStatus") or []
            return {item["clusterName"]: item.get("health") for item in items}

        # While member2 rolls out the new revision its health is Unknown, then Unhealthy.
        wait_until(
            "the binding to report member2 unhealthy",
            lambda: health() == {"member1": "Healthy", "member2": "Unhealthy"},
            timeout=TIMEOUT,
        )
        wait_until(
            "a Warning Event on the binding",
            lambda: any(
                e["type"] == "Warning" and "member2" in e.get("message", "")
                for e in kube.events("hub", namespace, ref.name)
            ),
            timeout=TIMEOUT,
        )
    finally:
        for member in ("member1", "member2"):
            kube.delete("hub", WORKS, work, names.execution_namespace(member))
    for member in ("member1", "member2"):
        wait_until(
            f"the deployment to go from {member}",
            kube.gone(member, "deployment", name, namespace),
            timeout=TIMEOUT,
        )
        kube.delete(member, "namespace", namespace)
    kube.delete("hub", "namespace", namespace)
