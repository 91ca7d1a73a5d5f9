"""The machines CRDs (NodeComponent, Host, Machine, MachineSet, MachineHealthCheck) are structural, are
installed with the others, carry their enums, columns and CEL rules, and the models refuse the same bad
input the API server does."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from kokpit.api import ALL_RESOURCES, crd_manifest
from kokpit.api.crd import ResourceType
from kokpit.api.machine import (
    HOST,
    MACHINE,
    MACHINE_HEALTH_CHECK,
    MACHINE_RESOURCES,
    MACHINE_SET,
    NODE_COMPONENT,
    Host,
    Machine,
    MachineHealthCheck,
    MachineSet,
    NodeComponent,
)
from kokpit.api.meta import KokpitModel
from kokpit.api.schema import Schema, iter_schema_nodes

FORBIDDEN = {
    "$ref",
    "$defs",
    "definitions",
    "anyOf",
    "allOf",
    "oneOf",
    "not",
    "title",
    "const",
    "uniqueItems",
}
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4rT3vTt99Ox5kndS4HmgTrKBT8SKzhK4rhGkEVGlCI kokpit"


def schema_of(resource: ResourceType) -> Schema:
    schema: Schema = crd_manifest(resource)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def node(resource: ResourceType, path: str) -> Schema:
    """The schema node at a dotted path; `[]` steps into list items."""
    current = schema_of(resource)
    for step in path.split("."):
        current = current["items"] if step == "[]" else current["properties"][step]
    return current


def rules(resource: ResourceType, path: str) -> list[str]:
    return [rule["message"] for rule in node(resource, path).get("x-kubernetes-validations", [])]


@pytest.mark.parametrize(
    ("resource", "name", "scope", "short"),
    [
        pytest.param(
            NODE_COMPONENT, "nodecomponents.machines.kokpit.io", "Cluster", ["nc", "ncomp"], id="NC"
        ),
        pytest.param(HOST, "hosts.machines.kokpit.io", "Namespaced", ["kho", "khost"], id="Host"),
        pytest.param(MACHINE, "machines.machines.kokpit.io", "Namespaced", ["kma", "kmachine"], id="Machine"),
        pytest.param(
            MACHINE_SET,
            "machinesets.machines.kokpit.io",
            "Namespaced",
            ["kms", "kmachineset"],
            id="MachineSet",
        ),
        pytest.param(
            MACHINE_HEALTH_CHECK,
            "machinehealthchecks.machines.kokpit.io",
            "Namespaced",
            ["kmhc"],
            id="MachineHealthCheck",
        ),
    ],
)
def test_identity(resource: ResourceType, name: str, scope: str, short: list[str]) -> None:
    crd = crd_manifest(resource)
    assert crd["metadata"]["name"] == name
    assert crd["spec"]["group"] == "machines.kokpit.io"
    assert crd["spec"]["scope"] == scope
    assert crd["spec"]["names"]["shortNames"] == short
    assert crd["spec"]["names"]["categories"] == ["kokpit"]
    version = crd["spec"]["versions"][0]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    assert resource in ALL_RESOURCES
    assert schema_of(resource)["required"] == ["spec"]


@pytest.mark.parametrize("resource", MACHINE_RESOURCES, ids=lambda r: r.kind)
def test_schema_is_structural(resource: ResourceType) -> None:
    for path, item in iter_schema_nodes(schema_of(resource)):
        assert not FORBIDDEN & item.keys(), path
        assert (
            "type" in item
            or item.get("x-kubernetes-preserve-unknown-fields")
            or item.get("x-kubernetes-int-or-string")
        ), path
        assert not ("properties" in item and "additionalProperties" in item), path
        assert item.get("default", "unset") is not None, path
        if item.get("x-kubernetes-list-type") == "map":
            assert set(item["x-kubernetes-list-map-keys"]) <= set(item["items"].get("required", [])), path
    assert yaml.safe_load(yaml.safe_dump(crd_manifest(resource))) == crd_manifest(resource)


@pytest.mark.parametrize("resource", MACHINE_RESOURCES, ids=lambda r: r.kind)
def test_status_has_conditions_merged_by_type(resource: ResourceType) -> None:
    conditions = node(resource, "status.conditions")
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    assert "observedGeneration" in node(resource, "status")["properties"]


def columns(resource: ResourceType) -> list[str]:
    version = crd_manifest(resource)["spec"]["versions"][0]
    return [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        pytest.param(NODE_COMPONENT, ["Versions", "DependsOn", "Accepted", "Age"], id="NodeComponent"),
        pytest.param(HOST, ["Address", "Phase", "Machine", "Reachable", "Age"], id="Host"),
        pytest.param(MACHINE, ["Host", "Cluster", "Node", "Phase", "Ready", "Age"], id="Machine"),
        pytest.param(MACHINE_SET, ["Replicas", "Ready", "Updated", "Paused", "Age"], id="MachineSet"),
        pytest.param(
            MACHINE_HEALTH_CHECK, ["Expected", "Healthy", "Allowed", "Age"], id="MachineHealthCheck"
        ),
    ],
)
def test_printer_columns(resource: ResourceType, expected: list[str]) -> None:
    assert columns(resource) == expected


@pytest.mark.parametrize(
    ("resource", "path", "values"),
    [
        pytest.param(
            MACHINE,
            "status.phase",
            ["Pending", "Provisioning", "Joining", "Ready", "Repairing", "Draining", "Deleting", "Failed"],
            id="machine phase",
        ),
        pytest.param(MACHINE, "spec.clusterRef.kind", ["HostedCluster", "Cluster"], id="cluster kind"),
        pytest.param(
            MACHINE,
            "spec.taints.[].effect",
            ["NoSchedule", "PreferNoSchedule", "NoExecute"],
            id="taint effect",
        ),
        pytest.param(HOST, "status.phase", ["Available", "Claimed"], id="host phase"),
        pytest.param(
            MACHINE_HEALTH_CHECK,
            "spec.unhealthyConditions.[].status",
            ["True", "False", "Unknown"],
            id="unhealthy status",
        ),
    ],
)
def test_enums(resource: ResourceType, path: str, values: list[str]) -> None:
    assert node(resource, path)["enum"] == values


def test_defaults() -> None:
    assert node(HOST, "spec.port")["default"] == 22
    assert node(HOST, "spec.user")["default"] == "root"
    assert node(HOST, "spec.prefix")["default"] == "/"
    assert node(HOST, "spec.cgroupRoot")["default"] == "/"
    assert node(NODE_COMPONENT, "spec.variants.[].artifacts.[].mode")["default"] == "0755"
    assert node(NODE_COMPONENT, "spec.variants.[].files.[].mode")["default"] == "0644"
    assert node(NODE_COMPONENT, "spec.variants.[].os")["default"] == "linux"
    assert node(MACHINE_SET, "spec.strategy.maxUnavailable")["default"] == 1
    assert node(MACHINE_SET, "spec.strategy.canary")["default"] == 0
    assert node(MACHINE_HEALTH_CHECK, "spec.maxUnhealthy") == {
        "default": "100%",
        "description": node(MACHINE_HEALTH_CHECK, "spec.maxUnhealthy")["description"],
        "x-kubernetes-int-or-string": True,
    }


def test_template_spec_is_the_machine_spec_without_host_and_node_name() -> None:
    machine = node(MACHINE, "spec")["properties"]
    template = node(MACHINE_SET, "spec.template.spec")["properties"]
    assert set(machine) - set(template) == {"hostRef", "nodeName"}
    for name, value in template.items():
        assert machine[name] == value, name
    assert "x-kubernetes-validations" not in node(MACHINE_SET, "spec.template.spec")


@pytest.mark.parametrize(
    ("resource", "path", "message"),
    [
        pytest.param(
            NODE_COMPONENT,
            "spec.variants.[].files.[].path",
            "must be an absolute path without '..'",
            id="file path",
        ),
        pytest.param(
            NODE_COMPONENT,
            "spec.variants.[].artifacts.[].path",
            "must be an absolute path without '..'",
            id="artifact path",
        ),
        pytest.param(HOST, "spec.prefix", "must be an absolute path without '..'", id="prefix"),
        pytest.param(HOST, "spec.cgroupRoot", "must be an absolute path without '..'", id="cgroupRoot"),
        pytest.param(HOST, "spec", "podCIDR must be a valid CIDR such as 10.78.1.0/24", id="podCIDR"),
        pytest.param(HOST, "spec", "address must be an IP address or a DNS name", id="address"),
        pytest.param(MACHINE, "spec", "hostRef cannot be changed", id="hostRef immutable"),
        pytest.param(MACHINE, "spec", "clusterRef cannot be changed", id="clusterRef immutable"),
        pytest.param(MACHINE, "spec", "nodeName cannot be changed", id="nodeName immutable"),
        pytest.param(
            MACHINE,
            "spec.clusterRef",
            "namespace must be unset for kind Cluster (a cluster-scoped fleet member)",
            id="Cluster without namespace",
        ),
        pytest.param(
            MACHINE_HEALTH_CHECK,
            "spec",
            "maxUnhealthy must be a count or a percentage such as 40%",
            id="maxUnhealthy",
        ),
    ],
)
def test_cel_rules(resource: ResourceType, path: str, message: str) -> None:
    assert message in rules(resource, path)


def test_a_component_cannot_depend_on_itself_through_cel() -> None:
    [rule] = schema_of(NODE_COMPONENT)["x-kubernetes-validations"]
    assert rule["rule"] == "!has(self.spec.dependsOn) || !(self.metadata.name in self.spec.dependsOn)"


def test_patterns() -> None:
    assert node(NODE_COMPONENT, "spec.versions")["minItems"] == 1
    assert node(NODE_COMPONENT, "spec.variants")["minItems"] == 1
    assert node(NODE_COMPONENT, "spec.variants.[].architectures")["minItems"] == 1
    assert node(NODE_COMPONENT, "spec.variants.[].files.[].mode")["pattern"] == "^0[0-7]{3}$"
    assert node(NODE_COMPONENT, "spec.parameters")["x-kubernetes-preserve-unknown-fields"] is True
    assert node(HOST, "spec.hostKey")["pattern"].startswith("^(ssh-ed25519|")
    assert node(HOST, "spec")["required"] == ["address", "credentialsSecretRef", "hostKey"]


COMPONENT: dict[str, Any] = {
    "apiVersion": "machines.kokpit.io/v1alpha1",
    "kind": "NodeComponent",
    "metadata": {"name": "kubelet"},
    "spec": {
        "description": "The node agent.",
        "versions": ["v1.35.4", "v1.36.5"],
        "dependsOn": ["containerd"],
        "parameters": {
            "type": "object",
            "properties": {"maxPods": {"type": "integer", "default": 110}},
        },
        "variants": [
            {
                "os": "linux",
                "architectures": ["amd64", "arm64"],
                "artifacts": [
                    {
                        "source": "file://{{ binaries }}/{{ version }}/kubelet",
                        "path": "/usr/local/bin/kubelet",
                        "mode": "0755",
                    }
                ],
                "files": [{"path": "/etc/kubernetes/kubelet.yaml", "mode": "0644", "content": "x"}],
                "install": "mkdir -p {{ host.prefix }}/var/lib/kubelet",
                "check": "true",
            }
        ],
    },
}
HOST_OBJECT: dict[str, Any] = {
    "apiVersion": "machines.kokpit.io/v1alpha1",
    "kind": "Host",
    "metadata": {"name": "host-1", "namespace": "default"},
    "spec": {
        "address": "10.77.0.11",
        "port": 22,
        "user": "root",
        "credentialsSecretRef": {"name": "host-1-ssh"},
        "hostKey": HOST_KEY,
        "prefix": "/var/lib/kokpit-hosts/host-1",
        "cgroupRoot": "/kokpit/host-1",
        "podCIDR": "10.78.1.0/24",
    },
}
MACHINE_SPEC: dict[str, Any] = {
    "clusterRef": {"kind": "HostedCluster", "name": "prod"},
    "components": [{"name": "kubelet", "version": "v1.36.5", "parameters": {"maxPods": 50}}],
    "labels": {"pool": "a"},
    "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
}
MACHINE_OBJECT: dict[str, Any] = {
    "apiVersion": "machines.kokpit.io/v1alpha1",
    "kind": "Machine",
    "metadata": {"name": "m-1", "namespace": "default"},
    "spec": {**MACHINE_SPEC, "hostRef": {"name": "host-1"}, "nodeName": "node-1"},
    "status": {
        "phase": "Ready",
        "components": [{"name": "kubelet", "version": "v1.36.5", "digest": "ab" * 32, "healthy": True}],
        "nodeRef": {"name": "node-1"},
        "hostRef": {"name": "host-1"},
        "observedGeneration": 2,
    },
}
SET_OBJECT: dict[str, Any] = {
    "apiVersion": "machines.kokpit.io/v1alpha1",
    "kind": "MachineSet",
    "metadata": {"name": "workers", "namespace": "default"},
    "spec": {
        "replicas": 2,
        "hostSelector": {"matchLabels": {"pool": "a"}},
        "template": {"metadata": {"labels": {"set": "workers"}}, "spec": MACHINE_SPEC},
        "strategy": {"maxUnavailable": 1, "canary": 1},
    },
}
CHECK_OBJECT: dict[str, Any] = {
    "apiVersion": "machines.kokpit.io/v1alpha1",
    "kind": "MachineHealthCheck",
    "metadata": {"name": "workers", "namespace": "default"},
    "spec": {
        "selector": {"matchLabels": {"set": "workers"}},
        "unhealthyConditions": [
            {"type": "Ready", "status": "False", "timeout": "30s"},
            {"type": "Ready", "status": "Unknown", "timeout": "1m"},
        ],
        "checkComponents": True,
        "maxUnhealthy": "40%",
    },
}


@pytest.mark.parametrize(
    ("model", "body"),
    [
        pytest.param(NodeComponent, COMPONENT, id="NodeComponent"),
        pytest.param(Host, HOST_OBJECT, id="Host"),
        pytest.param(Machine, MACHINE_OBJECT, id="Machine"),
        pytest.param(MachineSet, SET_OBJECT, id="MachineSet"),
        pytest.param(MachineHealthCheck, CHECK_OBJECT, id="MachineHealthCheck"),
    ],
)
def test_objects_read_and_write_back_unchanged(model: type[KokpitModel], body: dict[str, Any]) -> None:
    assert model.model_validate(body).to_dict() == body


def test_defaults_of_the_models() -> None:
    host = Host.model_validate(
        {"spec": {"address": "h.example", "credentialsSecretRef": {"name": "s"}, "hostKey": HOST_KEY}}
    )
    assert (host.spec.port, host.spec.user, host.spec.prefix, host.spec.cgroup_root) == (22, "root", "/", "/")
    check = MachineHealthCheck.model_validate({"spec": {"selector": {}}})
    assert check.spec.max_unhealthy == "100%" and check.spec.check_components


def with_spec(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, "spec": {**body["spec"], **changes}}


def with_variant(**changes: Any) -> dict[str, Any]:
    return with_spec(COMPONENT, variants=[{**COMPONENT["spec"]["variants"][0], **changes}])


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        pytest.param(NodeComponent, with_spec(COMPONENT, versions=[]), "at least 1", id="no versions"),
        pytest.param(NodeComponent, with_spec(COMPONENT, variants=[]), "at least 1", id="no variants"),
        pytest.param(
            NodeComponent,
            with_variant(files=[{"path": "etc/x", "content": ""}]),
            "absolute path without",
            id="relative file path",
        ),
        pytest.param(
            NodeComponent,
            with_variant(files=[{"path": "/etc/../x", "content": ""}]),
            "absolute path without",
            id="file path with ..",
        ),
        pytest.param(
            NodeComponent,
            with_variant(artifacts=[{"source": "file:///a", "path": "/usr/bin/.."}]),
            "absolute path without",
            id="artifact path ending ..",
        ),
        pytest.param(
            NodeComponent,
            with_variant(files=[{"path": "/etc/x", "mode": "755", "content": ""}]),
            "pattern",
            id="mode not octal string",
        ),
        pytest.param(
            NodeComponent,
            with_variant(files=[{"path": "/etc/x", "mode": "0855", "content": ""}]),
            "pattern",
            id="mode digit 8",
        ),
        pytest.param(
            NodeComponent,
            with_variant(artifacts=[{"source": "http://example.com/a", "path": "/a"}]),
            "pattern",
            id="plain http source",
        ),
        pytest.param(
            NodeComponent,
            with_variant(artifacts=[{"source": "file:///a", "path": "/a", "sha256": "XYZ"}]),
            "pattern",
            id="bad sha256",
        ),
        pytest.param(NodeComponent, with_variant(architectures=[]), "at least 1", id="no architectures"),
        pytest.param(Host, with_spec(HOST_OBJECT, hostKey="AAAA"), "pattern", id="host key without type"),
        pytest.param(Host, with_spec(HOST_OBJECT, hostKey="ssh-dss AAAAB3Nza"), "pattern", id="host key dss"),
        pytest.param(Host, with_spec(HOST_OBJECT, podCIDR="10.78.1.1/24"), "not a valid CIDR", id="podCIDR"),
        pytest.param(Host, with_spec(HOST_OBJECT, prefix="relative"), "absolute path", id="prefix"),
        pytest.param(Host, with_spec(HOST_OBJECT, port=0), "greater than or equal to 1", id="port 0"),
        pytest.param(
            Host, with_spec(HOST_OBJECT, address="not an address"), "IP address or a DNS name", id="address"
        ),
        pytest.param(
            Machine,
            with_spec(MACHINE_OBJECT, clusterRef={"kind": "Cluster", "name": "a", "namespace": "b"}),
            "namespace must be unset",
            id="Cluster with namespace",
        ),
        pytest.param(
            Machine,
            with_spec(MACHINE_OBJECT, clusterRef={"kind": "EtcdCluster", "name": "a"}),
            "HostedCluster",
            id="unknown cluster kind",
        ),
        pytest.param(
            MachineSet,
            with_spec(SET_OBJECT, strategy={"maxUnavailable": 0}),
            "greater than or equal to 1",
            id="maxUnavailable 0",
        ),
        pytest.param(
            MachineHealthCheck,
            with_spec(CHECK_OBJECT, maxUnhealthy="40"),
            "count or a percentage",
            id="maxUnhealthy without %",
        ),
        pytest.param(
            MachineHealthCheck,
            with_spec(CHECK_OBJECT, maxUnhealthy="101%"),
            "count or a percentage",
            id="maxUnhealthy 101%",
        ),
        pytest.param(
            MachineHealthCheck,
            with_spec(CHECK_OBJECT, maxUnhealthy=-1),
            "0 or more",
            id="maxUnhealthy negative",
        ),
        pytest.param(
            MachineHealthCheck,
            with_spec(
                CHECK_OBJECT, unhealthyConditions=[{"type": "Ready", "status": "False", "timeout": "30"}]
            ),
            "pattern",
            id="timeout without unit",
        ),
    ],
)
def test_models_refuse_bad_input(model: type[KokpitModel], body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        model.model_validate(body)
