"""Rendering a NodeComponent's variant for one host: every script, file and artifact, sandboxed (pure).

NodeComponents are written by whoever may edit the catalogue in the hub and rendered inside the
operator, which holds SSH keys to every host: templates run in Jinja2's immutable sandbox (no dunder
attributes, no mutation of the context), and a variable that does not exist is an error, never an
empty string that would turn `rm -rf {{ host.prefx }}/x` into `rm -rf /x`.

Paths in a component are written as on a whole machine (`/etc/kubernetes/kubelet.yaml`) and placed
below the Host's prefix (`host_path`), so kokpit writes nothing outside it; scripts reach the same
places through `{{ host.prefix.rstrip("/") }}`. A rendered path must still be absolute without `..`.
(hosted/addons has the same sandbox for addon templates; it is not imported because hosted clusters
build on machines, and domains must not import each other both ways.)
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
import jinja2.exceptions

from kokpit.api.machine import STEPS, Variant, absolute_path_problem
from kokpit.controlplane.templates import SANDBOXED_TEMPLATES
from kokpit.machines.components import ComponentError
from kokpit.machines.host_state import under_prefix

SOURCE_SCHEMES = ("file://", "https://")


class TemplateError(ComponentError):
    """A template of a component could not be rendered (syntax, an undefined variable, the sandbox
    refusing an operation, or a rendered path or source that is not allowed)."""

    reason = "TemplateError"


@dataclass(frozen=True)
class HostContext:
    """What templates read of the Host, as `host.<name>`."""

    name: str
    address: str
    prefix: str
    """As in the Host's spec (`/` for a whole machine); scripts use `host.prefix.rstrip("/")`."""
    cgroup_root: str
    pod_cidr: str | None
    os: str
    distribution: str
    architecture: str

    def variables(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "address": self.address,
            "prefix": self.prefix,
            "cgroupRoot": self.cgroup_root,
            "podCIDR": self.pod_cidr,
            "os": self.os,
            "distribution": self.distribution,
            "architecture": self.architecture,
        }


@dataclass(frozen=True)
class MachineContext:
    """What templates read of the Machine, as `machine.<name>`."""

    name: str
    node_name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping[str, str]] = ()
    """Node taints as core/v1 Taint objects: `{key, value?, effect}`."""

    def variables(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "nodeName": self.node_name,
            "labels": dict(self.labels),
            "taints": [dict(taint) for taint in self.taints],
        }


@dataclass(frozen=True)
class ClusterContext:
    """What templates read of the target cluster, as `cluster.<name>`."""

    server: str
    """The API server's URL as the node reaches it."""
    ca_data: str
    """The cluster CA certificate, base64 of the PEM (as in a kubeconfig's certificate-authority-data)."""
    bootstrap_kubeconfig: str
    """The bootstrap kubeconfig's path on the host (already below the prefix)."""

    def variables(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "caData": self.ca_data,
            "bootstrapKubeconfig": self.bootstrap_kubeconfig,
        }


@dataclass(frozen=True)
class TemplateContext:
    """Everything a component's templates may read: `version`, `parameters` (defaults merged, see
    `components.validate_parameters`), `host`, `machine`, `cluster`, and `binaries` (kokpit's binary
    cache directory on the operator's machine, for `file://` sources). The controller fills one per
    component of a Machine."""

    version: str
    parameters: Mapping[str, Any]
    host: HostContext
    machine: MachineContext
    cluster: ClusterContext
    binaries: str

    def variables(self) -> dict[str, Any]:
        """`variables` is the context as templates see it (camelCase names, plain dicts and lists)."""
        return {
            "version": self.version,
            "parameters": dict(self.parameters),
            "host": self.host.variables(),
            "machine": self.machine.variables(),
            "cluster": self.cluster.variables(),
            "binaries": self.binaries,
        }


@dataclass(frozen=True)
class RenderedFile:
    """A file to write, rendered."""

    path: str
    """As the component declares it (rendered): the path on a whole machine."""
    host_path: str
    """Where it goes on this host: `path` below the Host's prefix."""
    mode: int
    content: str


@dataclass(frozen=True)
class RenderedArtifact:
    """An artifact to fetch, its source and path rendered."""

    source: str
    path: str
    """As the component declares it (rendered)."""
    host_path: str
    """Where it goes on this host: `path` below the Host's prefix."""
    mode: int
    sha256: str | None
    """As declared; the controller fills it for `file://` sources (`with_artifact_hashes`)."""


