"""`apply_overrides` with `fieldOverrider`: JSON or YAML held in a string field (a ConfigMap's data) is
parsed, patched at each subPath, and written back; errors name the field and the path inside it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from kokpit.api.override import FIELD_OVERRIDER_ONE_FORMAT, FieldOverrider, RuleWithCluster
from kokpit.propagation import ClusterInfo, OverrideError, apply_overrides

EU = ClusterInfo("eu-1", labels={"env": "prod"}, region="eu-west")

DB_JSON = '{"db": {"host": "db.local", "port": 5432}, "features": ["a", "b"]}'
DB_YAML = "db:\n  host: db.local\n  port: 5432\nfeatures:\n- a\n- b\n"


def configmap() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "app", "namespace": "shop"},
        "data": {"config.json": DB_JSON, "config.yaml": DB_YAML, "plain": "not a document: ["},
    }


def apply(
    *overriders: dict[str, Any], manifest: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    rule = RuleWithCluster.model_validate({"overriders": {"fieldOverrider": list(overriders)}})
    return apply_overrides(manifest or configmap(), [rule], EU)


@pytest.mark.parametrize(
    ("fmt", "operations", "expected", "changes"),
    [
        pytest.param(
            "json",
            [{"subPath": "/db/host", "operator": "replace", "value": "db.eu.example.com"}],
            {"db": {"host": "db.eu.example.com", "port": 5432}, "features": ["a", "b"]},
            ['/data/config.json (JSON): replaced /db/host with "db.eu.example.com"'],
            id="JSON replace a nested string",
        ),
        pytest.param(
            "json",
            [{"subPath": "/db/tls", "operator": "add", "value": {"enabled": True}}],
            {"db": {"host": "db.local", "port": 5432, "tls": {"enabled": True}}, "features": ["a", "b"]},
            ['/data/config.json (JSON): added /db/tls = {"enabled": true}'],
            id="JSON add an object",
        ),
        pytest.param(
            "json",
            [{"subPath": "/features/-", "operator": "add", "value": "c"}],
            {"db": {"host": "db.local", "port": 5432}, "features": ["a", "b", "c"]},
            ['/data/config.json (JSON): added /features/- = "c"'],
            id="JSON append to an array",
        ),
        pytest.param(
            "json",
            [{"subPath": "/db/port", "operator": "remove"}],
            {"db": {"host": "db.local"}, "features": ["a", "b"]},
            ["/data/config.json (JSON): removed /db/port"],
            id="JSON remove a key",
        ),
        pytest.param(
            "yaml",
            [{"subPath": "/db/port", "operator": "replace", "value": 6432}],
            {"db": {"host": "db.local", "port": 6432}, "features": ["a", "b"]},
            ["/data/config.yaml (YAML): replaced /db/port with 6432"],
            id="YAML replace a number",
        ),
        pytest.param(
            "yaml",
            [
                {"subPath": "/features/0", "operator": "remove"},
                {"subPath": "/db/user", "operator": "add", "value": "shop"},
            ],
            {"db": {"host": "db.local", "port": 5432, "user": "shop"}, "features": ["b"]},
            [
                "/data/config.yaml (YAML): removed /features/0",
                '/data/config.yaml (YAML): added /db/user = "shop"',
            ],
            id="YAML operations apply in order",
        ),
    ],
)
def test_field_overrider(
    fmt: str, operations: list[dict[str, Any]], expected: dict[str, Any], changes: list[str]
) -> None:
    key = f"config.{fmt}"
    out, made = apply({"fieldPath": f"/data/{key}", fmt: operations})
    parsed = json.loads(out["data"][key]) if fmt == "json" else yaml.safe_load(out["data"][key])
    assert parsed == expected
    assert made == changes
    other = "config.yaml" if fmt == "json" else "config.json"
    assert out["data"][other] == configmap()["data"][other]


def test_json_is_written_back_compact_with_sorted_keys() -> None:
    out, _ = apply(
        {"fieldPath": "/data/config.json", "json": [{"subPath": "/db/port", "operator": "remove"}]}
    )
    assert out["data"]["config.json"] == '{"db":{"host":"db.local"},"features":["a","b"]}'


def test_yaml_is_written_back_in_block_style_with_sorted_keys() -> None:
    out, _ = apply(
        {
            "fieldPath": "/data/config.yaml",
            "yaml": [{"subPath": "/db/port", "operator": "replace", "value": 1}],
        }
    )
    assert out["data"]["config.yaml"] == "db:\n  host: db.local\n  port: 1\nfeatures:\n- a\n- b\n"


def test_an_operation_that_changes_nothing_leaves_the_text_as_it_was() -> None:
    spaced = '{ "db": { "port": 5432 } }'
    manifest = configmap() | {"data": {"config.json": spaced}}
    out, made = apply(
        {
            "fieldPath": "/data/config.json",
            "json": [{"subPath": "/db/port", "operator": "replace", "value": 5432}],
        },
        manifest=manifest,
    )
    assert made == []
    assert out["data"]["config.json"] == spaced


def test_the_input_manifest_is_never_mutated() -> None:
    manifest = configmap()
    apply(
        {"fieldPath": "/data/config.json", "json": [{"subPath": "/db/port", "operator": "remove"}]},
        manifest=manifest,
    )
    assert manifest == configmap()


@pytest.mark.parametrize(
    ("overrider", "message"),
    [
        pytest.param(
            {"fieldPath": "/data/missing.json", "json": [{"subPath": "/a", "operator": "remove"}]},
            "/data/missing.json: does not exist",
            id="a field that does not exist",
        ),
        pytest.param(
            {"fieldPath": "/metadata", "json": [{"subPath": "/a", "operator": "remove"}]},
            "/metadata: is not a string holding JSON or YAML",
            id="a field that is not a string",
        ),
        pytest.param(
            {"fieldPath": "/data/plain", "json": [{"subPath": "/a", "operator": "remove"}]},
            "/data/plain: is not valid JSON",
            id="a string that is not JSON",
        ),
        pytest.param(
            {"fieldPath": "/data/plain", "yaml": [{"subPath": "/a", "operator": "remove"}]},
            "/data/plain: is not valid YAML",
            id="a string that is not YAML",
        ),
        pytest.param(
            {
                "fieldPath": "/data/config.json",
                "json": [{"subPath": "/db/user", "operator": "replace", "value": 1}],
            },
            r"/data/config.json \(JSON\): /db/user: does not exist",
            id="replacing a key the document does not have",
        ),
        pytest.param(
            {
                "fieldPath": "/data/config.yaml",
                "yaml": [{"subPath": "/cache/size", "operator": "add", "value": 1}],
            },
            r"/data/config.yaml \(YAML\): /cache/size: /cache does not exist",
            id="adding under a parent the document does not have",
        ),
    ],
)
def test_errors_name_the_field_and_the_path_inside_it(overrider: dict[str, Any], message: str) -> None:
    with pytest.raises(OverrideError, match=message):
        apply(overrider)


@pytest.mark.parametrize(
    ("overrider", "message"),
    [
        pytest.param({"fieldPath": "/data/a"}, FIELD_OVERRIDER_ONE_FORMAT, id="neither json nor yaml"),
        pytest.param(
            {
                "fieldPath": "/data/a",
                "json": [{"subPath": "/a", "operator": "remove"}],
                "yaml": [{"subPath": "/a", "operator": "remove"}],
            },
            FIELD_OVERRIDER_ONE_FORMAT,
            id="both json and yaml",
        ),
        pytest.param(
            {"fieldPath": "/data/a", "json": [{"subPath": "/a", "operator": "add"}]},
            "value is required when operator is add or replace",
            id="add without a value",
        ),
        pytest.param(
            {"fieldPath": "data/a", "json": [{"subPath": "/a", "operator": "remove"}]},
            "fieldPath",
            id="a fieldPath that is not a JSON pointer",
        ),
        pytest.param(
            {"fieldPath": "/data/a", "yaml": [{"subPath": "a", "operator": "remove"}]},
            "subPath",
            id="a subPath that is not a JSON pointer",
        ),
    ],
)
def test_the_model_refuses_bad_field_overriders(overrider: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FieldOverrider.model_validate(overrider)


def test_field_overrider_round_trips_with_karmada_names() -> None:
    body = {
        "fieldPath": "/data/a.yaml",
        "yaml": [{"subPath": "/x", "operator": "replace", "value": [1, "b"]}],
    }
    assert FieldOverrider.model_validate(body).to_dict() == body
