"""`kokpit interpreter check`: compile a ResourceInterpreter and evaluate it against sample objects.

A dry run before the interpreter is written to the hub: every expression is compiled, then evaluated
against each sample (replicas, the copy with 1 replica written back, health, and the status aggregated
over the samples as if each were one cluster's copy). A bad expression or one that fails on a sample
exits non-zero with one line naming the customization.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from kokpit.api.interpreter import ResourceInterpreter
from kokpit.cli.yamlfiles import read_documents
from kokpit.errors import KokpitError
from kokpit.propagation.interpreter import compile_interpreter

app = typer.Typer(help="Resource interpreters: CEL rules for custom kinds.", no_args_is_help=True)


def check_report(interpreter: ResourceInterpreter, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """`check_report` compiles `interpreter` and evaluates it against `samples`; raises
    `InterpreterError` on the first failure. Samples of another kind are refused."""
    compiled = compile_interpreter(interpreter)
    objects: list[dict[str, Any]] = []
    for index, sample in enumerate(samples):
        if (sample.get("apiVersion"), sample.get("kind")) != (compiled.api_version, compiled.kind):
            raise KokpitError(
                f"sample {index + 1} is {sample.get('apiVersion')} {sample.get('kind')}, "
                f"the interpreter is for {compiled.api_version} {compiled.kind}"
            )
        name = str((sample.get("metadata") or {}).get("name") or f"sample-{index + 1}")
        report: dict[str, Any] = {"name": name}
        replicas = compiled.replicas(sample)
        if replicas is not None:
            report["replicas"] = replicas
            report["revised"] = compiled.with_replicas(sample, 1).get("spec")
        healthy = compiled.healthy(sample)
        if healthy is not None:
            report["healthy"] = healthy
        objects.append(report)
    out: dict[str, Any] = {"interpreter": interpreter.metadata.name, "samples": objects}
    if compiled.status_fields:
        members = {
            f"{index + 1}-{report['name']}": sample
            for index, (report, sample) in enumerate(zip(objects, samples, strict=True))
        }
        out["aggregatedStatus"] = compiled.aggregate_status(members)
    return out


@app.command("check")
def check(
    file: Annotated[Path, typer.Option("-f", "--filename", help="The ResourceInterpreter YAML.")],
    sample: Annotated[
        list[Path] | None,
        typer.Option("--sample", help="A sample object of the target kind (repeatable; one per cluster)."),
    ] = None,
) -> None:
    """Compile the interpreter's expressions and evaluate them against the samples; non-zero on error."""
    documents = read_documents(file)
    if len(documents) != 1:
        raise KokpitError(f"{file}: expected one ResourceInterpreter, found {len(documents)} documents")
    interpreter = ResourceInterpreter.model_validate(documents[0])
    samples: list[dict[str, Any]] = []
    for path in sample or ():
        samples.extend(document for document in read_documents(path) if isinstance(document, dict))
    typer.echo(yaml.safe_dump(check_report(interpreter, samples), sort_keys=False), nl=False)
