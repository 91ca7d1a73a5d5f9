"""The hub's resource interpreters: compiled from the ResourceInterpreter informer, and their `Accepted`.

`InterpreterSource` gives delivery the current `Interpreters` (compiled once per object version; an
interpreter that does not validate or compile is left out, so its kind keeps the built-in rules).
`InterpreterReconciler` writes each interpreter's `Accepted` condition: True, or False with the schema
or CEL compile error, so a bad expression is refused visibly when the interpreter is written.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from kokpit.api.interpreter import RESOURCE_INTERPRETER, ResourceInterpreter
from kokpit.errors import validation_message
from kokpit.propagation.interpreter import Interpreter, InterpreterError, Interpreters, compile_interpreter
from kokpit.runtime import Condition, Informer, Key, Manager, Result, status_writer
from kokpit.runtime.resources import resource_class

ACCEPTED = "Accepted"
STATUS_FIELD_MANAGER = "kokpit-interpreter-status"

ResourceInterpreterResource = resource_class(RESOURCE_INTERPRETER)


def compile_raw(raw: Any) -> Interpreter | str:
    """`compile_raw` compiles a ResourceInterpreter object read from the API, or returns why not."""
    try:
        return compile_interpreter(ResourceInterpreter.model_validate(dict(raw)))
    except ValidationError as error:
        return validation_message(error)
    except InterpreterError as error:
        return str(error)


class InterpreterSource:
    """The compiled interpreters of the hub, from an informer of ResourceInterpreters."""

    def __init__(self, informer: Informer) -> None:
        self.informer = informer
        self._compiled: dict[tuple[str, str], Interpreter | str] = {}

    def compiled(self, raw: Any) -> Interpreter | str:
        """`compiled` is `compile_raw(raw)`, cached by uid and resourceVersion."""
        metadata = raw.get("metadata") or {}
        key = (str(metadata.get("uid")), str(metadata.get("resourceVersion")))
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = compile_raw(raw)
        return found

    def current(self) -> Interpreters:
        """`current` is the valid interpreters in the informer's cache, by target kind."""
        valid: list[Interpreter] = []
        seen: set[tuple[str, str]] = set()
        for raw in self.informer.list():
            metadata = raw.get("metadata") or {}
            seen.add((str(metadata.get("uid")), str(metadata.get("resourceVersion"))))
            compiled = self.compiled(raw)
            if isinstance(compiled, Interpreter):
                valid.append(compiled)
        for key in [k for k in self._compiled if k not in seen]:
            del self._compiled[key]
        return Interpreters.of(valid)


def interpreter_source(manager: Manager, *, hub: str = "hub") -> InterpreterSource:
    """`interpreter_source` is an `InterpreterSource` over the manager's shared informer."""
    return InterpreterSource(manager.informer(hub, ResourceInterpreterResource))


class InterpreterReconciler:
    """Writes the `Accepted` condition of each ResourceInterpreter (key: the interpreter)."""

    def __init__(self, manager: Manager, source: InterpreterSource, *, hub: str = "hub") -> None:
        self.manager = manager
        self.source = source
        self.hub = hub

    def setup(self) -> None:
        """Registers the controller, watching the ResourceInterpreters."""
        self.manager.controller("resource-interpreter", self, workers=1).watch(self.source.informer)

    async def reconcile(self, key: Key) -> Result:
        raw = self.source.informer.get(key.name)
        if raw is None:
            return Result()
        compiled = self.source.compiled(raw)
        async with status_writer(
            self.manager.clients.get(self.hub),
            ResourceInterpreterResource,
            raw,
            owned=(ACCEPTED,),
            field_manager=STATUS_FIELD_MANAGER,
        ) as status:
            if isinstance(compiled, Interpreter):
                message = f"interpreting {compiled.kind}.{compiled.api_version}"
                status.set(Condition.true(ACCEPTED, "Compiled", message))
            else:
                status.set(Condition.false(ACCEPTED, "InvalidExpression", compiled))
        return Result()
