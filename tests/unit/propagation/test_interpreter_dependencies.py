"""`dependencyInterpretation`: what a custom kind's object needs on its clusters, from a CEL list."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.api.interpreter import ResourceInterpreter
from kokpit.propagation.interpreter import InterpreterError, compile_interpreter

WIDGET = {
    "apiVersion": "example.io/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "shop"},
    "spec": {"config": "settings", "credentials": ["db", "cache"]},
}


def dependencies(
    expression: str, manifest: dict[str, Any] = WIDGET
) -> list[tuple[str, str, str | None, str]]:
    interpreter = ResourceInterpreter.model_validate(
        {
            "metadata": {"name": "widgets"},
            "spec": {
                "target": {"apiVersion": "example.io/v1", "kind": "Widget"},
                "customizations": {"dependencyInterpretation": {"expression": expression}},
            },
        }
    )
    return compile_interpreter(interpreter).dependencies(manifest)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param(
            "[{'apiVersion': 'v1', 'kind': 'ConfigMap', 'name': object.spec.config}]",
            [("v1", "ConfigMap", "shop", "settings")],
            id="a dependency without a namespace is in the object's namespace",
        ),
        pytest.param(
            "object.spec.credentials.map(n, {'apiVersion': 'v1', 'kind': 'Secret', 'name': n})",
            [("v1", "Secret", "shop", "cache"), ("v1", "Secret", "shop", "db")],
            id="a list built from the object is sorted",
        ),
        pytest.param(
            "[{'apiVersion': 'v1', 'kind': 'Secret', 'name': 'db', 'namespace': 'shop'},"
            " {'apiVersion': 'v1', 'kind': 'Secret', 'name': 'db'}]",
            [("v1", "Secret", "shop", "db")],
            id="the same dependency named twice counts once",
        ),
        pytest.param(
            "has(object.spec.missing) ? [{'apiVersion': 'v1', 'kind': 'Secret', 'name': 'x'}] : []",
            [],
            id="an empty list means no dependencies",
        ),
        pytest.param(
            "[{'apiVersion': 'example.io/v1', 'kind': 'Gadget', 'name': 'g'}]",
            [("example.io/v1", "Gadget", "shop", "g")],
            id="a custom kind can be a dependency",
        ),
    ],
)
def test_dependencies_are_read_by_the_expression(
    expression: str, expected: list[tuple[str, str, str | None, str]]
) -> None:
    assert dependencies(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        pytest.param("object.spec.config", "is not a list", id="a string is not a list"),
        pytest.param("['settings']", "is not an object", id="a list of names is not a list of references"),
        pytest.param("[{'kind': 'ConfigMap', 'name': 'a'}]", "lacks apiVersion", id="apiVersion is required"),
        pytest.param(
            "[{'apiVersion': 'v1', 'kind': 'ConfigMap', 'name': 'a', 'namespace': 'other'}]",
            "not the object's",
            id="another namespace is refused",
        ),
        pytest.param(
            "object.spec.nothing", "dependencyInterpretation", id="a missing field names the customization"
        ),
    ],
)
def test_bad_dependency_values_raise(expression: str, message: str) -> None:
    with pytest.raises(InterpreterError, match=message):
        dependencies(expression)


def test_without_the_customization_there_are_no_dependencies() -> None:
    interpreter = compile_interpreter(
        ResourceInterpreter.model_validate(
            {
                "metadata": {"name": "widgets"},
                "spec": {"target": {"apiVersion": "example.io/v1", "kind": "Widget"}, "customizations": {}},
            }
        )
    )
    assert not interpreter.has_dependencies
    assert interpreter.dependencies(WIDGET) == []
