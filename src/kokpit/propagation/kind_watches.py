"""Template kinds being watched: for each kind a policy or a binding names, one hub informer and one
`BindingReconciler` (`kokpit.propagation.binding_controller`), started once.

For every kind a PropagationPolicy or ClusterPropagationPolicy names (`kokpit.propagation.policy_checker`
asks), and every kind an existing binding is for (`KindReconciler`, so a template whose policy is gone
can still be deleted cleanly after a restart), `KindRegistry.ensure` resolves the kind through the hub's
discovery (`kokpit.propagation.kinds`) and starts its watch and reconciler. Resolutions are cached for
the life of the process; a kind the hub does not serve (yet: a CRD installed later) is retried every
`RETRY_UNKNOWN` seconds. The informer's class is `kokpit.runtime.resources.served_class`, kept out of
lightkube's global registry, so objects are plain dicts and nothing else in the process (which may use
lightkube's typed `Deployment`) is affected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kokpit.propagation.binding_controller import BindingReconciler
from kokpit.propagation.context import PropagationContext
from kokpit.propagation.kinds import KindError, UnknownKind, discover_kind, reserved_kind
from kokpit.runtime import Key, Result
from kokpit.runtime.resources import ServedKind, served_class

log = logging.getLogger("kokpit.propagation.kind_watches")

RETRY_UNKNOWN = 10.0
"""Seconds between attempts to resolve a kind the hub does not serve (yet)."""


class Discovery:
    """`Discovery` resolves kinds through the hub's discovery endpoints and caches what it found."""

    def __init__(self, context: PropagationContext) -> None:
        self.context = context
        self._found: dict[tuple[str, str], ServedKind] = {}

    async def resolve(self, api_version: str, kind: str) -> ServedKind:
        """`resolve` returns the kind's plural and scope; raises `KindError` or `UnknownKind`."""
        cached = self._found.get((api_version, kind))
        if cached is not None:
            return cached
        why = reserved_kind(api_version, kind)
        if why is not None:
            raise KindError(why)
        found = await discover_kind(self.context.client, api_version, kind)
        self._found[(api_version, kind)] = found
        return found


@dataclass
class KindRegistry:
    """The template kinds being watched, each with its informer and binding controller."""

    context: PropagationContext
    workers: int = 8

    def __post_init__(self) -> None:
        self.discovery = Discovery(self.context)
        self.reconcilers: dict[tuple[str, str], BindingReconciler] = {}
        self._lock = asyncio.Lock()

    async def ensure(self, api_version: str, kind: str) -> BindingReconciler:
        """`ensure` watches `api_version` `kind` as templates (once); raises `KindError`/`UnknownKind`."""
        existing = self.reconcilers.get((api_version, kind))
        if existing is not None:
            return existing
        async with self._lock:
            existing = self.reconcilers.get((api_version, kind))
            if existing is not None:
                return existing
            resolved = await self.discovery.resolve(api_version, kind)
            informer = self.context.manager.informer(self.context.hub, served_class(resolved))
            reconciler = BindingReconciler(self.context, resolved, informer)
            reconciler.setup(workers=self.workers)
            self.reconcilers[(api_version, kind)] = reconciler
            log.info("watching %s as templates", resolved)
            return reconciler


def selected_kinds(policy: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (apiVersion, kind) pairs a propagation policy's resourceSelectors name, once each."""
    kinds: list[tuple[str, str]] = []
    for selector in (policy.get("spec") or {}).get("resourceSelectors") or ():
        if not isinstance(selector, Mapping):
            continue
        pair = (str(selector.get("apiVersion", "")), str(selector.get("kind", "")))
        if all(pair) and pair not in kinds:
            kinds.append(pair)
    return kinds


def kind_key(hub: str, api_version: str, kind: str) -> Key:
    """`kind_key` is the work-queue key of a template kind for `KindReconciler`."""
    return Key(hub, None, f"{kind}.{api_version}")


class KindReconciler:
    """Starts the watch of the kind of every existing binding (key: `kind_key`), so templates stay handled
    after a restart even when no policy names their kind any more; and of every kind a propagation
    policy names, which the policy checker does too, on the leader: when shards share delivery, every
    shard needs those watches for its share of the templates. It writes nothing."""

    def __init__(self, registry: KindRegistry) -> None:
        self.registry = registry

    def keys_of_policy(self, policy: Any) -> list[Key]:
        hub = self.registry.context.hub
        return [kind_key(hub, api_version, kind) for api_version, kind in selected_kinds(policy)]

    def keys_of_binding(self, binding: Any) -> list[Key]:
        resource = (binding.get("spec") or {}).get("resource") or {}
        api_version, kind = resource.get("apiVersion"), resource.get("kind")
        if not api_version or not kind:
            return []
        return [kind_key(self.registry.context.hub, str(api_version), str(kind))]

    async def reconcile(self, key: Key) -> Result:
        kind, _, api_version = key.name.partition(".")
        try:
            await self.registry.ensure(api_version, kind)
        except UnknownKind as error:
            log.info("cannot watch the kind of a binding yet: %s", error)
            return Result(requeue_after=RETRY_UNKNOWN)
        except KindError as error:
            log.warning("a binding is for a kind that is never propagated: %s", error)
        return Result()
