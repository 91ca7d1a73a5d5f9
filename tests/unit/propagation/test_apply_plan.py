"""Applying a Work's manifests: version choice, ownership and conflicts, the applied object, API errors."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.api.policy import ConflictResolution
from kokpit.propagation import names
from kokpit.propagation.apply_plan import (
    WORK_NAME_ANNOTATION,
    WORK_NAMESPACE_ANNOTATION,
    Action,
    FailureKind,
    Unserved,
    UnservedReason,
    WorkRef,
    belongs_to,
    choose_version,
    classify_api_error,
    decide_conflict,
    describe,
    desired_object,
    manifest_identifier,
    missing_namespace,
    served_kinds,
    version_priority,
    work_ref_from_metadata,
)
from kokpit.runtime.resources import ServedKind

ENABLEMENTS: list[dict[str, Any]] = [
    {
        "groupVersion": "v1",
        "resources": [
            {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
            {"name": "namespaces", "kind": "Namespace", "namespaced": False},
        ],
    },
    {
        "groupVersion": "apps/v1",
        "resources": [{"name": "deployments", "kind": "Deployment", "namespaced": True}],
    },
    {
        "groupVersion": "autoscaling/v1",
        "resources": [
            {"name": "horizontalpodautoscalers", "kind": "HorizontalPodAutoscaler", "namespaced": True}
        ],
    },
    {
        "groupVersion": "autoscaling/v2",
        "resources": [
            {"name": "horizontalpodautoscalers", "kind": "HorizontalPodAutoscaler", "namespaced": True}
        ],
    },
    {
        "groupVersion": "example.com/v1alpha1",
        "resources": [{"name": "widgets", "kind": "Widget", "namespaced": True}],
    },
    {
        "groupVersion": "example.com/v1beta2",
        "resources": [{"name": "widgets", "kind": "Widget", "namespaced": True}],
    },
    {
        "groupVersion": "example.com/v2",
        "resources": [{"name": "gadgets", "kind": "Gadget", "namespaced": False}],
    },
    {
        "groupVersion": "rbac.authorization.k8s.io/v1",
        "resources": [{"name": "clusterroles", "kind": "ClusterRole", "namespaced": False}],
    },
]


def manifest(api_version: str, kind: str, name: str = "x", namespace: str | None = "shop") -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


@pytest.mark.parametrize(
    ("api_version", "kind", "version", "plural", "namespaced"),
    [
        pytest.param("apps/v1", "Deployment", "v1", "deployments", True, id="served as written"),
        pytest.param("v1", "ConfigMap", "v1", "configmaps", True, id="core group"),
        pytest.param("v1", "Namespace", "v1", "namespaces", False, id="cluster-scoped core kind"),
        pytest.param(
            "autoscaling/v2beta2",
            "HorizontalPodAutoscaler",
            "v2",
            "horizontalpodautoscalers",
            True,
            id="unserved version -> newest GA of the group",
        ),
        pytest.param("example.com/v1", "Widget", "v1beta2", "widgets", True, id="beta preferred over alpha"),
        pytest.param(
            "example.com/v1alpha1", "Widget", "v1alpha1", "widgets", True, id="old but served: kept"
        ),
        pytest.param("example.com/v1", "Gadget", "v2", "gadgets", False, id="kind only in another version"),
    ],
)
def test_choose_version(api_version: str, kind: str, version: str, plural: str, namespaced: bool) -> None:
    chosen = choose_version(manifest(api_version, kind), ENABLEMENTS, cluster="member1")
    assert isinstance(chosen, ServedKind)
    assert (chosen.version, chosen.plural, chosen.namespaced) == (version, plural, namespaced)
    assert chosen.api_version.endswith(version)


@pytest.mark.parametrize(
    ("api_version", "kind", "enablements", "reason", "needle"),
    [
        pytest.param(
            "example.com/v1",
            "Gizmo",
            ENABLEMENTS,
            UnservedReason.KIND_NOT_SERVED,
            "Gizmo",
            id="group served, kind not",
        ),
        pytest.param(
            "other.io/v1",
            "Thing",
            ENABLEMENTS,
            UnservedReason.GROUP_NOT_SERVED,
            "other.io",
            id="group not served",
        ),
        pytest.param(
            "apps/v1",
            "Deployment",
            None,
            UnservedReason.ENABLEMENTS_UNKNOWN,
            "not known yet",
            id="enablements not observed yet",
        ),
        pytest.param(
            "", "Deployment", ENABLEMENTS, UnservedReason.MALFORMED, "apiVersion", id="no apiVersion"
        ),
    ],
)
def test_choose_version_reports_what_cannot_be_served(
    api_version: str, kind: str, enablements: list[dict[str, Any]] | None, reason: UnservedReason, needle: str
) -> None:
    chosen = choose_version(manifest(api_version, kind), enablements, cluster="member1")
    assert isinstance(chosen, Unserved)
    assert chosen.reason == reason
    assert needle in chosen.message
    if reason != UnservedReason.MALFORMED:
        assert "member1" in chosen.message


def test_version_priority_orders_like_kubernetes() -> None:
    versions = ["v1alpha1", "v1beta1", "v1", "v2beta1", "v2", "v1beta2", "foo", "v10", "v11alpha2"]
    assert sorted(versions, key=version_priority) == [
        "v10",
        "v2",
        "v1",
        "v2beta1",
        "v1beta2",
        "v1beta1",
        "v11alpha2",
        "v1alpha1",
        "foo",
    ]


OURS = {"metadata": {"name": "x", "labels": {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE}}}
THEIRS = {"metadata": {"name": "x", "labels": {"app": "x"}}}


@pytest.mark.parametrize(
    ("existing", "resolution", "action", "force"),
    [
        pytest.param(None, ConflictResolution.ABORT, Action.CREATE, False, id="absent -> create, no force"),
        pytest.param(OURS, ConflictResolution.ABORT, Action.UPDATE, True, id="ours -> forced update"),
        pytest.param(THEIRS, ConflictResolution.ABORT, Action.ABORT, False, id="theirs, Abort -> left alone"),
        pytest.param(THEIRS, None, Action.ABORT, False, id="theirs, unset -> Abort"),
        pytest.param(
            THEIRS, ConflictResolution.OVERWRITE, Action.TAKE_OVER, True, id="theirs, Overwrite -> take over"
        ),
        pytest.param(THEIRS, "Overwrite", Action.TAKE_OVER, True, id="resolution as read from the Work"),
    ],
)
def test_decide_conflict(
    existing: dict[str, Any] | None, resolution: ConflictResolution | str | None, action: Action, force: bool
) -> None:
    decision = decide_conflict(existing, resolution, what="ConfigMap shop/x", cluster="member2")
    assert decision.action == action
    assert decision.force is force
    assert decision.proceed is (action != Action.ABORT)
    if action in (Action.ABORT, Action.TAKE_OVER):
        assert "ConfigMap shop/x" in decision.message and "member2" in decision.message


WORK = WorkRef(namespace="kokpit-es-member1", name="shop.web-deployment")


@pytest.mark.parametrize(
    ("annotations", "managed", "expected"),
    [
        pytest.param(
            {WORK_NAMESPACE_ANNOTATION: WORK.namespace, WORK_NAME_ANNOTATION: WORK.name},
            True,
            True,
            id="applied from this Work",
        ),
        pytest.param(
            {WORK_NAMESPACE_ANNOTATION: WORK.namespace, WORK_NAME_ANNOTATION: "other"},
            True,
            False,
            id="applied from another Work",
        ),
        pytest.param({}, True, True, id="kokpit's, no Work recorded"),
        pytest.param(
            {WORK_NAMESPACE_ANNOTATION: WORK.namespace, WORK_NAME_ANNOTATION: WORK.name},
            False,
            False,
            id="not kokpit's",
        ),
    ],
)
def test_belongs_to(annotations: dict[str, str], managed: bool, expected: bool) -> None:
    labels = {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE} if managed else {}
    obj = {"metadata": {"name": "web", "labels": labels, "annotations": annotations}}
    assert belongs_to(obj, WORK) is expected


def test_desired_object_sets_version_routing_and_drops_server_fields() -> None:
    source: dict[str, Any] = {
        "apiVersion": "autoscaling/v2beta2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web"},
            "resourceVersion": "12",
            "uid": "abc",
            "managedFields": [{}],
            "ownerReferences": [{"uid": "hub-uid"}],
        },
        "spec": {"maxReplicas": 3},
        "status": {"currentReplicas": 1},
    }
    served = choose_version(source, ENABLEMENTS, cluster="member1")
    assert isinstance(served, ServedKind)
    ref = names.BindingRef(namespace="shop", name="web-horizontalpodautoscaler")
    labels, annotations = names.binding_metadata(ref, cluster="member1")
    body = desired_object(
        source, served, work=WORK, cluster="member1", work_labels=labels, work_annotations=annotations
    )
    assert body["apiVersion"] == "autoscaling/v2"
    assert "status" not in body
    metadata = body["metadata"]
    assert set(metadata) == {"name", "namespace", "labels", "annotations"}
    assert metadata["labels"]["app"] == "web"
    assert metadata["labels"][names.MANAGED_BY_LABEL] == names.MANAGED_BY_VALUE
    assert metadata["labels"][names.BINDING_NAME_KEY] == ref.name
    assert work_ref_from_metadata(metadata["annotations"]) == WORK
    assert names.binding_ref_from_metadata(metadata["labels"], metadata["annotations"]) == ref
    assert source["metadata"]["uid"] == "abc", "the input is not modified"


@pytest.mark.parametrize(
    ("source", "namespace"),
    [
        pytest.param(
            manifest("v1", "ConfigMap", namespace=None), "default", id="namespaced kind without namespace"
        ),
        pytest.param(
            manifest("v1", "Namespace", namespace="stray"), None, id="cluster-scoped kind drops namespace"
        ),
    ],
)
def test_desired_object_namespace(source: dict[str, Any], namespace: str | None) -> None:
    served = choose_version(source, ENABLEMENTS, cluster="member1")
    assert isinstance(served, ServedKind)
    body = desired_object(source, served, work=WORK, cluster="member1")
    assert body["metadata"].get("namespace") == namespace
    assert body["metadata"]["labels"] == {names.MANAGED_BY_LABEL: names.MANAGED_BY_VALUE}


def test_manifest_identifier_uses_the_chosen_version() -> None:
    source = manifest("example.com/v1", "Widget", name="w")
    served = choose_version(source, ENABLEMENTS, cluster="member1")
    assert isinstance(served, ServedKind)
    identifier = manifest_identifier(source, 3, served)
    assert identifier == {
        "ordinal": 3,
        "group": "example.com",
        "version": "v1beta2",
        "kind": "Widget",
        "namespace": "shop",
        "name": "w",
    }
    assert describe(identifier) == "Widget shop/w"
    assert manifest_identifier(source, 0)["version"] == "v1"
    assert describe(manifest_identifier(manifest("v1", "Namespace", namespace=None), 0)) == "Namespace x"


@pytest.mark.parametrize(
    ("code", "kind", "permanent"),
    [
        pytest.param(422, FailureKind.INVALID, True, id="422 invalid"),
        pytest.param(400, FailureKind.INVALID, True, id="400 bad request"),
        pytest.param(403, FailureKind.FORBIDDEN, True, id="403 quota or RBAC"),
        pytest.param(409, FailureKind.CONFLICT, True, id="409 conflict"),
        pytest.param(404, FailureKind.NOT_FOUND, True, id="404"),
        pytest.param(429, FailureKind.REJECTED, False, id="429 throttled"),
        pytest.param(503, FailureKind.REJECTED, False, id="503"),
        pytest.param(None, FailureKind.UNAVAILABLE, False, id="no answer"),
    ],
)
def test_classify_api_error(code: int | None, kind: FailureKind, permanent: bool) -> None:
    failure = classify_api_error(code)
    assert (failure.kind, failure.permanent) == (kind, permanent)


@pytest.mark.parametrize(
    ("code", "message", "namespace"),
    [
        pytest.param(404, 'namespaces "shop" not found', "shop", id="missing namespace"),
        pytest.param(404, 'deployments.apps "web" not found', None, id="another 404"),
        pytest.param(422, 'namespaces "shop" not found', None, id="not a 404"),
    ],
)
def test_missing_namespace(code: int, message: str, namespace: str | None) -> None:
    assert missing_namespace(code, message) == namespace


def test_served_kinds() -> None:
    kinds = served_kinds(ENABLEMENTS)
    assert ("", "v1", "ConfigMap") in kinds
    assert ("example.com", "v1beta2", "Widget") in kinds
    assert ("example.com", "v1", "Widget") not in kinds
    assert served_kinds(None) == set()
