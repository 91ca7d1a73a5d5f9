"""`kokpit agent manifests NAME`: what runs the agent of NAME as a Deployment inside its member.

Pure: the agent's hub kubeconfig in, YAML out. The objects, in the order `kubectl apply` needs them:

- Namespace `kokpit-agent` (or `--namespace`);
- Secret `kokpit-agent-hub`: the agent's `hub.kubeconfig` from `kokpit register`. The agent writes
  every renewed certificate back into it (`--credentials-secret`), so a restarted pod starts with a
  valid one;
- ServiceAccount, ClusterRole and ClusterRoleBinding `kokpit-agent`: every verb on every resource of
  the member. That is what the agent is for: a Work may hold any kind, and the hub's proxy through
  the agent's tunnel impersonates the caller, which the member's RBAC then judges;
- Deployment `kokpit-agent`: one replica, `Recreate` (the Lease would keep a second one idle anyway),
  running `kokpit agent` with the member's in-cluster credentials. The Secret is copied into a
  writable volume first, since renewals rewrite the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEFAULT_IMAGE = "kokpit.local/kokpit:0.1.0"
"""The image `kokpit agent manifests` names unless told otherwise (`--image`)."""

NAME = "kokpit-agent"
SECRET = "kokpit-agent-hub"
KUBECONFIG_KEY = "hub.kubeconfig"
STATE_DIR = "/var/lib/kokpit"


def default_hub_kubeconfig(cluster: str) -> Path:
    """Where `kokpit register` writes the agent's hub kubeconfig by default."""
    return Path.home() / ".kokpit" / "agent" / cluster / "hub.kubeconfig"


def agent_objects(cluster: str, hub_kubeconfig: str, *, image: str, namespace: str) -> list[dict[str, Any]]:
    """The member objects that run the agent of `cluster` (see the module docstring)."""
    labels = {"app.kubernetes.io/name": NAME, "kokpit.io/cluster": cluster}
    metadata = {"name": NAME, "namespace": namespace, "labels": labels}
    state = f"{STATE_DIR}/{KUBECONFIG_KEY}"
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {**metadata, "name": SECRET},
            "type": "Opaque",
            "stringData": {KUBECONFIG_KEY: hub_kubeconfig},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": metadata},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": NAME, "labels": labels},
            "rules": [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["get"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": NAME, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": NAME,
                        "initContainers": [
                            {
                                "name": "credentials",
                                "image": image,
                                "command": [
                                    "sh",
                                    "-c",
                                    f"cp /hub/{KUBECONFIG_KEY} {state} && chmod 600 {state}",
                                ],
                                "volumeMounts": [
                                    {"name": "hub", "mountPath": "/hub", "readOnly": True},
                                    {"name": "state", "mountPath": STATE_DIR},
                                ],
                            }
                        ],
                        "containers": [
                            {
                                "name": "agent",
                                "image": image,
                                "args": [
                                    "agent",
                                    f"--hub-kubeconfig={state}",
                                    f"--cluster={cluster}",
                                    f"--credentials-secret={namespace}/{SECRET}",
                                    "--log-format=json",
                                ],
                                "env": [
                                    {
                                        "name": "POD_NAME",
                                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
                                    }
                                ],
                                "volumeMounts": [{"name": "state", "mountPath": STATE_DIR}],
                                "resources": {"requests": {"cpu": "50m", "memory": "96Mi"}},
                            }
                        ],
                        "volumes": [
                            {"name": "hub", "secret": {"secretName": SECRET, "defaultMode": 0o400}},
                            {"name": "state", "emptyDir": {}},
                        ],
                    },
                },
            },
        },
    ]


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the kubeconfig) as literal blocks, readable as they will be mounted."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def agent_manifests(
    cluster: str, hub_kubeconfig: str, *, image: str = DEFAULT_IMAGE, namespace: str = NAME
) -> str:
    """`agent_manifests` is `agent_objects` as one multi-document YAML stream."""
    objects = agent_objects(cluster, hub_kubeconfig, image=image, namespace=namespace)
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False)


__all__ = ["DEFAULT_IMAGE", "agent_manifests", "agent_objects", "default_hub_kubeconfig"]
