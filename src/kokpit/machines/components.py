"""Which NodeComponents a Machine gets, in what order, with what parameters, for which host (pure).

The catalogue is data: a new OS, architecture or package is a new `NodeComponent`, never code. So
every way a Machine's wish can fail to match the catalogue is an error here with a one-line message
and a condition reason (`ComponentError.reason`) the controller writes as it is:

- `select_variant` picks the variant for the host's os/distribution/architecture (`NoMatchingVariant`);
- `install_order` puts the wanted components in `dependsOn` order (`UnknownComponent`,
  `UnknownComponentVersion`, `MissingDependency`, `DependencyCycle`);
- `validate_parameters` checks parameters against the component's JSON Schema and fills its
  defaults (`InvalidParameters`, `InvalidParameterSchema`).

Rendering the chosen variant is `kokpit.machines.rendering`; its digest `kokpit.machines.digest`.
"""

from __future__ import annotations

import copy
import heapq
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import jsonschema
import jsonschema.exceptions

from kokpit.api.machine import NodeComponent, Variant
from kokpit.errors import KokpitError
from kokpit.machines.facts import HostFacts


class ComponentError(KokpitError):
    """A Machine's components do not match the catalogue; `reason` is the condition reason to report."""

    reason: ClassVar[str] = "ComponentError"


class NoMatchingVariant(ComponentError):
    """No variant of a component is for the host's OS, distribution and architecture."""

    reason = "NoMatchingVariant"


class UnknownComponent(ComponentError):
    """A Machine names a component the catalogue does not have."""

    reason = "UnknownComponent"


class UnknownComponentVersion(ComponentError):
    """A Machine asks for a version the component does not offer."""

    reason = "UnknownComponentVersion"


class MissingDependency(ComponentError):
    """A component depends on one the Machine does not list."""

    reason = "MissingDependency"


class DependencyCycle(ComponentError):
    """Components depend on each other in a cycle."""

    reason = "DependencyCycle"


class DuplicateComponent(ComponentError):
    """A Machine lists the same component twice."""

    reason = "DuplicateComponent"


class InvalidParameters(ComponentError):
    """Parameters the component's schema refuses."""

    reason = "InvalidParameters"


class InvalidParameterSchema(ComponentError):
    """A component's `parameters` is not a valid JSON Schema (Draft 2020-12) of an object."""

    reason = "InvalidParameterSchema"


def _name(component: NodeComponent) -> str:
    return component.metadata.name or "(unnamed)"


def _platform(variant: Variant) -> str:
    distributions = ",".join(variant.distributions) if variant.distributions else "any"
    return f"{variant.os}/{distributions}/{','.join(variant.architectures)}"


def select_variant(component: NodeComponent, facts: HostFacts) -> Variant:
    """`select_variant` is the variant of `component` for a host with `facts`.

    A variant matches when its os and one of its architectures equal the host's, and it names the
    host's distribution or names none. One naming the distribution wins over one for any
    distribution; among equals the first listed wins. Raises `NoMatchingVariant`."""
    generic: Variant | None = None
    for variant in component.spec.variants:
        if variant.os != facts.os or facts.architecture not in variant.architectures:
            continue
        if variant.distributions and facts.distribution in variant.distributions:
            return variant
        if not variant.distributions and generic is None:
            generic = variant
    if generic is not None:
        return generic
    offered = "; ".join(_platform(v) for v in component.spec.variants)
    raise NoMatchingVariant(
        f"component {_name(component)} has no variant for host {facts.os}/"
        f"{facts.distribution or 'unknown'}/{facts.architecture} (variants: {offered})"
    )


