"""`kokpit interpreter check`: a dry run of a ResourceInterpreter against sample objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from kokpit.cli.main import app
from kokpit.errors import KokpitError

INTERPRETER: dict[str, Any] = {
    "apiVersion": "config.kokpit.io/v1alpha1",
    "kind": "ResourceInterpreter",
    "metadata": {"name": "widgets"},
    "spec": {
        "target": {"apiVersion": "example.io/v1", "kind": "Widget"},
        "customizations": {
            "replicaResource": {"expression": "object.spec.size"},
            "replicaRevision": {"path": "spec.size"},
            "healthInterpretation": {"expression": "object.status.ready >= object.spec.size"},
            "statusAggregation": {
                "fields": [{"path": "status.ready", "expression": "sum(items.map(i, i.status.ready))"}]
            },
        },
    },
}
SAMPLE = {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}}


def write(tmp_path: Path, name: str, body: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body))
    return str(path)


def test_a_good_interpreter_reports_replicas_health_and_aggregated_status(tmp_path: Path) -> None:
    interpreter = write(tmp_path, "ri.yaml", INTERPRETER)
    one = write(tmp_path, "one.yaml", {**SAMPLE, "status": {"ready": 3}})
    two = write(tmp_path, "two.yaml", {**SAMPLE, "status": {"ready": 1}})
    result = CliRunner().invoke(
        app, ["interpreter", "check", "-f", interpreter, "--sample", one, "--sample", two]
    )
    assert result.exit_code == 0, result.output
    report = yaml.safe_load(result.output)
    assert [(s["replicas"], s["healthy"]) for s in report["samples"]] == [(3, True), (3, False)]
    assert report["samples"][0]["revised"] == {"size": 1}
    assert report["aggregatedStatus"] == {"ready": 4}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            {"healthInterpretation": {"expression": "object.status.ready >="}},
            "healthInterpretation",
            id="an expression that does not compile",
        ),
        pytest.param(
            {"replicaResource": {"expression": "object.spec.count"}},
            "replicaResource",
            id="an expression that fails on the sample",
        ),
    ],
)
def test_a_bad_expression_exits_non_zero_naming_it(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    body = {
        **INTERPRETER,
        "spec": {
            **INTERPRETER["spec"],
            "customizations": {**INTERPRETER["spec"]["customizations"], **change},
        },
    }
    sample = write(tmp_path, "s.yaml", {**SAMPLE, "status": {"ready": 3}})
    result = CliRunner().invoke(
        app, ["interpreter", "check", "-f", write(tmp_path, "ri.yaml", body), "--sample", sample]
    )
    assert result.exit_code != 0
    assert isinstance(result.exception, KokpitError)
    assert message in str(result.exception)


def test_a_sample_of_another_kind_is_refused(tmp_path: Path) -> None:
    sample = write(tmp_path, "s.yaml", {**SAMPLE, "kind": "Gadget"})
    result = CliRunner().invoke(
        app, ["interpreter", "check", "-f", write(tmp_path, "ri.yaml", INTERPRETER), "--sample", sample]
    )
    assert result.exit_code != 0
    assert "Gadget" in str(result.exception)
