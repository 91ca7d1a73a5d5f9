"""An indexed in-memory store of the objects of one resource kind in one cluster.

Reflectors keep it equal to the API server; reconcilers read from it instead of calling the API.
Objects are stored as lightkube returned them and must be treated as read-only.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from typing import Any

from .keys import namespace_name

IndexFunc = Callable[[Any], list[str]]
ObjectKey = tuple[str | None, str]

NAMESPACE_INDEX = "namespace"


def index_by_namespace(obj: Any) -> list[str]:
    """`index_by_namespace` indexes an object under its namespace ("" when cluster-scoped)."""
    namespace, _ = namespace_name(obj)
    return [namespace or ""]


class Store:
    """`Store` maps (namespace, name) to an object and keeps named secondary indices.

    `add_indexer("by-owner", fn)` makes `by_index("by-owner", value)` return every object for
    which `fn(obj)` contains `value`. The namespace index is built in.
    """

    def __init__(self) -> None:
        self._items: dict[ObjectKey, Any] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[ObjectKey]]] = {}
        self.add_indexer(NAMESPACE_INDEX, index_by_namespace)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        """`add_indexer` registers `fn` under `name` and indexes the objects already stored."""
        if name in self._indexers:
            raise ValueError(f"indexer {name!r} already exists")
        self._indexers[name] = fn
        index: dict[str, set[ObjectKey]] = {}
        self._indices[name] = index
        for key, obj in self._items.items():
            for value in fn(obj):
                index.setdefault(value, set()).add(key)

    def _unindex(self, key: ObjectKey, obj: Any) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                keys = index.get(value)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del index[value]

    def _index(self, key: ObjectKey, obj: Any) -> None:
        for name, fn in self._indexers.items():
            index = self._indices[name]
            for value in fn(obj):
                index.setdefault(value, set()).add(key)

    def put(self, obj: Any) -> Any | None:
        """`put` adds or replaces an object and returns the one it replaced, if any."""
        key = namespace_name(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        self._index(key, obj)
        return old

    def delete(self, namespace: str | None, name: str) -> Any | None:
        """`delete` removes an object and returns it (None when it was not there)."""
        key = (namespace or None, name)
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old

    def replace(self, objs: Iterable[Any]) -> None:
        """`replace` makes the store hold exactly `objs` (used after a full list)."""
        self._items = {}
        for index in self._indices.values():
            index.clear()
        for obj in objs:
            self.put(obj)

    def get(self, name: str, namespace: str | None = None) -> Any | None:
        return self._items.get((namespace or None, name))

    def keys(self) -> builtins.list[ObjectKey]:
        return list(self._items)

    def list(self, namespace: str | None = None) -> list[Any]:
        """`list` returns all objects, or those of one namespace, sorted by (namespace, name)."""
        if namespace is None:
            keys = list(self._items)
        else:
            keys = list(self._indices[NAMESPACE_INDEX].get(namespace, ()))
        keys.sort(key=lambda k: (k[0] or "", k[1]))
        return [self._items[k] for k in keys]

    def by_index(self, name: str, value: str) -> builtins.list[Any]:
        """`by_index` returns the objects indexed under `value` by indexer `name`, sorted by key."""
        if name not in self._indices:
            raise KeyError(f"no indexer named {name!r}")
        keys = sorted(self._indices[name].get(value, ()), key=lambda k: (k[0] or "", k[1]))
        return [self._items[k] for k in keys]

    def index_values(self, name: str) -> builtins.list[str]:
        """`index_values` lists the values present in index `name`."""
        return sorted(self._indices[name])
