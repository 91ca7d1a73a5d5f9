"""The validating webhook of ResourceInterpreters: an expression that does not compile is refused.

The API server cannot compile CEL held in strings, so without this a bad interpreter is stored and
only its `Accepted=False` condition tells. The webhook compiles it the way delivery will
(`compile_raw`: the model, then every expression) and refuses it with the same message; the
interpreter controller's `Accepted` stays as the second line, for interpreters written while no
webhook answered (`failurePolicy: Ignore`).
"""

from __future__ import annotations

from kokpit.propagation.interpreter_controller import compile_raw
from kokpit.webhooks.review import AdmissionRequest, Verdict

PATH = "/validate/resourceinterpreters"
"""Where the interpreter webhook is served."""


def validate_interpreter(request: AdmissionRequest) -> Verdict:
    """`validate_interpreter` allows a create or update whose object compiles, and refuses one that
    does not with the compiler's message; other operations are allowed (nothing to compile)."""
    if request.operation not in ("CREATE", "UPDATE"):
        return Verdict.allow()
    if request.object is None:
        return Verdict.deny("the request carries no ResourceInterpreter", code=400)
    compiled = compile_raw(request.object)
    if isinstance(compiled, str):
        name = request.name or str((request.object.get("metadata") or {}).get("name") or "")
        return Verdict.deny(f"ResourceInterpreter {name} is refused: {compiled}")
    return Verdict.allow()
