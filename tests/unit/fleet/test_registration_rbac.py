"""The agent's RBAC on the hub: its own cluster's objects, by name, and nothing else (pure)."""

from __future__ import annotations

from typing import Any

from kokpit.fleet.registration.rbac import agent_rbac, bootstrap_rbac


def rules_of(objects: list[Any], kind: str, namespace: str | None) -> set[tuple[str, str, tuple[str, ...]]]:
    found = set()
    for obj in objects:
        if type(obj).__name__ == kind and obj.metadata.namespace == namespace:
            for rule in obj.rules:
                for resource in rule.resources:
                    for verb in rule.verbs:
                        found.add((resource, verb, tuple(rule.resourceNames or ())))
    return found


def test_the_agent_may_touch_its_own_cluster_only() -> None:
    objects = agent_rbac("edge1", namespace="kokpit-es-edge1", cluster_uid="uid-1")
    cluster_wide = rules_of(objects, "ClusterRole", None)
    assert ("clusters", "get", ("edge1",)) in cluster_wide
    assert ("clusters", "watch", ("edge1",)) in cluster_wide
    assert ("clusters/status", "patch", ("edge1",)) in cluster_wide
    assert ("certificatesigningrequests", "create", ()) in cluster_wide
    interpreters = {
        (verb, names) for resource, verb, names in cluster_wide if resource == "resourceinterpreters"
    }
    assert interpreters == {("get", ()), ("list", ()), ("watch", ())}
    named = {resource for resource, _, names in cluster_wide if resource.startswith("clusters")}
    assert all(names == ("edge1",) for resource, _, names in cluster_wide if resource in named)
    in_namespace = rules_of(objects, "Role", "kokpit-es-edge1")
    assert {("works", "watch", ()), ("works/status", "patch", ()), ("leases", "create", ())} <= in_namespace
    assert not any(resource in ("secrets", "*") for resource, _, _ in cluster_wide | in_namespace)
    assert rules_of(objects, "Role", "kube-public") == {("configmaps", "get", ("kokpit-hub-endpoints",))}


def test_bindings_name_the_agent_user_and_everything_is_owned_by_the_cluster() -> None:
    objects = agent_rbac("edge1", namespace="kokpit-es-edge1", cluster_uid="uid-1")
    for obj in objects:
        assert [(o.kind, o.name, o.uid) for o in obj.metadata.ownerReferences] == [
            ("Cluster", "edge1", "uid-1")
        ]
        if type(obj).__name__.endswith("Binding"):
            assert [(s.kind, s.name) for s in obj.subjects] == [("User", "system:kokpit:agent:edge1")]


def test_tokens_may_only_submit_and_read_csrs() -> None:
    role, binding = bootstrap_rbac()
    assert rules_of([role], "ClusterRole", None) == {
        ("certificatesigningrequests", verb, ()) for verb in ("create", "get", "list", "watch")
    }
    assert [(s.kind, s.name) for s in binding.subjects or []] == [
        ("Group", "system:bootstrappers:kokpit:agents")
    ]
