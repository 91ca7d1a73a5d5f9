"""The public face: every name kokpit and its domains list in `__all__` exists, and the models are there."""

from __future__ import annotations

import importlib

import pytest

import kokpit

PACKAGES = [
    "kokpit",
    "kokpit.api",
    "kokpit.runtime",
    "kokpit.fleet",
    "kokpit.propagation",
    "kokpit.etcd",
    "kokpit.hosted",
    "kokpit.machines",
    "kokpit.agent",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_exists(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} lists its public names in __all__"
    assert [n for n in exported if not hasattr(module, n)] == []


def test_every_resource_kind_has_a_public_model() -> None:
    kinds = {resource.kind for resource in kokpit.ALL_RESOURCES}
    assert kinds <= set(kokpit.__all__)


@pytest.mark.parametrize(
    "name", ["kokpit.fleet", "kokpit.propagation", "kokpit.etcd", "kokpit.hosted", "kokpit.machines"]
)
def test_every_domain_has_one_setup(name: str) -> None:
    assert callable(importlib.import_module(name).setup)
