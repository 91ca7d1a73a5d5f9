"""Store: get/list by namespace, indexers kept in step with puts and deletes."""

from __future__ import annotations

from typing import Any

import pytest
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Namespace

from kokpit.runtime.cache import Store


def cm(namespace: str, name: str, *, owner: str | None = None, rv: str = "1") -> ConfigMap:
    labels = {"owner": owner} if owner else None
    return ConfigMap(metadata=ObjectMeta(name=name, namespace=namespace, labels=labels, resourceVersion=rv))


def by_owner(obj: Any) -> list[str]:
    labels = obj.metadata.labels or {}
    return [labels["owner"]] if "owner" in labels else []


def names(objs: list[Any]) -> list[str]:
    return [f"{o.metadata.namespace}/{o.metadata.name}" for o in objs]


def test_get_and_list_by_namespace() -> None:
    store = Store()
    for obj in [cm("b", "x"), cm("a", "y"), cm("a", "x")]:
        store.put(obj)
    assert store.get("x", "a") is not None
    assert store.get("x", "c") is None
    assert names(store.list()) == ["a/x", "a/y", "b/x"]
    assert names(store.list("a")) == ["a/x", "a/y"]
    assert store.list("zzz") == []


def test_put_replaces_and_returns_the_old_object() -> None:
    store = Store()
    assert store.put(cm("a", "x", rv="1")) is None
    old = store.put(cm("a", "x", rv="2"))
    assert old is not None and old.metadata.resourceVersion == "1"
    assert len(store) == 1


def test_indexer_follows_updates_and_deletes() -> None:
    store = Store()
    store.put(cm("a", "x", owner="alice"))
    store.add_indexer("owner", by_owner)  # indexes what is already there
    store.put(cm("a", "y", owner="alice"))
    store.put(cm("b", "z", owner="bob"))
    assert names(store.by_index("owner", "alice")) == ["a/x", "a/y"]

    store.put(cm("a", "x", owner="bob"))  # moved to bob
    assert names(store.by_index("owner", "alice")) == ["a/y"]
    assert names(store.by_index("owner", "bob")) == ["a/x", "b/z"]

    store.delete("a", "y")
    assert store.by_index("owner", "alice") == []
    assert store.index_values("owner") == ["bob"]


def test_replace_rebuilds_items_and_indices() -> None:
    store = Store()
    store.add_indexer("owner", by_owner)
    store.put(cm("a", "x", owner="alice"))
    store.replace([cm("a", "q", owner="carol")])
    assert names(store.list()) == ["a/q"]
    assert store.by_index("owner", "alice") == []
    assert names(store.by_index("owner", "carol")) == ["a/q"]
    assert names(store.list("a")) == ["a/q"]


def test_cluster_scoped_and_generic_objects() -> None:
    widget = create_namespaced_resource("example.kokpit.io", "v1", "Widget", "widgets")
    store = Store()
    store.put(Namespace(metadata=ObjectMeta(name="ns1")))
    assert store.get("ns1") is not None
    generic = Store()
    generic.put(widget.from_dict({"metadata": {"name": "w", "namespace": "a", "resourceVersion": "3"}}))
    found = generic.get("w", "a")
    assert found is not None and found["metadata"]["resourceVersion"] == "3"


def test_errors() -> None:
    store = Store()
    store.add_indexer("owner", by_owner)
    with pytest.raises(ValueError):
        store.add_indexer("owner", by_owner)
    with pytest.raises(KeyError):
        store.by_index("nope", "x")
    assert store.delete("a", "missing") is None
