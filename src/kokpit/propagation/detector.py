"""The detector: which kinds of the hub are templates, and a watch and a binding controller for each.

Policies name kinds by apiVersion and kind (`apps/v1 Deployment`, a CRD's kind, `rbac.authorization.k8s.io/v1
ClusterRole`). For every kind a PropagationPolicy or ClusterPropagationPolicy names, and every kind an
existing binding is for (so a template whose policy is gone can still be deleted cleanly after a
restart), the detector starts once a hub informer and a `BindingController`
(`kokpit.propagation.binding_controller`).

A kind is resolved through the hub's discovery (`/api/v1`, `/apis/<group>/<version>`): its plural, its
scope, and whether it can be listed and watched. Resolutions are cached for the life of the process; a
kind the hub does not serve (yet: a CRD installed later) is retried every `RETRY_UNKNOWN` seconds. The
informer's class is a lightkube generic resource made for the detector alone and kept out of
lightkube's global registry, so objects are plain dicts and nothing else in the process (which may use
lightkube's typed `Deployment`) is affected.

Never templates: kokpit's own kinds (the groups of `kokpit.api.ALL_RESOURCES`), Events, Leases, and
kinds that cannot be listed and watched (reviews, bindings of the API server); objects in the system
namespaces and in the execution namespaces `kokpit-es-*` are skipped by the binding controller.

Each policy gets a `Ready` condition: True (`Accepted`) when it parses and every kind it names is
watched; False with `InvalidPolicy`, `UnknownKind` or `UnsupportedKind` and a message otherwise. Override
policies get the same check (`InvalidPolicy` when they do not parse) but start no watch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient
from lightkube.generic_resource import (
    GenericGlobalResource,
    GenericNamespacedResource,
    create_api_info,
)
from pydantic import BaseModel, ValidationError

from kokpit.api.registry import ALL_RESOURCES
from kokpit.errors import KokpitError
from kokpit.propagation.binding_controller import (
    BindingController,
    PropagationContext,
    TemplateKind,
    validation_message,
)
from kokpit.runtime import Informer, Key, Result, get_condition, patch_status, set_condition
from kokpit.runtime.raw import get_raw

log = logging.getLogger("kokpit.propagation.detector")

RETRY_UNKNOWN = 10.0
"""Seconds between attempts to resolve a kind the hub does not serve (yet)."""
POLICY_STATUS_FIELD_MANAGER = "kokpit-detector"
READY = "Ready"

KOKPIT_GROUPS = frozenset(resource.group for resource in ALL_RESOURCES)
"""kokpit's own API groups: their objects are its machinery, never templates (users' CRDs in other
`*.kokpit.io` groups are ordinary kinds)."""
RESERVED_KINDS = frozenset(
    {
        ("v1", "Event"),
        ("events.k8s.io/v1", "Event"),
        ("coordination.k8s.io/v1", "Lease"),
        ("v1", "ComponentStatus"),
    }
)
REQUIRED_VERBS = frozenset({"list", "watch"})


class KindError(KokpitError):
    """A kind cannot be a template; `reason` is the policy condition reason."""

    reason = "UnsupportedKind"


class UnknownKind(KindError):
    """The hub serves no such kind (a CRD not installed yet, a typo)."""

    reason = "UnknownKind"


def reserved_kind(api_version: str, kind: str) -> str | None:
    """`reserved_kind` says why `api_version` `kind` is never a template, or None when it may be."""
    group = api_version.rpartition("/")[0]
    if group in KOKPIT_GROUPS:
        return f"{kind}.{api_version} is one of kokpit's own kinds"
    if (api_version, kind) in RESERVED_KINDS:
        return f"{kind}.{api_version} is never propagated"
    return None


def kind_from_discovery(api_version: str, kind: str, document: Mapping[str, Any]) -> TemplateKind:
    """`kind_from_discovery` finds `kind` in an APIResourceList (the body of `/apis/<group>/<version>`).
    Raises `UnknownKind` when absent, `KindError` when it cannot be listed and watched."""
    for resource in document.get("resources") or ():
        name = str(resource.get("name", ""))
        if resource.get("kind") != kind or "/" in name:
            continue
        verbs = set(resource.get("verbs") or ())
        if not verbs >= REQUIRED_VERBS:
            raise KindError(f"{kind}.{api_version} cannot be listed and watched")
        return TemplateKind(api_version, kind, name, bool(resource.get("namespaced")))
    raise UnknownKind(f"the hub serves no kind {kind} in {api_version}")


def template_class(kind: TemplateKind) -> type[Any]:
    """`template_class` is a lightkube generic resource class for `kind`, not registered in lightkube's
    global registry (whose typed classes would otherwise be returned for built-in kinds). Its objects always
    carry apiVersion and kind, which the items of a list response leave out."""
    group, _, version = kind.api_version.rpartition("/")
    base = GenericNamespacedResource if kind.namespaced else GenericGlobalResource

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        base.__init__(self, *args, **kwargs)
        self.setdefault("apiVersion", kind.api_version)
        self.setdefault("kind", kind.kind)

    return type(
        kind.kind,
        (base,),
        {"_api_info": create_api_info(group, version, kind.kind, kind.plural), "__init__": __init__},
    )


class Discovery:
    """`Discovery` resolves kinds through the hub's discovery endpoints and caches what it found."""

    def __init__(self, context: PropagationContext) -> None:
        self.context = context
        self._found: dict[tuple[str, str], TemplateKind] = {}

    async def resolve(self, api_version: str, kind: str) -> TemplateKind:
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


