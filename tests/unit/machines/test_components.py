"""Choosing a component's variant for a host, ordering components by dependsOn, and checking their
parameters: every mismatch with the catalogue is one line and a condition reason."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.api.machine import NodeComponent
from kokpit.errors import KokpitError
from kokpit.machines.components import (
    ComponentError,
    DependencyCycle,
    DuplicateComponent,
    InvalidParameters,
    InvalidParameterSchema,
    MissingDependency,
    NoMatchingVariant,
    UnknownComponent,
    UnknownComponentVersion,
    install_order,
    select_variant,
    validate_parameters,
)
from kokpit.machines.facts import HostFacts

DEBIAN_AMD64 = HostFacts(os="linux", distribution="debian", architecture="amd64")


def component(
    name: str,
    *,
    versions: tuple[str, ...] = ("1.0",),
    depends_on: tuple[str, ...] = (),
    variants: list[dict[str, Any]] | None = None,
) -> NodeComponent:
    return NodeComponent.model_validate(
        {
            "metadata": {"name": name},
            "spec": {
                "versions": list(versions),
                "dependsOn": list(depends_on),
                "variants": variants or [{"architectures": ["amd64"], "install": f"echo {name}"}],
            },
        }
    )


VARIANTS = [
    {"architectures": ["amd64", "arm64"], "install": "generic"},
    {"distributions": ["debian", "ubuntu"], "architectures": ["amd64"], "install": "debian amd64"},
    {"distributions": ["debian"], "architectures": ["amd64"], "install": "second debian amd64"},
    {"os": "freebsd", "architectures": ["amd64"], "install": "freebsd"},
]


@pytest.mark.parametrize(
    ("facts", "chosen"),
    [
        pytest.param(
            DEBIAN_AMD64, "debian amd64", id="debian amd64: the first naming debian wins over generic"
        ),
        pytest.param(
            HostFacts("linux", "ubuntu", "amd64"), "debian amd64", id="ubuntu amd64: listed with debian"
        ),
        pytest.param(
            HostFacts("linux", "debian", "arm64"), "generic", id="debian arm64: only the generic one"
        ),
        pytest.param(HostFacts("linux", "alpine", "amd64"), "generic", id="alpine: any distribution"),
        pytest.param(HostFacts("linux", "", "arm64"), "generic", id="no os-release: any distribution"),
        pytest.param(HostFacts("freebsd", "", "amd64"), "freebsd", id="another os"),
    ],
)
def test_select_variant(facts: HostFacts, chosen: str) -> None:
    assert select_variant(component("c", variants=VARIANTS), facts).install == chosen


def test_no_matching_variant_names_the_component_and_the_host() -> None:
    runc = component("runc", variants=[{"distributions": ["debian"], "architectures": ["amd64"]}])
    with pytest.raises(NoMatchingVariant) as caught:
        select_variant(runc, HostFacts("linux", "alpine", "riscv64"))
    assert str(caught.value) == (
        "component runc has no variant for host linux/alpine/riscv64 (variants: linux/debian/amd64)"
    )
    assert caught.value.reason == "NoMatchingVariant"
    assert isinstance(caught.value, KokpitError)


CATALOGUE = {
    c.metadata.name or "": c
    for c in [
        component("runc"),
        component("cni-plugins"),
        component("containerd", depends_on=("runc", "cni-plugins")),
        component("kubelet", versions=("v1.35.4", "v1.36.5"), depends_on=("containerd",)),
        component("kube-proxy", versions=("v1.35.4", "v1.36.5"), depends_on=("kubelet",)),
        component("a", depends_on=("b",)),
        component("b", depends_on=("c",)),
        component("c", depends_on=("a",)),
        component("d", depends_on=("a",)),
        component("self", depends_on=("self",)),
    ]
}
NODE = [
    ("kube-proxy", "v1.36.5"),
    ("kubelet", "v1.36.5"),
    ("containerd", "1.0"),
    ("runc", "1.0"),
    ("cni-plugins", "1.0"),
]


@pytest.mark.parametrize(
    ("wanted", "order"),
    [
        pytest.param(
            NODE,
            ["runc", "cni-plugins", "containerd", "kubelet", "kube-proxy"],
            id="a node listed backwards: dependencies first, otherwise as listed",
        ),
        pytest.param(
            list(reversed(NODE)),
            ["cni-plugins", "runc", "containerd", "kubelet", "kube-proxy"],
            id="a node listed in install order stays as it is",
        ),
        pytest.param(
            [("kubelet", "v1.36.5"), ("runc", "1.0"), ("containerd", "1.0"), ("cni-plugins", "1.0")],
            ["runc", "cni-plugins", "containerd", "kubelet"],
            id="mixed: each waits only for what it depends on",
        ),
        pytest.param([("runc", "1.0")], ["runc"], id="one component"),
        pytest.param([], [], id="nothing"),
    ],
)
def test_install_order(wanted: list[tuple[str, str]], order: list[str]) -> None:
    result = install_order(wanted, CATALOGUE)
    assert [name for name, _ in result] == order
    assert dict(result) == dict(wanted)


@pytest.mark.parametrize(
    ("wanted", "error", "message"),
    [
        pytest.param(
            [("kubelet", "v1.99.0"), ("containerd", "1.0")],
            UnknownComponentVersion,
            "component kubelet has no version v1.99.0 (offered: v1.35.4, v1.36.5)",
            id="unknown version",
        ),
        pytest.param(
            [("docker", "24")],
            UnknownComponent,
            "component docker is not in the catalogue (NodeComponents: a, b, c, cni-plugins, containerd, d, "
            "kube-proxy, kubelet, runc, self)",
            id="unknown component",
        ),
        pytest.param(
            [("kubelet", "v1.36.5"), ("runc", "1.0")],
            MissingDependency,
            "component kubelet depends on containerd, which the machine does not list",
            id="missing dependency",
        ),
        pytest.param(
            [("a", "1.0"), ("b", "1.0"), ("c", "1.0"), ("d", "1.0")],
            DependencyCycle,
            "components depend on each other in a cycle: a -> b -> c -> a",
            id="cycle of three, and one behind it",
        ),
        pytest.param(
            [("self", "1.0")],
            DependencyCycle,
            "components depend on each other in a cycle: self -> self",
            id="depends on itself",
        ),
        pytest.param(
            [("runc", "1.0"), ("runc", "1.0")],
            DuplicateComponent,
            "component runc is listed twice",
            id="listed twice",
        ),
    ],
)
def test_install_order_refuses(
    wanted: list[tuple[str, str]], error: type[ComponentError], message: str
) -> None:
    with pytest.raises(error) as caught:
        install_order(wanted, CATALOGUE)
    assert str(caught.value) == message
    assert caught.value.reason == error.__name__


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "maxPods": {"type": "integer", "minimum": 1, "default": 110},
        "clusterDNS": {"type": "array", "items": {"type": "string"}, "default": []},
        "logging": {
            "type": "object",
            "properties": {"verbosity": {"type": "integer", "default": 2}, "format": {"type": "string"}},
            "default": {},
        },
        "featureGates": {"type": "object", "additionalProperties": {"type": "boolean"}},
    },
    "additionalProperties": False,
}


@pytest.mark.parametrize(
    ("given", "merged"),
    [
        pytest.param(
            None, {"maxPods": 110, "clusterDNS": [], "logging": {"verbosity": 2}}, id="all defaults"
        ),
        pytest.param(
            {"maxPods": 20, "logging": {"format": "json"}},
            {"maxPods": 20, "clusterDNS": [], "logging": {"format": "json", "verbosity": 2}},
            id="given wins, nested defaults fill the rest",
        ),
        pytest.param(
            {"featureGates": {"A": True}},
            {"maxPods": 110, "clusterDNS": [], "logging": {"verbosity": 2}, "featureGates": {"A": True}},
            id="a map of flags",
        ),
    ],
)
def test_validate_parameters_fills_defaults(given: dict[str, Any] | None, merged: dict[str, Any]) -> None:
    assert validate_parameters(SCHEMA, given, component="kubelet") == merged


def test_defaults_are_copies() -> None:
    first = validate_parameters(SCHEMA, None, component="kubelet")
    first["clusterDNS"].append("10.96.0.10")
    assert validate_parameters(SCHEMA, None, component="kubelet")["clusterDNS"] == []
    assert SCHEMA["properties"]["clusterDNS"]["default"] == []


@pytest.mark.parametrize(
    ("schema", "given", "error", "message"),
    [
        pytest.param(
            SCHEMA,
            {"maxPods": 0},
            InvalidParameters,
            "component kubelet: parameter maxPods: 0 is less than the minimum of 1",
            id="below the minimum",
        ),
        pytest.param(
            SCHEMA,
            {"maxPods": "many"},
            InvalidParameters,
            "component kubelet: parameter maxPods: 'many' is not of type 'integer'",
            id="wrong type",
        ),
        pytest.param(
            SCHEMA,
            {"logging": {"verbosity": "loud"}},
            InvalidParameters,
            "component kubelet: parameter logging.verbosity: 'loud' is not of type 'integer'",
            id="nested",
        ),
        pytest.param(
            SCHEMA,
            {"maxpods": 3},
            InvalidParameters,
            "component kubelet: parameters: Additional properties are not allowed ('maxpods' was unexpected)",
            id="misspelt",
        ),
        pytest.param(
            None,
            {"x": 1},
            InvalidParameters,
            "component kubelet takes no parameters (given: x)",
            id="no schema",
        ),
        pytest.param(
            {"type": "object", "properties": {"a": {"type": "integr"}}},
            {},
            InvalidParameterSchema,
            "component kubelet: its parameters are not a valid JSON Schema: 'integr' is not valid under any "
            "of the given schemas",
            id="bad schema",
        ),
        pytest.param(
            {"type": "array"},
            {},
            InvalidParameterSchema,
            "component kubelet: its parameters schema must be of type object",
            id="not an object",
        ),
    ],
)
def test_validate_parameters_refuses(
    schema: dict[str, Any] | None, given: dict[str, Any], error: type[ComponentError], message: str
) -> None:
    with pytest.raises(error) as caught:
        validate_parameters(schema, given, component="kubelet")
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_no_schema_and_no_parameters_is_fine() -> None:
    assert validate_parameters(None, None, component="runc") == {}
