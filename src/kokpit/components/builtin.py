"""The templates kokpit ships: Deployment and StatefulSet for python, java, go and node.

Each built-in is an ordinary `ComponentTemplate` (named `kokpit-<workload>-<language>`) for run types
`server` and `worker`, with the same manifest text and per-language `defaults`: the port a framework
of that language usually listens on, probes, and environment (JVM options for java). A cluster's
placement `env` is added after `config.env` and replaces a variable of the same name. They rank below
any hub template of the same specificity (`kokpit.components.selection`), so a platform team
replaces one by writing a template that selects at least as narrowly.

What they render, named after the Component: the workload; for `server`, a Service (its type and
`loadBalancerClass` from `exposure.service`), an Ingress when `exposure.ingress` is given; an HPA when
`autoscaling` is given; a PodDisruptionBudget (`maxUnavailable: 1`) when more than one replica may run.
"""

from __future__ import annotations

from typing import Any

from kokpit.api.component import (
    ComponentTemplate,
    ComponentTemplateSpec,
    TemplateSelector,
    WorkloadType,
)
from kokpit.api.meta import ObjectMeta

BUILTIN_PREFIX = "kokpit-"
RUN_TYPES = ("server", "worker")

PARAMETERS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "probes": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "enabled": {"type": "boolean"},
                "path": {"type": "string", "pattern": "^/"},
                "initialDelaySeconds": {"type": "integer", "minimum": 0},
                "periodSeconds": {"type": "integer", "minimum": 1},
            },
        },
        "resources": {"type": "object"},
        "args": {"type": "array", "items": {"type": "string"}},
    },
}
"""What `spec.config` may carry for a built-in template."""

LANGUAGE_DEFAULTS: dict[str, dict[str, Any]] = {
    "python": {
        "port": 8080,
        "env": {"PYTHONUNBUFFERED": "1"},
        "probes": {"enabled": True, "path": "/healthz", "initialDelaySeconds": 5, "periodSeconds": 10},
    },
    "java": {
        "port": 8080,
        "env": {"JAVA_TOOL_OPTIONS": "-XX:MaxRAMPercentage=75.0 -XX:+ExitOnOutOfMemoryError"},
        "probes": {
            "enabled": True,
            "path": "/actuator/health",
            "initialDelaySeconds": 30,
            "periodSeconds": 10,
        },
    },
    "go": {
        "port": 8080,
        "env": {"GOMAXPROCS": "2"},
        "probes": {"enabled": True, "path": "/healthz", "initialDelaySeconds": 2, "periodSeconds": 10},
    },
    "node": {
        "port": 3000,
        "env": {"NODE_ENV": "production"},
        "probes": {"enabled": True, "path": "/healthz", "initialDelaySeconds": 5, "periodSeconds": 10},
    },
}
"""Per language: the defaults under a Component's `config`."""

