"""Evaluating resource interpreters: replicas, health and aggregated status of a custom kind, from CEL.

A `kokpit.api.interpreter.ResourceInterpreter` is compiled once by `compile_interpreter` into an
`Interpreter`, whose methods are pure functions over manifests: `replicas` reads the count,
`with_replicas` writes a cluster's share, `healthy` judges a member's copy, `aggregate_status` computes
the template's status fields from the members' copies, `dependencies` lists what an object needs on its
clusters, `without_retained` drops the fields members own.
A compile error is an `InterpreterError` naming the customization; an expression that fails on an
object (a missing field, a wrong type) is an `InterpreterError` too, so a caller reports it instead of
guessing. `Interpreters` holds the compiled interpreters of the hub by target kind.

CEL is provided by `common-expression-language` (the Rust `cel` crate); besides CEL's standard
functions, `sum(list)` adds up a list of numbers, for status aggregation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cel

from kokpit.api.interpreter import ResourceInterpreter
from kokpit.errors import KokpitError


class InterpreterError(KokpitError, ValueError):
    """An interpreter expression that does not compile, or fails on an object; the message names it."""


def _sum(values: Any) -> Any:
    if not isinstance(values, list):
        raise TypeError("sum takes a list of numbers")
    total: int | float = 0
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"sum takes a list of numbers, got {value!r}")
        total += value
    return total


def _compile(where: str, expression: str) -> cel.Program:
    try:
        return cel.compile(expression)
    except Exception as error:  # the binding raises ValueError, but any failure means "refused"
        raise InterpreterError(f"{where}: {error}") from error


def _run(where: str, program: cel.Program, variables: Mapping[str, Any]) -> Any:
    context = cel.Context()
    context.add_function("sum", _sum)
    for name, value in variables.items():
        context.add_variable(name, value)
    try:
        return program.execute(context)
    except Exception as error:  # KeyError for a missing field, RuntimeError, TypeError from sum
        raise InterpreterError(f"{where}: {type(error).__name__}: {error}") from error


def _path(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def _set(manifest: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = manifest
    for step in path[:-1]:
        child = node.get(step)
        node[step] = child = dict(child) if isinstance(child, Mapping) else {}
        node = child
    node[path[-1]] = value


def _drop(manifest: dict[str, Any], path: Sequence[str]) -> None:
    node: Any = manifest
    for step in path[:-1]:
        node = node.get(step) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)


@dataclass(frozen=True)
class Interpreter:
    """The compiled customizations of one kind; `compile_interpreter` builds it."""

    api_version: str
    kind: str
    name: str = ""
    """The ResourceInterpreter's name, for messages."""
    replica_program: cel.Program | None = field(default=None, compare=False)
    replica_path: tuple[str, ...] | None = None
    health_program: cel.Program | None = field(default=None, compare=False)
    status_fields: tuple[tuple[tuple[str, ...], cel.Program], ...] = field(default=(), compare=False)
    retained: tuple[tuple[str, ...], ...] = ()
    dependency_program: cel.Program | None = field(default=None, compare=False)

    @property
    def has_dependencies(self) -> bool:
        """`has_dependencies` tells whether the kind declares dependencies (`dependencyInterpretation`)."""
        return self.dependency_program is not None

    @property
    def has_replicas(self) -> bool:
        """`has_replicas` tells whether the kind's replicas are divided among clusters."""
        return self.replica_program is not None and self.replica_path is not None

    def replicas(self, manifest: Mapping[str, Any]) -> int | None:
        """`replicas` is the replica count of `manifest` by `replicaResource`, or None when the
        interpreter has none. Raises `InterpreterError` when the expression fails or is not a
        non-negative integer."""
        if self.replica_program is None:
            return None
        value = _run(f"{self.name} replicaResource", self.replica_program, {"object": dict(manifest)})
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InterpreterError(f"{self.name} replicaResource: {value!r} is not a non-negative integer")
        return value

    def with_replicas(self, manifest: Mapping[str, Any], replicas: int) -> dict[str, Any]:
        """`with_replicas` returns a copy of `manifest` with `replicas` written at `replicaRevision`'s
        path (intermediate objects created); unchanged without one. The input is never modified."""
        out = copy.deepcopy(dict(manifest))
        if self.replica_path is not None:
            _set(out, self.replica_path, replicas)
        return out

    def healthy(self, manifest: Mapping[str, Any]) -> bool | None:
        """`healthy` judges a member's copy by `healthInterpretation`; None when the interpreter has
        none. Raises `InterpreterError` when the expression fails or is not a boolean."""
        if self.health_program is None:
            return None
        value = _run(f"{self.name} healthInterpretation", self.health_program, {"object": dict(manifest)})
        if not isinstance(value, bool):
            raise InterpreterError(f"{self.name} healthInterpretation: {value!r} is not a boolean")
        return value

    def aggregate_status(self, members: Mapping[str, Mapping[str, Any] | None]) -> dict[str, Any]:
        """`aggregate_status` computes the template's `status` fields from the members' copies
        (cluster name -> copy, or None while not yet observed), by cluster name order; `items` holds
        `{clusterName, status}` per observed copy. Returns the `status` object to merge (empty
        without `statusAggregation`)."""
        items = [
            {"clusterName": name, "status": dict(copy_.get("status") or {})}
            for name, copy_ in sorted(members.items())
            if copy_ is not None
        ]
        status: dict[str, Any] = {}
        for path, program in self.status_fields:
            value = _run(f"{self.name} statusAggregation {'.'.join(path)}", program, {"items": items})
            _set(status, path[1:], value)
        return status

    def dependencies(self, manifest: Mapping[str, Any]) -> list[tuple[str, str, str | None, str]]:
        """`dependencies` is what `manifest` needs on its clusters by `dependencyInterpretation`, as
        sorted, distinct `(apiVersion, kind, namespace, name)`: the namespace defaults to the object's.
        Empty without the customization. Raises `InterpreterError` when the expression fails, is not a
        list of objects with string `apiVersion`, `kind` and `name`, or names another namespace (a
        dependency goes with its workload, and a workload only reads its own namespace)."""
        if self.dependency_program is None:
            return []
        where = f"{self.name} dependencyInterpretation"
        value = _run(where, self.dependency_program, {"object": dict(manifest)})
        if not isinstance(value, list):
            raise InterpreterError(f"{where}: {value!r} is not a list")
        own = (manifest.get("metadata") or {}).get("namespace") or None
        found: set[tuple[str, str, str | None, str]] = set()
        for item in value:
            if not isinstance(item, Mapping):
                raise InterpreterError(f"{where}: {item!r} is not an object")
            strings = {k: item.get(k) for k in ("apiVersion", "kind", "name")}
            missing = sorted(k for k, v in strings.items() if not isinstance(v, str) or not v)
            if missing:
                raise InterpreterError(f"{where}: {item!r} lacks {', '.join(missing)}")
            namespace = item.get("namespace") or own
            if namespace != own:
                raise InterpreterError(
                    f"{where}: {item!r} is in namespace {namespace!r}, not the object's ({own!r})"
                )
            found.add((str(strings["apiVersion"]), str(strings["kind"]), namespace, str(strings["name"])))
        return sorted(found, key=lambda d: (d[0], d[1], d[2] or "", d[3]))

    def without_retained(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """`without_retained` returns a copy of `manifest` without the `retention` paths, so a member's
        values of them are not overwritten."""
        out = copy.deepcopy(dict(manifest))
        for path in self.retained:
            _drop(out, path)
        return out


def compile_interpreter(interpreter: ResourceInterpreter) -> Interpreter:
    """`compile_interpreter` compiles every expression of `interpreter`; the first that does not
    compile raises `InterpreterError` naming its customization and the CEL error."""
    spec = interpreter.spec
    custom = spec.customizations
    name = interpreter.metadata.name or spec.target.kind
    replica_program = (
        _compile("replicaResource", custom.replica_resource.expression) if custom.replica_resource else None
    )
    health_program = (
        _compile("healthInterpretation", custom.health_interpretation.expression)
        if custom.health_interpretation
        else None
    )
    status_fields = tuple(
        (_path(item.path), _compile(f"statusAggregation {item.path}", item.expression))
        for item in (custom.status_aggregation.fields if custom.status_aggregation else ())
    )
    return Interpreter(
        api_version=spec.target.api_version,
        kind=spec.target.kind,
        name=name,
        replica_program=replica_program,
        replica_path=_path(custom.replica_revision.path) if custom.replica_revision else None,
        health_program=health_program,
        status_fields=status_fields,
        retained=tuple(_path(path) for path in (custom.retention.paths if custom.retention else ())),
        dependency_program=(
            _compile("dependencyInterpretation", custom.dependency_interpretation.expression)
            if custom.dependency_interpretation
            else None
        ),
    )


@dataclass(frozen=True)
class Interpreters:
    """The compiled interpreters of the hub, by (apiVersion, kind); empty means built-in rules only."""

    by_kind: Mapping[tuple[str, str], Interpreter] = field(default_factory=dict)

    @classmethod
    def of(cls, interpreters: Iterable[Interpreter]) -> Interpreters:
        """`of` indexes `interpreters`; for two of one kind, the first by name wins (deterministic)."""
        out: dict[tuple[str, str], Interpreter] = {}
        for item in sorted(interpreters, key=lambda i: i.name):
            out.setdefault((item.api_version, item.kind), item)
        return cls(out)

    def get(self, manifest: Mapping[str, Any]) -> Interpreter | None:
        """`get` is the interpreter for `manifest`'s apiVersion and kind, or None."""
        return self.by_kind.get((str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))))
