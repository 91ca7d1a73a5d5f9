"""How delivery's work divides among hub shards (`kokpit.runtime.shards`).

A Work's copy is written into its member, so Works go by member: one shard writes a member at a
time. A template, its binding and the binding's status go by the binding's hashed name, so the
binding reconciler and the binding status reconciler of one template are on the same shard.
"""

from __future__ import annotations

from kokpit.propagation import names
from kokpit.runtime import Key, ShardKey, by_hash, by_member


def of_binding(key: Key) -> ShardKey:
    """A (Cluster)ResourceBinding's key."""
    return by_hash(f"{key.namespace or ''}/{key.name}")


def of_template(kind: str, key: Key) -> ShardKey:
    """A template's key: its binding's."""
    return of_binding(Key(key.cluster, key.namespace, names.binding_name(kind=kind, name=key.name)))


def of_work(key: Key, cluster: str | None) -> ShardKey:
    """A Work's key, given the member the Work is for (None: not in an execution namespace, never
    applied)."""
    return by_member(cluster) if cluster else by_hash(str(key))


def of_key(key: Key) -> ShardKey:
    """Any other key of the hub."""
    return by_hash(str(key))
