"""Rendering: built-in templates produce what the Component asks for; templates are sandboxed and may
only create allowed kinds, named after the Component, in its namespace, with config matching the schema."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.api.component import Component, ComponentTemplate
from kokpit.components.builtin import builtin_name, builtin_templates
from kokpit.components.render import COMPONENT_LABEL, RenderError, render

BUILTINS = {t.metadata.name: t for t in builtin_templates()}


def component(**spec: Any) -> Component:
    base = {
        "workloadType": "Deployment",
        "language": "python",
        "runType": "server",
        "image": "python-demo:latest",
    }
    return Component.model_validate({"metadata": {"name": "nginx", "namespace": "shop"}, "spec": base | spec})


def rendered(c: Component) -> dict[str, dict[str, Any]]:
    from kokpit.api.component import WorkloadType

    name = builtin_name(WorkloadType(c.spec.workload_type), c.spec.language)
    return {o["kind"]: o for o in render(BUILTINS[name], c, cluster_name="member1").objects}


def container(objects: dict[str, dict[str, Any]], kind: str = "Deployment") -> dict[str, Any]:
    return objects[kind]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("spec", "kinds"),
    [
        pytest.param({}, {"Deployment", "Service"}, id="a server: workload and Service"),
        pytest.param({"runType": "worker"}, {"Deployment"}, id="a worker: no Service"),
        pytest.param(
            {"exposure": {"ingress": {"host": "shop.example.com"}}},
            {"Deployment", "Service", "Ingress"},
            id="a host adds an Ingress",
        ),
        pytest.param(
            {"autoscaling": {"maxReplicas": 4}},
            {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"},
            id="autoscaling adds an HPA and a PDB",
        ),
        pytest.param(
            {"replicas": 3}, {"Deployment", "Service", "PodDisruptionBudget"}, id="several replicas add a PDB"
        ),
        pytest.param(
            {"workloadType": "StatefulSet"}, {"StatefulSet", "Service"}, id="a StatefulSet and its Service"
        ),
    ],
)
def test_built_in_templates_render_what_is_asked(spec: dict[str, Any], kinds: set[str]) -> None:
    objects = rendered(component(**spec))
    assert set(objects) == kinds
    for obj in objects.values():
        assert obj["metadata"]["name"] == "nginx"
        assert obj["metadata"]["namespace"] == "shop"
        assert obj["metadata"]["labels"][COMPONENT_LABEL] == "nginx"


@pytest.mark.parametrize(
    ("language", "port", "env", "probe_path"),
    [
        pytest.param("python", 8080, {"PYTHONUNBUFFERED": "1"}, "/healthz", id="python"),
        pytest.param(
            "java",
            8080,
            {"JAVA_TOOL_OPTIONS": "-XX:MaxRAMPercentage=75.0 -XX:+ExitOnOutOfMemoryError"},
            "/actuator/health",
            id="java gets JVM options",
        ),
        pytest.param("go", 8080, {"GOMAXPROCS": "2"}, "/healthz", id="go"),
        pytest.param("node", 3000, {"NODE_ENV": "production"}, "/healthz", id="node listens on 3000"),
    ],
)
def test_language_defaults(language: str, port: int, env: dict[str, str], probe_path: str) -> None:
    objects = rendered(component(language=language))
    c = container(objects)
    assert c["ports"] == [{"name": "http", "containerPort": port}]
    assert {e["name"]: e["value"] for e in c["env"]} == env
    assert c["readinessProbe"]["httpGet"]["path"] == probe_path
    assert objects["Service"]["spec"]["ports"][0]["port"] == port


def test_config_and_spec_override_language_defaults() -> None:
    objects = rendered(
        component(
            language="java",
            exposure={"port": 9000, "service": {"port": 80}},
            config={"env": {"JAVA_TOOL_OPTIONS": "-Xmx1g", "MODE": "a"}, "probes": {"enabled": False}},
        )
    )
    c = container(objects)
    assert c["ports"][0]["containerPort"] == 9000
    assert {e["name"]: e["value"] for e in c["env"]} == {"JAVA_TOOL_OPTIONS": "-Xmx1g", "MODE": "a"}
    assert "readinessProbe" not in c
    assert objects["Service"]["spec"]["ports"][0] == {"name": "http", "port": 80, "targetPort": "http"}


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        pytest.param(
            {"type": "LoadBalancer", "loadBalancerClass": "kokpit.io/l4"},
            {"type": "LoadBalancer", "loadBalancerClass": "kokpit.io/l4"},
            id="the class converted from external-lb is rendered",
        ),
        pytest.param({"type": "NodePort"}, {"type": "NodePort"}, id="NodePort has no class"),
        pytest.param({}, {"type": "ClusterIP"}, id="ClusterIP by default"),
    ],
)
def test_the_service_type_and_class(service: dict[str, Any], expected: dict[str, str]) -> None:
    spec = rendered(component(exposure={"service": service}))["Service"]["spec"]
    assert {k: spec[k] for k in ("type", "loadBalancerClass") if k in spec} == expected


def test_an_image_that_looks_like_yaml_stays_a_string() -> None:
    assert container(rendered(component(image="a: b")))["image"] == "a: b"


def custom(text: str, **spec: Any) -> ComponentTemplate:
    return ComponentTemplate.model_validate(
        {"metadata": {"name": "custom"}, "spec": {"template": text, **spec}}
    )


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ component.name }}-cfg}\n"


@pytest.mark.parametrize(
    ("template", "config", "reason", "message"),
    [
        pytest.param(
            custom(CM, parametersSchema={"type": "object", "properties": {"size": {"type": "integer"}}}),
            {"size": "big"},
            "ConfigInvalid",
            "config.size: 'big' is not of type 'integer'",
            id="config failing the schema",
        ),
        pytest.param(
            custom(CM, parametersSchema={"type": "object", "required": ["size"]}, defaults={}),
            None,
            "ConfigInvalid",
            "'size' is a required property",
            id="a required parameter missing",
        ),
        pytest.param(
            custom(CM, parametersSchema={"type": "nonsense"}),
            None,
            "TemplateInvalid",
            "parametersSchema is not a JSON Schema",
            id="a schema that is not a JSON Schema",
        ),
        pytest.param(
            custom("a: [b\n"), None, "InvalidYAML", "invalid YAML", id="a template rendering invalid YAML"
        ),
        pytest.param(
            custom("- a\n- b\n"), None, "InvalidYAML", "not a mapping", id="a document that is a list"
        ),
        pytest.param(
            custom("apiVersion: v1\nkind: Secret\nmetadata: {name: nginx}\n"),
            None,
            "KindNotAllowed",
            "templates may not create Secret (v1)",
            id="a Secret",
        ),
        pytest.param(
            custom("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: nginx}\n"),
            None,
            "KindNotAllowed",
            "ClusterRole",
            id="a cluster-scoped RBAC kind",
        ),
        pytest.param(
            custom("apiVersion: apps.kokpit.io/v1beta1\nkind: Component\nmetadata: {name: nginx}\n"),
            None,
            "KindNotAllowed",
            "Component",
            id="a kokpit kind",
        ),
        pytest.param(
            custom("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other}\n"),
            None,
            "NameNotAllowed",
            "named 'nginx' or 'nginx'-suffix",
            id="an object named after something else",
        ),
        pytest.param(
            custom("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nginx, namespace: kube-system}\n"),
            None,
            "NameNotAllowed",
            "namespace 'shop', not 'kube-system'",
            id="an object in another namespace",
        ),
        pytest.param(
            custom("{{ component.nmae }}"), None, "TemplateInvalid", "nmae", id="a misspelt variable"
        ),
        pytest.param(custom("{% if %}"), None, "TemplateInvalid", "line 1", id="a syntax error"),
        pytest.param(
            custom("{{ component.__class__.__mro__ }}"),
            None,
            "TemplateInvalid",
            "unsafe",
            id="the sandbox refuses internals",
        ),
        pytest.param(
            custom("{{ config.names.append(1) }}", defaults={"names": []}),
            None,
            "TemplateInvalid",
            "unsafe",
            id="the sandbox refuses mutation",
        ),
    ],
)
def test_bad_templates_and_config_are_refused_with_a_reason(
    template: ComponentTemplate, config: dict[str, Any] | None, reason: str, message: str
) -> None:
    with pytest.raises(RenderError) as caught:
        render(template, component(config=config), cluster_name="member1")
    assert caught.value.reason == reason
    assert message in caught.value.message


def test_templates_see_the_cluster_and_merged_config() -> None:
    template = custom(
        CM
        + "data:\n  cluster: {{ cluster.name }}\n  tier: {{ cluster.labels.tier }}\n"
        + "  a: {{ config.a.x }}{{ config.a.y }}\n",
        defaults={"a": {"x": "1", "y": "2"}},
    )
    objects = render(
        template, component(config={"a": {"y": "3"}}), cluster_name="member2", cluster_labels={"tier": "edge"}
    )
    assert objects.template == "custom"
    assert objects.objects[0]["data"] == {"cluster": "member2", "tier": "edge", "a": 13}


def test_the_config_of_a_built_in_template_is_checked() -> None:
    with pytest.raises(RenderError, match="Additional properties are not allowed"):
        rendered(component(config={"jvmOptions": "-Xmx1g"}))