def install_order(
    wanted: Sequence[tuple[str, str]], catalogue: Mapping[str, NodeComponent]
) -> list[tuple[str, str]]:
    """`install_order` returns `wanted` (component name, version) sorted so that every component
    comes after those it depends on, otherwise in the order listed (a list already in install order
    stays as it is).

    `catalogue` maps names to NodeComponents. Raises `DuplicateComponent`, `UnknownComponent`,
    `UnknownComponentVersion`, `MissingDependency` (a dependency the Machine does not list) or
    `DependencyCycle`, each naming the components involved."""
    versions: dict[str, str] = {}
    for name, version in wanted:
        if name in versions:
            raise DuplicateComponent(f"component {name} is listed twice")
        versions[name] = version
    for name, version in wanted:
        component = catalogue.get(name)
        if component is None:
            known = ", ".join(sorted(catalogue)) or "none"
            raise UnknownComponent(f"component {name} is not in the catalogue (NodeComponents: {known})")
        if version not in component.spec.versions:
            raise UnknownComponentVersion(
                f"component {name} has no version {version} (offered: {', '.join(component.spec.versions)})"
            )
    needs: dict[str, list[str]] = {}
    for name in versions:
        deps = list(dict.fromkeys(catalogue[name].spec.depends_on or []))
        for dep in deps:
            if dep not in versions:
                raise MissingDependency(f"component {name} depends on {dep}, which the machine does not list")
        needs[name] = deps
    return [(name, versions[name]) for name in _topological(needs)]


def _topological(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's algorithm with a heap on the listed position, so equal candidates keep the listed order."""
    position = {name: index for index, name in enumerate(needs)}
    waiting = {name: len(set(deps)) for name, deps in needs.items()}
    dependents: dict[str, list[str]] = {name: [] for name in needs}
    for name, deps in needs.items():
        for dep in set(deps):
            dependents[dep].append(name)
    ready = [position[name] for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    names = list(needs)
    order: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        order.append(name)
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, position[dependent])
    if len(order) < len(needs):
        cycle = _a_cycle({n: d for n, d in needs.items() if n not in order})
        raise DependencyCycle(f"components depend on each other in a cycle: {' -> '.join(cycle)}")
    return order


def _a_cycle(needs: Mapping[str, Sequence[str]]) -> list[str]:
    """One cycle among `needs` (every node of which is on or behind a cycle), starting at the least name."""
    start = min(needs)
    path = [start]
    seen = {start: 0}
    current = start
    while True:
        current = min(dep for dep in needs[current] if dep in needs)
        if current in seen:
            return [*path[seen[current] :], current]
        seen[current] = len(path)
        path.append(current)


def validate_parameters(
    schema: Mapping[str, Any] | None, given: Mapping[str, Any] | None, *, component: str
) -> dict[str, Any]:
    """`validate_parameters` returns `given` with the schema's defaults filled in, after checking the
    result against `schema` (JSON Schema Draft 2020-12).

    Defaults come from `properties.<name>.default`, recursively into objects that are given or
    defaulted. A component without a schema takes no parameters. Raises `InvalidParameters` (one
    line naming the parameter) or `InvalidParameterSchema`."""
    given = dict(given or {})
    if schema is None:
        if given:
            raise InvalidParameters(
                f"component {component} takes no parameters (given: {', '.join(sorted(given))})"
            )
        return {}
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.exceptions.SchemaError as error:
        raise InvalidParameterSchema(
            f"component {component}: its parameters are not a valid JSON Schema: {_one_line(error.message)}"
        ) from None
    if schema.get("type", "object") != "object":
        raise InvalidParameterSchema(f"component {component}: its parameters schema must be of type object")
    merged = _with_defaults(schema, given)
    validator = jsonschema.Draft202012Validator(schema)
    problem = jsonschema.exceptions.best_match(validator.iter_errors(merged))
    if problem is not None:
        where = ".".join(str(part) for part in problem.absolute_path)
        where = f"parameter {where}" if where else "parameters"
        raise InvalidParameters(f"component {component}: {where}: {_one_line(problem.message)}")
    return merged


def _with_defaults(schema: Mapping[str, Any], value: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return value
    out = dict(value)
    for name, prop in properties.items():
        if not isinstance(prop, Mapping):
            continue
        if name not in out and "default" in prop:
            out[name] = copy.deepcopy(prop["default"])
        if isinstance(out.get(name), dict):
            out[name] = _with_defaults(prop, out[name])
    return out


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