async def api_resources(client: AsyncClient, api_version: str) -> dict[str, Any] | None:
    """`api_resources` is the APIResourceList the API server serves for `api_version` (`v1`, `apps/v1`),
    or None when it serves no such group version."""
    path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    response = await get_raw(client, path, accept="application/json")
    if response.status_code == 404:
        return None
    response.raise_for_status()
    document: dict[str, Any] = response.json()
    return document


async def discover_kind(client: AsyncClient, api_version: str, kind: str) -> TemplateKind:
    """`discover_kind` asks the API server of `client` about `api_version` `kind` (`kind_from_discovery`)."""
    document = await api_resources(client, api_version)
    if document is None:
        raise UnknownKind(f"the hub serves no API {api_version}")
    return kind_from_discovery(api_version, kind, document)


@dataclass
class KindRegistry:
    """The template kinds being watched, each with its informer and binding controller."""

    context: PropagationContext
    workers: int = 8

    def __post_init__(self) -> None:
        self.discovery = Discovery(self.context)
        self.controllers: dict[tuple[str, str], BindingController] = {}
        self._lock = asyncio.Lock()

    async def ensure(self, api_version: str, kind: str) -> BindingController:
        """`ensure` watches `api_version` `kind` as templates (once); raises `KindError`/`UnknownKind`."""
        existing = self.controllers.get((api_version, kind))
        if existing is not None:
            return existing
        async with self._lock:
            existing = self.controllers.get((api_version, kind))
            if existing is not None:
                return existing
            resolved = await self.discovery.resolve(api_version, kind)
            informer = self.context.manager.informer(self.context.hub, template_class(resolved))
            controller = BindingController(self.context, resolved, informer)
            controller.setup(workers=self.workers)
            self.controllers[(api_version, kind)] = controller
            log.info("watching %s as templates", resolved)
            return controller


# --- reconcilers -----------------------------------------------------------------------------------------


def _selected_kinds(policy: Mapping[str, Any]) -> list[tuple[str, str]]:
    kinds: list[tuple[str, str]] = []
    for selector in (policy.get("spec") or {}).get("resourceSelectors") or ():
        if not isinstance(selector, Mapping):
            continue
        pair = (str(selector.get("apiVersion", "")), str(selector.get("kind", "")))
        if all(pair) and pair not in kinds:
            kinds.append(pair)
    return kinds


class PolicyReconciler:
    """Checks one kind of policy (key: the policy), starts the watches of the kinds it selects (for
    propagation policies), and writes its `Ready` condition."""

    def __init__(
        self,
        registry: KindRegistry,
        informer: Informer,
        resource: type[Any],
        model: type[BaseModel],
        *,
        watch_kinds: bool,
    ) -> None:
        self.registry = registry
        self.informer = informer
        self.resource = resource
        self.model = model
        self.watch_kinds = watch_kinds

    async def reconcile(self, key: Key) -> Result:
        policy = self.informer.get(key.name, key.namespace)
        if policy is None:
            return Result()
        result = Result()
        try:
            self.model.model_validate(dict(policy))
        except ValidationError as error:
            ready = (False, "InvalidPolicy", validation_message(error))
        else:
            ready = (True, "Accepted", "")
            watched: list[str] = []
            for api_version, kind in _selected_kinds(policy):
                if not self.watch_kinds:
                    reason = reserved_kind(api_version, kind)
                    if reason is not None:
                        ready = (False, KindError.reason, reason)
                    continue
                try:
                    await self.registry.ensure(api_version, kind)
                    watched.append(f"{kind}.{api_version}")
                except KindError as error:
                    ready = (False, error.reason, str(error))
                    if isinstance(error, UnknownKind):
                        result = Result(requeue_after=RETRY_UNKNOWN)
            if ready[0]:
                message = f"watching {', '.join(watched)}" if watched else "valid"
                ready = (True, "Accepted", message)
        await self._write_ready(policy, *ready)
        return result

    async def _write_ready(self, policy: Any, ok: bool, reason: str, message: str) -> None:
        status = policy.get("status") or {}
        current = get_condition(status.get("conditions"), READY)
        wanted = "True" if ok else "False"
        generation = (policy.get("metadata") or {}).get("generation")
        if (
            current is not None
            and (current.get("status"), current.get("reason"), current.get("message"))
            == (wanted, reason, message)
            and current.get("observedGeneration") == generation
        ):
            return
        conditions = set_condition(
            [current] if current else [], READY, ok, reason, message, observed_generation=generation
        )
        metadata = policy.get("metadata") or {}
        await patch_status(
            self.registry.context.client,
            self.resource,
            str(metadata.get("name")),
            {"conditions": conditions},
            namespace=metadata.get("namespace") or None,
            field_manager=POLICY_STATUS_FIELD_MANAGER,
        )


def kind_key(hub: str, api_version: str, kind: str) -> Key:
    """`kind_key` is the work-queue key of a template kind for `KindReconciler`."""
    return Key(hub, None, f"{kind}.{api_version}")


class KindReconciler:
    """Starts the watch of the kind of every existing binding (key: `kind_key`), so templates stay handled
    after a restart even when no policy names their kind any more."""

    def __init__(self, registry: KindRegistry) -> None:
        self.registry = registry

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