@dataclass(frozen=True)
class RenderedComponent:
    """One component's variant rendered for one host."""

    name: str
    version: str
    files: tuple[RenderedFile, ...] = ()
    artifacts: tuple[RenderedArtifact, ...] = ()
    scripts: Mapping[str, str] = field(default_factory=dict)
    """Step (install, configure, check, repair, remove) to its rendered script; steps the variant
    does not have are absent."""

    def with_artifact_hashes(self, hashes: Mapping[str, str]) -> RenderedComponent:
        """`with_artifact_hashes` returns a copy whose artifacts carry the sha256 in `hashes` (keyed by
        `path`) where they declared none; the digest needs every artifact's sha256."""
        artifacts = tuple(
            a if a.sha256 or a.path not in hashes else _replace_sha(a, hashes[a.path]) for a in self.artifacts
        )
        return RenderedComponent(self.name, self.version, self.files, artifacts, self.scripts)


def _replace_sha(artifact: RenderedArtifact, sha256: str) -> RenderedArtifact:
    return RenderedArtifact(artifact.source, artifact.path, artifact.host_path, artifact.mode, sha256)


def render_text(text: str, variables: Mapping[str, Any], *, component: str, where: str) -> str:
    """`render_text` renders one template in the sandbox; raises `TemplateError` as one line naming
    `component`, `where` (the step or file) and the problem."""
    try:
        return SANDBOXED_TEMPLATES.from_string(text).render(variables)
    except jinja2.exceptions.SecurityError as error:
        problem = f"refused by the template sandbox: {error}"
    except jinja2.exceptions.TemplateSyntaxError as error:
        problem = f"syntax error on line {error.lineno}: {error.message}"
    except jinja2.exceptions.UndefinedError as error:
        problem = f"undefined: {error.message}"
    except jinja2.exceptions.TemplateError as error:
        problem = f"{type(error).__name__}: {error}"
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as error:
        problem = f"{type(error).__name__}: {error}"
    raise TemplateError(f"component {component}: {where}: {' '.join(problem.split())}")


def _path(text: str, variables: Mapping[str, Any], *, component: str, where: str) -> str:
    path = render_text(text, variables, component=component, where=where)
    problem = absolute_path_problem(path)
    if problem is None and ("\n" in path or "\x00" in path):
        problem = f"{path!r} contains a newline or NUL"
    if problem is not None:
        raise TemplateError(f"component {component}: {where}: rendered path {problem}")
    return posixpath.normpath(path)


def render(variant: Variant, context: TemplateContext, *, component: str) -> RenderedComponent:
    """`render` renders every script, file content, file path, artifact source and artifact path of
    `variant` with `context`.

    Raises `TemplateError` naming `component` and the step or file: bad Jinja2, an undefined
    variable, an operation the sandbox refuses, a rendered path that is not absolute or has `..`, an
    artifact source that is not `file://` or `https://`, or two files or artifacts on one path."""
    variables = context.variables()
    prefix = context.host.prefix
    taken: set[str] = set()

    def claim(path: str, where: str) -> None:
        if path in taken:
            raise TemplateError(f"component {component}: {where}: another file or artifact is also {path}")
        taken.add(path)

    files: list[RenderedFile] = []
    for declared in variant.files or []:
        where = f"file {declared.path}"
        path = _path(declared.path, variables, component=component, where=f"{where} (path)")
        claim(path, where)
        content = render_text(declared.content, variables, component=component, where=where)
        files.append(RenderedFile(path, under_prefix(prefix, path), int(declared.mode, 8), content))
    artifacts: list[RenderedArtifact] = []
    for declared_artifact in variant.artifacts or []:
        where = f"artifact {declared_artifact.path}"
        path = _path(declared_artifact.path, variables, component=component, where=f"{where} (path)")
        claim(path, where)
        source = render_text(
            declared_artifact.source, variables, component=component, where=f"{where} (source)"
        )
        if not source.startswith(SOURCE_SCHEMES) or any(c.isspace() for c in source):
            raise TemplateError(
                f"component {component}: {where} (source): rendered source {source!r} must be a "
                "file:// or https:// URL without spaces"
            )
        artifacts.append(
            RenderedArtifact(
                source,
                path,
                under_prefix(prefix, path),
                int(declared_artifact.mode, 8),
                declared_artifact.sha256,
            )
        )
    scripts: dict[str, str] = {}
    for step in STEPS:
        text = getattr(variant, step)
        if text is not None:
            scripts[step] = render_text(text, variables, component=component, where=f"step {step}")
    return RenderedComponent(
        name=component,
        version=context.version,
        files=tuple(files),
        artifacts=tuple(artifacts),
        scripts=scripts,
    )
