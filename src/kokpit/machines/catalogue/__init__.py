"""The built-in NodeComponents: what makes a real Kubernetes node, as data.

One YAML file per component (containerd, runc, cni-plugins, kubelet, kube-proxy), each a complete
`NodeComponent` manifest a cluster admin can read, copy and change: the scripts and configuration
files are the ones an admin would write by hand, and the comments in them state what this kind of
machine needs and why. They ship inside the package (the wheel includes the YAML files), so the
operator can install them into a hub without a checkout.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

DEFAULT_COMPONENTS: tuple[str, ...] = ("cni-plugins", "runc", "containerd", "kubelet", "kube-proxy")
"""The components of a default node, in install order (each after what it depends on, ties by name
as `components.install_order` breaks them)."""


def catalogue_files() -> list[str]:
    """`catalogue_files` lists the YAML files of the catalogue, by name."""
    root = resources.files(__name__)
    return sorted(entry.name for entry in root.iterdir() if entry.name.endswith(".yaml"))


def builtin_components() -> list[dict[str, Any]]:
    """`builtin_components` returns every built-in NodeComponent manifest (apiVersion, kind,
    metadata, spec), sorted by name; the caller validates them against the API model."""
    root = resources.files(__name__)
    manifests = [
        yaml.safe_load(root.joinpath(name).read_text(encoding="utf-8")) for name in catalogue_files()
    ]
    return sorted(manifests, key=lambda manifest: str(manifest["metadata"]["name"]))


__all__ = ["DEFAULT_COMPONENTS", "builtin_components", "catalogue_files"]