TEMPLATE = """\
{%- set c = component -%}
{%- set port = c.port or config.port -%}
{%- set server = c.runType == "server" -%}
{%- set placed_env = c.env | map(attribute="name") | list -%}
{%- set inherited_env = (config.env | default({})) | dictsort | rejectattr("0", "in", placed_env) | list -%}
{%- set labels = {"app.kubernetes.io/name": c.name, "app.kubernetes.io/managed-by": "kokpit"} -%}
apiVersion: apps/v1
kind: {{ c.workloadType }}
metadata:
  name: {{ c.name }}
  labels:
    {{ labels | toyaml | indent(4) }}
spec:
  replicas: {{ c.replicas }}
{%- if c.workloadType == "StatefulSet" %}
  serviceName: {{ c.name }}
{%- endif %}
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ c.name }}
  template:
    metadata:
      labels:
        {{ labels | toyaml | indent(8) }}
    spec:
      containers:
      - name: {{ c.name }}
        image: {{ c.image | quote }}
{%- if config.args is defined %}
        args: {{ config.args | tojson }}
{%- endif %}
{%- if server %}
        ports:
        - {name: http, containerPort: {{ port }}}
{%- endif %}
        env:
{%- for name, value in inherited_env %}
        - {name: {{ name | quote }}, value: {{ value | quote }}}
{%- endfor %}
{%- for variable in c.env %}
        - {name: {{ variable.name | quote }}, value: {{ variable.value | quote }}}
{%- endfor %}
{%- if not inherited_env and not c.env %} []{% endif %}
{%- if config.resources is defined %}
        resources:
          {{ config.resources | toyaml | indent(10) }}
{%- endif %}
{%- if server and config.probes is defined and config.probes.enabled %}
        readinessProbe:
          httpGet: {path: {{ config.probes.path | quote }}, port: http}
          initialDelaySeconds: {{ config.probes.initialDelaySeconds }}
          periodSeconds: {{ config.probes.periodSeconds }}
        livenessProbe:
          httpGet: {path: {{ config.probes.path | quote }}, port: http}
          initialDelaySeconds: {{ config.probes.initialDelaySeconds }}
          periodSeconds: {{ config.probes.periodSeconds }}
{%- endif %}
{%- if server %}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ c.name }}
  labels:
    {{ labels | toyaml | indent(4) }}
spec:
  type: {{ c.service.type }}
{%- if c.service.type == "LoadBalancer" and c.service.loadBalancerClass %}
  loadBalancerClass: {{ c.service.loadBalancerClass | quote }}
{%- endif %}
  selector:
    app.kubernetes.io/name: {{ c.name }}
  ports:
  - {name: http, port: {{ c.service.port or port }}, targetPort: http}
{%- endif %}
{%- if server and c.ingress %}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ c.name }}
  labels:
    {{ labels | toyaml | indent(4) }}
spec:
{%- if c.ingress.className %}
  ingressClassName: {{ c.ingress.className | quote }}
{%- endif %}
  rules:
  - host: {{ c.ingress.host | quote }}
    http:
      paths:
      - path: {{ c.ingress.path | quote }}
        pathType: Prefix
        backend:
          service: {name: {{ c.name }}, port: {name: http}}
{%- endif %}
{%- if c.autoscaling %}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ c.name }}
  labels:
    {{ labels | toyaml | indent(4) }}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: {{ c.workloadType }}, name: {{ c.name }}}
  minReplicas: {{ c.autoscaling.minReplicas }}
  maxReplicas: {{ c.autoscaling.maxReplicas }}
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: {{ c.autoscaling.targetCpuUtilizationPercentage }}}
{%- endif %}
{%- if c.replicas > 1 or (c.autoscaling and c.autoscaling.maxReplicas > 1) %}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ c.name }}
  labels:
    {{ labels | toyaml | indent(4) }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ c.name }}
{%- endif %}
"""
"""The manifest text shared by every built-in template."""


def builtin_name(workload_type: WorkloadType, language: str) -> str:
    """`builtin_name` is `kokpit-<workload>-<language>`, e.g. `kokpit-deployment-java`."""
    return f"{BUILTIN_PREFIX}{workload_type.value.lower()}-{language}"


def builtin_templates() -> list[ComponentTemplate]:
    """`builtin_templates` returns the built-in templates, one per workload type and language."""
    return [
        ComponentTemplate(
            metadata=ObjectMeta(
                name=builtin_name(workload_type, language),
                labels={"app.kubernetes.io/managed-by": "kokpit"},
            ),
            spec=ComponentTemplateSpec(
                selector=TemplateSelector(
                    workload_types=[workload_type], languages=[language], run_types=list(RUN_TYPES)
                ),
                parameters_schema=PARAMETERS_SCHEMA,
                defaults=defaults,
                template=TEMPLATE,
            ),
        )
        for workload_type in WorkloadType
        for language, defaults in LANGUAGE_DEFAULTS.items()
    ]
