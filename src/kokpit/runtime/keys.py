"""Keys name one object in one cluster; they are what the work queue carries and reconcile receives."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any


@functools.total_ordering
@dataclass(frozen=True)
class Key:
    """`Key` names an object: its cluster, its namespace (None when cluster-scoped) and its name.

    Its string form is `cluster/namespace/name`, or `cluster/name` for a cluster-scoped object.
    Keys sort by (cluster, namespace, name), a cluster-scoped key before the namespaced ones of its
    cluster (a plain `order=True` dataclass would fail comparing None with a namespace).
    """

    cluster: str
    namespace: str | None
    name: str

    def _sort_key(self) -> tuple[str, int, str, str]:
        return (self.cluster, 0 if self.namespace is None else 1, self.namespace or "", self.name)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Key):
            return NotImplemented
        return self._sort_key() < other._sort_key()

    def __str__(self) -> str:
        if self.namespace is None:
            return f"{self.cluster}/{self.name}"
        return f"{self.cluster}/{self.namespace}/{self.name}"

    def __repr__(self) -> str:
        return f"Key({self.cluster!r}, {self.namespace!r}, {self.name!r})"

    @classmethod
    def parse(cls, text: str) -> Key:
        """`Key.parse` reads the string form back: `c/ns/name` or `c/name`."""
        parts = text.split("/")
        if len(parts) == 3 and all(parts):
            return cls(parts[0], parts[1], parts[2])
        if len(parts) == 2 and all(parts):
            return cls(parts[0], None, parts[1])
        raise ValueError(f"not a key: {text!r} (want cluster/namespace/name or cluster/name)")

    @classmethod
    def of(cls, cluster: str, obj: Any) -> Key:
        """`Key.of` is the key of a lightkube object (typed or generic) living in `cluster`."""
        namespace, name = namespace_name(obj)
        return cls(cluster, namespace, name)


def namespace_name(obj: Any) -> tuple[str | None, str]:
    """`namespace_name` reads (namespace, name) from a lightkube object, typed or generic."""
    meta = obj.metadata
    if meta is None or not meta.name:
        raise ValueError(f"object has no metadata.name: {obj!r}")
    return (meta.namespace or None), str(meta.name)


def resource_version(obj: Any) -> str | None:
    """`resource_version` reads metadata.resourceVersion from a lightkube object."""
    meta = obj.metadata
    return None if meta is None else meta.resourceVersion
