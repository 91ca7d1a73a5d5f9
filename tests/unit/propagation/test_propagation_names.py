"""Derived names: every make function has an inverse, and every name stays a valid DNS-1123 name."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from kokpit.propagation import names

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@pytest.mark.parametrize(
    ("cluster", "namespace"),
    [
        pytest.param("member-1", "kokpit-es-member-1", id="plain"),
        pytest.param("a" * 53, "kokpit-es-" + "a" * 53, id="longest plain name (63 characters)"),
    ],
)
def test_execution_namespace_round_trip(cluster: str, namespace: str) -> None:
    assert names.execution_namespace(cluster) == namespace
    assert names.cluster_from_execution_namespace(namespace) == cluster


@pytest.mark.parametrize(
    "cluster",
    [
        pytest.param("a" * 54, id="too long"),
        pytest.param("eu.prod.example", id="dots"),
        pytest.param("has--double", id="contains the hash separator"),
        pytest.param("x" * 253, id="longest cluster name"),
    ],
)
def test_execution_namespace_hashed_when_it_cannot_be_plain(cluster: str) -> None:
    namespace = names.execution_namespace(cluster)
    assert DNS_LABEL.match(namespace) and len(namespace) <= 63
    assert "--" in namespace
    assert names.cluster_from_execution_namespace(namespace) is None
    assert names.execution_namespace(cluster) == namespace, "stable"
    labels, annotations = names.execution_namespace_metadata(cluster)
    assert names.cluster_from_metadata(labels, annotations) == cluster


def test_hashed_names_differ_for_different_inputs() -> None:
    assert names.execution_namespace("a" * 60 + "x") != names.execution_namespace("a" * 60 + "y")


@pytest.mark.parametrize(
    "namespace",
    ["default", "kokpit-es-", "kokpit-es-Upper"],
    ids=["not an execution namespace", "empty", "invalid"],
)
def test_cluster_from_other_namespaces(namespace: str) -> None:
    assert names.cluster_from_execution_namespace(namespace) is None


@pytest.mark.parametrize(
    ("kind", "name", "binding"),
    [
        pytest.param("Deployment", "web", "web-deployment", id="Deployment"),
        pytest.param("ConfigMap", "app.config", "app.config-configmap", id="dotted name"),
        pytest.param("ClusterRole", "viewer", "viewer-clusterrole", id="cluster-scoped"),
    ],
)
def test_binding_name_round_trip(kind: str, name: str, binding: str) -> None:
    assert names.binding_name(kind=kind, name=name) == binding
    assert names.template_name_from_binding(binding, kind=kind) == name


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        pytest.param("ClusterRole", "system:viewer", id="colon (RBAC names)"),
        pytest.param("Deployment", "a" * 250, id="too long with the suffix"),
    ],
)
def test_binding_name_hashed(kind: str, name: str) -> None:
    binding = names.binding_name(kind=kind, name=name)
    assert DNS_SUBDOMAIN.match(binding) and len(binding) <= 253
    assert names.template_name_from_binding(binding, kind=kind) is None


def test_template_name_from_binding_of_another_kind() -> None:
    assert names.template_name_from_binding("web-deployment", kind="Service") is None


@pytest.mark.parametrize(
    ("namespace", "binding", "work"),
    [
        pytest.param("shop", "web-deployment", "shop.web-deployment", id="namespaced"),
        pytest.param(None, "viewer.x-clusterrole", "viewer.x-clusterrole", id="cluster-scoped"),
    ],
)
def test_work_name_round_trip(namespace: str | None, binding: str, work: str) -> None:
    assert names.work_name(binding_namespace=namespace, binding=binding) == work
    ref = names.binding_from_work_name(work, namespaced=namespace is not None)
    assert ref == names.BindingRef(namespace=namespace, name=binding)


def test_work_name_hashed_when_too_long() -> None:
    work = names.work_name(binding_namespace="n" * 63, binding="b" * 253)
    assert DNS_SUBDOMAIN.match(work) and len(work) <= 253
    assert names.binding_from_work_name(work, namespaced=True) is None


@pytest.mark.parametrize(
    ("ref", "cluster"),
    [
        pytest.param(names.BindingRef("shop", "web-deployment"), "member-1", id="namespaced"),
        pytest.param(names.BindingRef(None, "viewer-clusterrole"), None, id="cluster binding, no cluster"),
        pytest.param(names.BindingRef("shop", "w" * 200), "c" * 100, id="long values go to annotations"),
    ],
)
def test_binding_metadata_round_trip(ref: names.BindingRef, cluster: str | None) -> None:
    labels, annotations = names.binding_metadata(ref, cluster=cluster)
    assert labels[names.MANAGED_BY_LABEL] == "kokpit"
    assert all(LABEL_VALUE.match(value) and len(value) <= 63 for value in labels.values())
    assert names.binding_ref_from_metadata(labels, annotations) == ref
    assert names.cluster_from_metadata(labels, annotations) == cluster
    assert annotations[names.BINDING_KIND_KEY] == ref.kind


def test_binding_ref_from_labels_alone_when_unshortened() -> None:
    labels, _ = names.binding_metadata(names.BindingRef("shop", "web-deployment"))
    assert names.binding_ref_from_metadata(labels, None) == names.BindingRef("shop", "web-deployment")
    long_labels, _ = names.binding_metadata(names.BindingRef("shop", "w" * 100))
    assert names.binding_ref_from_metadata(long_labels, None) is None
    assert names.binding_ref_from_metadata({}, {}) is None


@pytest.mark.parametrize(
    "ref",
    [
        pytest.param(names.PolicyRef("PropagationPolicy", "shop", "web"), id="namespaced"),
        pytest.param(names.PolicyRef("ClusterPropagationPolicy", None, "everything"), id="cluster-wide"),
    ],
)
def test_policy_metadata_round_trip(ref: names.PolicyRef) -> None:
    labels, annotations = names.policy_metadata(ref)
    assert all(key.startswith("kokpit.io/") for key in (*labels, *annotations))
    assert names.policy_ref_from_metadata(annotations) == ref
    assert names.policy_ref_from_metadata({}) is None


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        pytest.param("web", True, id="short"),
        pytest.param("Web_1.x", True, id="label value characters"),
        pytest.param("a" * 64, False, id="too long"),
        pytest.param("a/b", False, id="slash"),
    ],
)
def test_label_value(text: str, plain: bool) -> None:
    value = names.label_value(text)
    assert LABEL_VALUE.match(value) and len(value) <= 63
    assert (value == text) is plain


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: names.execution_namespace(""), id="empty cluster"),
        pytest.param(lambda: names.binding_name(kind="", name="x"), id="empty kind"),
        pytest.param(lambda: names.work_name(binding_namespace="x", binding=""), id="empty binding"),
    ],
)
def test_empty_inputs_are_refused(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        call()
