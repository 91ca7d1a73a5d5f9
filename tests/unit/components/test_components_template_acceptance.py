"""A ComponentTemplate's `Accepted` condition: what is wrong with a template shows when it is written."""

from __future__ import annotations

from typing import Any

import pytest

from kokpit.components.builtin import builtin_templates
from kokpit.components.template_controller import acceptance


def template(**spec: Any) -> dict[str, Any]:
    base = {"selector": {"languages": ["java"], "runTypes": ["server"]}, "template": "{{ component.name }}\n"}
    return {
        "apiVersion": "apps.kokpit.io/v1alpha1",
        "kind": "ComponentTemplate",
        "metadata": {"name": "platform-java"},
        "spec": base | spec,
    }


def test_a_valid_template_is_accepted_saying_what_it_selects() -> None:
    condition = acceptance(template())
    assert (condition.status, condition.reason) == ("True", "Valid")
    assert condition.message == "selects languages java; run types server"


def test_every_built_in_template_would_be_accepted() -> None:
    for builtin in builtin_templates():
        raw = {"apiVersion": "apps.kokpit.io/v1alpha1", "kind": "ComponentTemplate"}
        condition = acceptance(raw | builtin.model_dump(by_alias=True, exclude_none=True))
        assert condition.status == "True", (builtin.metadata.name, condition.message)


@pytest.mark.parametrize(
    ("spec", "reason", "fragment"),
    [
        pytest.param(
            {"template": "kind: Deployment\nmetadata: {name: '{{ component.name | }}'}\n"},
            "TemplateInvalid",
            "line 2",
            id="Jinja2 syntax names the line",
        ),
        pytest.param(
            {"parametersSchema": {"type": "objekt"}},
            "TemplateInvalid",
            "parametersSchema is not a JSON Schema",
            id="a schema that is no JSON Schema",
        ),
        pytest.param(
            {
                "parametersSchema": {"type": "object", "properties": {"heap": {"type": "integer"}}},
                "defaults": {"heap": "big"},
            },
            "DefaultsInvalid",
            "defaults.heap",
            id="defaults failing their own schema",
        ),
        pytest.param(
            {"selector": {"languages": ["Java!"]}}, "InvalidSpec", "languages", id="what the schema refuses"
        ),
    ],
)
def test_a_broken_template_is_not_accepted_and_says_why(
    spec: dict[str, Any], reason: str, fragment: str
) -> None:
    condition = acceptance(template(**spec))
    assert (condition.status, condition.reason) == ("False", reason)
    assert fragment in condition.message
