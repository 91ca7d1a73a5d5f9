"""`apply_overrides`: every overrider, their order, rule targeting, and errors for bad paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kokpit.api.override import ImageOverrider, RuleWithCluster
from kokpit.propagation import ClusterInfo, OverrideError, apply_overrides
from kokpit.propagation.overrides import override_image, parse_image, pointer_tokens

EU = ClusterInfo("eu-1", labels={"env": "prod"}, region="eu-west")
US = ClusterInfo("us-1", region="us-east")


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "tier": "front"}},
        "spec": {
            "replicas": 3,
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "initContainers": [{"name": "init", "image": "busybox:1.36"}],
                    "containers": [
                        {
                            "name": "web",
                            "image": "docker.io/shop/web:1.0",
                            "command": ["web"],
                            "args": ["--v=1"],
                        },
                        {"name": "sidecar", "image": "envoy@sha256:abc"},
                    ],
                },
            },
        },
    }


def rule(overriders: dict[str, Any], target: dict[str, Any] | None = None) -> RuleWithCluster:
    body: dict[str, Any] = {"overriders": overriders}
    if target is not None:
        body["targetCluster"] = target
    return RuleWithCluster.model_validate(body)


def apply(
    overriders: dict[str, Any], manifest: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    return apply_overrides(manifest or deployment(), [rule(overriders)], EU)


def containers(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    spec = manifest["spec"]["template"]["spec"]
    return {c["name"]: c for c in spec["initContainers"] + spec["containers"]}


@pytest.mark.parametrize(
    ("image", "registry", "repository", "tag", "digest"),
    [
        pytest.param("nginx", "", "nginx", "", "", id="bare name"),
        pytest.param("nginx:1.27", "", "nginx", "1.27", "", id="name and tag"),
        pytest.param("library/nginx", "", "library/nginx", "", "", id="path without registry"),
        pytest.param("ghcr.io/org/app:v2", "ghcr.io", "org/app", "v2", "", id="registry with a dot"),
        pytest.param("localhost:5000/app:1", "localhost:5000", "app", "1", "", id="registry with a port"),
        pytest.param("localhost/app", "localhost", "app", "", "", id="localhost"),
        pytest.param("app@sha256:abc", "", "app", "", "sha256:abc", id="digest"),
        pytest.param("r.io/app:1@sha256:abc", "r.io", "app", "1", "sha256:abc", id="tag and digest"),
    ],
)
def test_parse_image(image: str, registry: str, repository: str, tag: str, digest: str) -> None:
    ref = parse_image(image)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert str(ref) == image


@pytest.mark.parametrize(
    ("image", "overrider", "expected"),
    [
        pytest.param(
            "nginx:1",
            {"component": "Registry", "operator": "add", "value": "r.io"},
            "r.io/nginx:1",
            id="registry add to none",
        ),
        pytest.param(
            "a.io/nginx:1",
            {"component": "Registry", "operator": "add", "value": ".cn"},
            "a.io.cn/nginx:1",
            id="registry add appends",
        ),
        pytest.param(
            "a.io/nginx:1",
            {"component": "Registry", "operator": "replace", "value": "b.io"},
            "b.io/nginx:1",
            id="registry replace",
        ),
        pytest.param(
            "a.io/nginx:1", {"component": "Registry", "operator": "remove"}, "nginx:1", id="registry remove"
        ),
        pytest.param(
            "a.io/nginx:1",
            {"component": "Repository", "operator": "replace", "value": "x/y"},
            "a.io/x/y:1",
            id="repository replace",
        ),
        pytest.param(
            "a.io/nginx:1",
            {"component": "Repository", "operator": "add", "value": "-fips"},
            "a.io/nginx-fips:1",
            id="repository add",
        ),
        pytest.param(
            "nginx:1", {"component": "Tag", "operator": "replace", "value": "2"}, "nginx:2", id="tag replace"
        ),
        pytest.param(
            "nginx:1",
            {"component": "Tag", "operator": "add", "value": "-debug"},
            "nginx:1-debug",
            id="tag add",
        ),
        pytest.param("nginx:1", {"component": "Tag", "operator": "remove"}, "nginx", id="tag remove"),
        pytest.param(
            "nginx@sha256:a",
            {"component": "Tag", "operator": "replace", "value": "3"},
            "nginx:3",
            id="tag replaces digest",
        ),
        pytest.param(
            "nginx:1",
            {"component": "Tag", "operator": "replace", "value": "sha256:f"},
            "nginx@sha256:f",
            id="digest value",
        ),
    ],
)
def test_override_image(image: str, overrider: dict[str, Any], expected: str) -> None:
    assert override_image(image, ImageOverrider.model_validate(overrider)) == expected


def test_image_overrider_changes_every_container_of_the_pod_template() -> None:
    out, changes = apply(
        {
            "imageOverrider": [
                {"component": "Registry", "operator": "replace", "value": "registry.eu.example.com"}
            ]
        }
    )
    assert {name: c["image"] for name, c in containers(out).items()} == {
        "init": "registry.eu.example.com/busybox:1.36",
        "web": "registry.eu.example.com/shop/web:1.0",
        "sidecar": "registry.eu.example.com/envoy@sha256:abc",
    }
    assert changes == [
        "image registry replaced with registry.eu.example.com on container web",
        "image registry replaced with registry.eu.example.com on container sidecar",
        "image registry replaced with registry.eu.example.com on container init",
    ]


def test_image_overrider_with_predicate_changes_only_that_path() -> None:
    out, changes = apply(
        {
            "imageOverrider": [
                {
                    "predicate": {"path": "/spec/template/spec/containers/0/image"},
                    "component": "Tag",
                    "operator": "replace",
                    "value": "2.0",
                }
            ]
        }
    )
    assert containers(out)["web"]["image"] == "docker.io/shop/web:2.0"
    assert containers(out)["init"]["image"] == "busybox:1.36"
    assert changes == ["image tag replaced with 2.0 at /spec/template/spec/containers/0/image"]


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        pytest.param("Pod", ("spec",), id="Pod"),
        pytest.param("StatefulSet", ("spec", "template", "spec"), id="StatefulSet"),
        pytest.param("DaemonSet", ("spec", "template", "spec"), id="DaemonSet"),
        pytest.param("Job", ("spec", "template", "spec"), id="Job"),
        pytest.param("CronJob", ("spec", "jobTemplate", "spec", "template", "spec"), id="CronJob"),
    ],
)
def test_image_overrider_finds_pod_templates(kind: str, path: tuple[str, ...]) -> None:
    manifest: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}}
    node = manifest
    for step in path:
        node = node.setdefault(step, {})
    node["containers"] = [{"name": "c", "image": "app:1"}]
    out, changes = apply(
        {"imageOverrider": [{"component": "Tag", "operator": "replace", "value": "2"}]}, manifest
    )
    node = out
    for step in path:
        node = node[step]
    assert node["containers"][0]["image"] == "app:2"
    assert changes == ["image tag replaced with 2 on container c"]


def test_image_overrider_ignores_kinds_without_pod_template() -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"image": "x:1"}}
    assert apply({"imageOverrider": [{"component": "Tag", "operator": "replace", "value": "2"}]}, config) == (
        config,
        [],
    )


@pytest.mark.parametrize(
    ("key", "overrider", "expected", "change"),
    [
        pytest.param(
            "command",
            {"containerName": "web", "operator": "add", "value": ["--x"]},
            ["web", "--x"],
            'command of container web: appended ["--x"]',
            id="command add",
        ),
        pytest.param(
            "command",
            {"containerName": "web", "operator": "remove", "value": ["web"]},
            [],
            'command of container web: removed ["web"]',
            id="command remove",
        ),
        pytest.param(
            "args",
            {"containerName": "web", "operator": "add", "value": ["--a", "--b"]},
            ["--v=1", "--a", "--b"],
            'args of container web: appended ["--a", "--b"]',
            id="args add",
        ),
        pytest.param(
            "args",
            {"containerName": "web", "operator": "remove", "value": ["--v=1", "--nope"]},
            [],
            'args of container web: removed ["--v=1"]',
            id="args remove",
        ),
    ],
)
def test_command_and_args(key: str, overrider: dict[str, Any], expected: list[str], change: str) -> None:
    out, changes = apply({f"{key}Overrider": [overrider]})
    assert containers(out)["web"][key] == expected
    assert changes == [change]


def test_command_of_a_missing_container_is_skipped() -> None:
    out, changes = apply({"commandOverrider": [{"containerName": "nope", "operator": "add", "value": ["x"]}]})
    assert out == deployment()
    assert changes == []


def test_args_added_to_a_container_without_args() -> None:
    out, _ = apply({"argsOverrider": [{"containerName": "sidecar", "operator": "add", "value": ["-v"]}]})
    assert containers(out)["sidecar"]["args"] == ["-v"]


@pytest.mark.parametrize(
    ("operator", "value", "expected", "changes"),
    [
        pytest.param(
            "add",
            {"env": "prod", "app": "web"},
            {"app": "web", "tier": "front", "env": "prod"},
            ["label env=prod added"],
            id="add sets, unchanged is silent",
        ),
        pytest.param(
            "replace",
            {"tier": "back", "missing": "x"},
            {"app": "web", "tier": "back"},
            ["label tier replaced with back"],
            id="replace only existing keys",
        ),
        pytest.param(
            "remove", {"tier": "", "missing": ""}, {"app": "web"}, ["label tier removed"], id="remove by key"
        ),
    ],
)
def test_labels(operator: str, value: dict[str, str], expected: dict[str, str], changes: list[str]) -> None:
    out, made = apply({"labelsOverrider": [{"operator": operator, "value": value}]})
    assert out["metadata"]["labels"] == expected
    assert made == changes


def test_annotations_are_created_when_absent() -> None:
    out, changes = apply({"annotationsOverrider": [{"operator": "add", "value": {"owner": "shop"}}]})
    assert out["metadata"]["annotations"] == {"owner": "shop"}
    assert changes == ["annotation owner=shop added"]


MISSING = object()


def lookup(manifest: dict[str, Any], path: tuple[str | int, ...]) -> Any:
    node: Any = manifest
    for step in path:
        if isinstance(node, dict) and step not in node:
            return MISSING
        node = node[step]
    return node


@pytest.mark.parametrize(
    ("patch", "where", "expected", "change"),
    [
        pytest.param(
            {"path": "/spec/replicas", "operator": "replace", "value": 5},
            ("spec", "replicas"),
            5,
            "replaced /spec/replicas with 5",
            id="replace",
        ),
        pytest.param(
            {"path": "/spec/paused", "operator": "add", "value": True},
            ("spec", "paused"),
            True,
            "added /spec/paused = true",
            id="add to object",
        ),
        pytest.param(
            {"path": "/metadata/labels/a~1b", "operator": "add", "value": "c"},
            ("metadata", "labels", "a/b"),
            "c",
            'added /metadata/labels/a~1b = "c"',
            id="escaped slash",
        ),
        pytest.param(
            {"path": "/spec/replicas", "operator": "remove"},
            ("spec", "replicas"),
            MISSING,
            "removed /spec/replicas",
            id="remove",
        ),
        pytest.param(
            {"path": "/spec/template/spec/containers/-", "operator": "add", "value": {"name": "x"}},
            ("spec", "template", "spec", "containers", 2),
            {"name": "x"},
            'added /spec/template/spec/containers/- = {"name": "x"}',
            id="append to array",
        ),
        pytest.param(
            {"path": "/spec/replicas", "operator": "replace", "value": 3},
            ("spec", "replicas"),
            3,
            None,
            id="replace with the same value is silent",
        ),
    ],
)
def test_plaintext(
    patch: dict[str, Any], where: tuple[str | int, ...], expected: Any, change: str | None
) -> None:
    out, changes = apply({"plaintext": [patch]})
    assert changes == ([change] if change else [])
    assert lookup(out, where) == expected


def test_plaintext_array_insert_and_remove_by_index() -> None:
    out, _ = apply(
        {
            "plaintext": [
                {"path": "/spec/template/spec/containers/0", "operator": "add", "value": {"name": "first"}},
                {"path": "/spec/template/spec/containers/2", "operator": "remove"},
            ]
        }
    )
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["first", "web"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        pytest.param(
            {"path": "/spec/missing/x", "operator": "add", "value": 1},
            "/spec/missing/x: /spec/missing does not exist",
            id="missing parent",
        ),
        pytest.param(
            {"path": "/spec/nothing", "operator": "replace", "value": 1},
            "/spec/nothing: does not exist",
            id="replace missing",
        ),
        pytest.param(
            {"path": "/spec/nothing", "operator": "remove"},
            "/spec/nothing: cannot remove, does not exist",
            id="remove missing",
        ),
        pytest.param(
            {"path": "/spec/template/spec/containers/9/image", "operator": "replace", "value": "x"},
            "index 9 is out of range",
            id="index out of range",
        ),
        pytest.param(
            {"path": "/spec/template/spec/containers/x", "operator": "remove"},
            "'x' is not an array index",
            id="bad index",
        ),
        pytest.param(
            {"path": "/spec/template/spec/containers/01", "operator": "remove"},
            "'01' is not an array index",
            id="leading zero",
        ),
        pytest.param(
            {"path": "/spec/replicas/x", "operator": "add", "value": 1},
            "/spec/replicas is not an object or array",
            id="scalar parent",
        ),
    ],
)
def test_plaintext_errors_name_the_path(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(OverrideError, match=message) as caught:
        apply({"plaintext": [patch]})
    assert caught.value.path == patch["path"]
    assert caught.value.reason == "OverrideFailed"


def test_image_predicate_must_point_at_a_string() -> None:
    with pytest.raises(OverrideError, match="not a string"):
        apply(
            {
                "imageOverrider": [
                    {"predicate": {"path": "/spec/replicas"}, "component": "Tag", "operator": "remove"}
                ]
            }
        )


def test_pointer_tokens() -> None:
    assert pointer_tokens("/a~1b/~0c/0") == ["a/b", "~c", "0"]
    with pytest.raises(OverrideError, match="must start with /"):
        pointer_tokens("spec")


def test_overriders_apply_in_order_image_command_args_labels_annotations_plaintext() -> None:
    out, changes = apply(
        {
            "plaintext": [
                {"path": "/spec/template/spec/containers/0/image", "operator": "replace", "value": "final:1"},
                {"path": "/metadata/labels/env", "operator": "replace", "value": "patched"},
            ],
            "labelsOverrider": [{"operator": "add", "value": {"env": "prod"}}],
            "annotationsOverrider": [{"operator": "add", "value": {"a": "b"}}],
            "argsOverrider": [{"containerName": "web", "operator": "add", "value": ["--b"]}],
            "commandOverrider": [{"containerName": "web", "operator": "add", "value": ["--c"]}],
            "imageOverrider": [{"component": "Tag", "operator": "replace", "value": "9"}],
        }
    )
    assert containers(out)["web"]["image"] == "final:1"
    assert out["metadata"]["labels"]["env"] == "patched"
    assert [change.split()[0] for change in changes] == [
        "image",
        "image",
        "image",
        "command",
        "args",
        "label",
        "annotation",
        "replaced",
        "replaced",
    ]


def test_rules_apply_in_order_and_only_to_their_target_clusters() -> None:
    rules = [
        rule({"labelsOverrider": [{"operator": "add", "value": {"region": "any"}}]}),
        rule(
            {"labelsOverrider": [{"operator": "add", "value": {"region": "eu"}}]},
            {
                "fieldSelector": {
                    "matchExpressions": [{"key": "region", "operator": "In", "values": ["eu-west"]}]
                }
            },
        ),
        rule(
            {"labelsOverrider": [{"operator": "add", "value": {"prod": "yes"}}]},
            {"labelSelector": {"matchLabels": {"env": "prod"}}},
        ),
    ]
    eu, _ = apply_overrides(deployment(), rules, EU)
    us, _ = apply_overrides(deployment(), rules, US)
    assert eu["metadata"]["labels"] | {} == {"app": "web", "tier": "front", "region": "eu", "prod": "yes"}
    assert us["metadata"]["labels"] == {"app": "web", "tier": "front", "region": "any"}


def test_input_is_never_mutated() -> None:
    original = deployment()
    snapshot = copy.deepcopy(original)
    value = {"nested": ["list"]}
    out, _ = apply_overrides(
        original,
        [
            rule(
                {
                    "imageOverrider": [{"component": "Registry", "operator": "replace", "value": "r.io"}],
                    "commandOverrider": [{"containerName": "web", "operator": "add", "value": ["x"]}],
                    "labelsOverrider": [{"operator": "remove", "value": {"app": ""}}],
                    "plaintext": [
                        {"path": "/spec/replicas", "operator": "remove"},
                        {"path": "/spec/extra", "operator": "add", "value": value},
                    ],
                }
            )
        ],
        EU,
    )
    assert original == snapshot
    out["spec"]["extra"]["nested"].append("changed")
    assert value == {"nested": ["list"]}


def test_no_rules_returns_an_equal_copy() -> None:
    original = deployment()
    out, changes = apply_overrides(original, [], EU)
    assert out == original and out is not original and changes == []
