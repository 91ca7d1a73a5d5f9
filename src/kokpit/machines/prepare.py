"""From a Machine's wish to what goes on its host: components resolved from the catalogue, in install
order, rendered for the host, their artifacts found and hashed, their digests computed.

The pure parts are `components` (variant, order, parameters), `rendering` and `digest`; this module
strings them together for one host and adds the one piece of I/O they need, the artifacts' local
files (`artifacts.ArtifactCache`). Any way the wish does not fit is a `Problem` with the condition
reason of `components.ComponentError` (or `ArtifactUnavailable`, `InvalidComponent`), never an
exception out of the pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from kokpit.api.machine import MachineSpec, NodeComponent
from kokpit.errors import validation_message
from kokpit.machines.artifacts import ArtifactCache, ArtifactUnavailable
from kokpit.machines.components import ComponentError, install_order, select_variant, validate_parameters
from kokpit.machines.digest import config_digest
from kokpit.machines.facts import HostFacts
from kokpit.machines.rendering import (
    ClusterContext,
    HostContext,
    MachineContext,
    RenderedComponent,
    TemplateContext,
    render,
)
from kokpit.machines.steps import ArtifactToUpload, FileToWrite, Prepared


@dataclass(frozen=True)
class Problem:
    """Why the components cannot be prepared: a ComponentsReady reason and a one-line message."""

    reason: str
    message: str


@dataclass(frozen=True)
class ContextInputs:
    """What the template context is made of, besides each component's version and parameters."""

    machine: str
    spec: MachineSpec
    host: Any
    """The Host object (spec: address, prefix, cgroupRoot, podCIDR)."""
    facts: HostFacts
    node_name: str
    server: str
    ca_data: str
    bootstrap_kubeconfig: str
    binaries: str

    def context(self, version: str, parameters: dict[str, Any]) -> TemplateContext:
        host_spec = self.host.get("spec") or {}
        return TemplateContext(
            version=version,
            parameters=parameters,
            host=HostContext(
                name=str(self.host.metadata.name),
                address=str(host_spec.get("address") or ""),
                prefix=str(host_spec.get("prefix") or "/"),
                cgroup_root=str(host_spec.get("cgroupRoot") or "/"),
                pod_cidr=host_spec.get("podCIDR"),
                os=self.facts.os,
                distribution=self.facts.distribution,
                architecture=self.facts.architecture,
            ),
            machine=MachineContext(
                name=self.machine,
                node_name=self.node_name,
                labels=dict(self.spec.labels or {}),
                taints=[
                    {"key": t.key, "effect": t.effect.value, **({"value": t.value} if t.value else {})}
                    for t in self.spec.taints or []
                ],
            ),
            cluster=ClusterContext(
                server=self.server, ca_data=self.ca_data, bootstrap_kubeconfig=self.bootstrap_kubeconfig
            ),
            binaries=self.binaries,
        )


@dataclass
class Resolved:
    """The Machine's components ready to converge, or the problem that stopped them."""

    order: tuple[str, ...] | None = None
    """Component names in install order (None when the order could not be found)."""
    prepared: list[Prepared] = field(default_factory=list)
    problem: Problem | None = None


def read_catalogue(objects: Iterable[Any]) -> tuple[dict[str, NodeComponent], dict[str, str]]:
    """`read_catalogue` parses the NodeComponents of the hub: the valid ones by name, and the
    one-line problem of each invalid one."""
    catalogue: dict[str, NodeComponent] = {}
    invalid: dict[str, str] = {}
    for obj in objects:
        raw = obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)
        name = str((raw.get("metadata") or {}).get("name") or "")
        try:
            catalogue[name] = NodeComponent.model_validate(raw)
        except ValidationError as error:
            invalid[name] = validation_message(error)
    return catalogue, invalid


async def resolve(
    spec: MachineSpec, *, catalogue_objects: Iterable[Any], inputs: ContextInputs, artifacts: ArtifactCache
) -> Resolved:
    """`resolve` prepares the Machine's components for its host (see the module docstring)."""
    catalogue, invalid = read_catalogue(catalogue_objects)
    wanted = [(c.name, c.version) for c in spec.components or []]
    given = {c.name: c.parameters for c in spec.components or []}
    for name, _ in wanted:
        if name in invalid:
            return Resolved(problem=Problem("InvalidComponent", f"NodeComponent {name}: {invalid[name]}"))
    try:
        order = install_order(wanted, catalogue)
    except ComponentError as error:
        return Resolved(problem=Problem(error.reason, str(error)))
    resolved = Resolved(order=tuple(name for name, _ in order))
    for name, version in order:
        component = catalogue[name]
        try:
            variant = select_variant(component, inputs.facts)
            parameters = validate_parameters(component.spec.parameters, given.get(name), component=name)
            rendered = render(variant, inputs.context(version, parameters), component=name)
            resolved.prepared.append(await _prepared(rendered, artifacts))
        except ComponentError as error:
            resolved.problem = Problem(error.reason, str(error))
            return resolved
        except ArtifactUnavailable as error:
            resolved.problem = Problem("ArtifactUnavailable", f"component {name}: {error}")
            return resolved
    return resolved


async def _prepared(rendered: RenderedComponent, artifacts: ArtifactCache) -> Prepared:
    uploads: list[ArtifactToUpload] = []
    hashes: dict[str, str] = {}
    for artifact in rendered.artifacts:
        local, digest = await artifacts.local(artifact.source, artifact.sha256)
        hashes[artifact.path] = digest
        uploads.append(ArtifactToUpload(artifact.host_path, artifact.mode, local, digest))
    hashed = rendered.with_artifact_hashes(hashes)
    return Prepared(
        name=rendered.name,
        version=rendered.version,
        digest=config_digest(hashed),
        files=tuple(FileToWrite(f.host_path, f.mode, f.content) for f in rendered.files),
        artifacts=tuple(uploads),
        scripts=dict(rendered.scripts),
    )


async def prepare_alone(
    name: str,
    version: str,
    *,
    catalogue_objects: Iterable[Any],
    inputs: ContextInputs,
    artifacts: ArtifactCache,
) -> Prepared | None:
    """`prepare_alone` renders one component at `version` with its default parameters, outside any
    install order (to run the `remove` of a component a Machine no longer lists); None when the
    catalogue cannot render it any more (then only the files its record names are deleted)."""
    catalogue, _ = read_catalogue(catalogue_objects)
    component = catalogue.get(name)
    if component is None or version not in component.spec.versions:
        return None
    try:
        variant = select_variant(component, inputs.facts)
        parameters = validate_parameters(component.spec.parameters, None, component=name)
        rendered = render(variant, inputs.context(version, parameters), component=name)
        return await _prepared(rendered, artifacts)
    except (ComponentError, ArtifactUnavailable):
        return None
