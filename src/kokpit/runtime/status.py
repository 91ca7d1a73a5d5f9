"""The one way a kokpit controller writes status: gather it during the reconcile, write it once.

    async with status_writer(client, ClusterResource, cluster, owned=("Ready", "Healthy")) as status:
        status.fields["lastProbeTime"] = now
        status.set(Condition.false("Healthy", "Unreachable", "connection refused"))
        ...               # a step that raises here still leaves Healthy written
        status.summarize_ready(("Healthy",))

Modelled on Cluster API's patch helper: the reconcile records what it observed as it goes, and the
write happens in a `finally`, so a failed step is followed by an honest status rather than a stale
one. The writer

- owns a set of condition types (`owned`): those it sets replace their old values (transition time
  kept while the status is unchanged); owned types not set in this pass keep their old value; types
  it does not own are never written, so two writers with their own field managers can share one
  object's conditions (conditions are a list-map keyed by `type`);
- owns the top-level status fields it puts in `fields`: under server-side apply, a field it wrote
  before and leaves out now is removed (start from `current_fields` to keep them);
- writes nothing when the result equals what the object already has (no write amplification for a
  level-triggered reconcile that found nothing new);
- treats a 404 (the object was deleted meanwhile) as nothing to write.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from lightkube import ApiError, AsyncClient

from .apply import FIELD_MANAGER, patch_status
from .conditions import (
    FALSE,
    READY,
    TRUE,
    UNKNOWN,
    Condition,
    condition_view,
    get_condition,
    set_condition,
)
from .keys import namespace_name

log = logging.getLogger("kokpit.runtime.status")


class StatusPatch:
    """What one reconcile will write to an object's status; see the module docstring."""

    def __init__(
        self,
        current: Mapping[str, Any] | None,
        *,
        owned: Collection[str],
        generation: int | None = None,
        now: datetime | None = None,
    ) -> None:
        self.current: dict[str, Any] = dict(current or {})
        self.owned = frozenset(owned)
        self.generation = generation
        self.now = now
        self.fields: dict[str, Any] = {}
        """Top-level status fields (other than `conditions`) this writer owns, as they should be."""
        self._conditions = [
            dict(c) for c in self.current.get("conditions") or () if c.get("type") in self.owned
        ]

    def current_fields(self, *names: str) -> dict[str, Any]:
        """`current_fields` copies the named fields from the current status (those present)."""
        return {name: self.current[name] for name in names if name in self.current}

    def set(self, condition: Condition) -> None:
        """`set` records `condition`, whose type must be one this writer owns."""
        if condition.type not in self.owned:
            raise ValueError(
                f"condition {condition.type!r} is not owned by this writer ({sorted(self.owned)})"
            )
        self._conditions = set_condition(
            self._conditions,
            condition.type,
            condition.status,
            condition.reason,
            condition.message,
            observed_generation=self.generation,
            now=self.now,
        )

    def get(self, type_: str) -> Condition | None:
        """`get` is condition `type_` as it stands in this pass (set now, or kept from before)."""
        found = get_condition(self._conditions, type_)
        return Condition.of(found) if found is not None else None

    def summarize_ready(
        self,
        types: Iterable[str],
        *,
        reason: str = "Ready",
        message: str = "",
        negative: Collection[str] = (),
    ) -> Condition:
        """`summarize_ready` sets `Ready` from the conditions `types` and returns it.

        `Ready` is False with the reason and message of the first condition (in the order given) that
        is bad (False, or True for a `negative` type such as `Degraded`), Unknown with those of the
        first that is Unknown or missing, and True with `reason`/`message` when all are good.
        """
        ready = summarize(self._conditions, types, reason=reason, message=message, negative=negative)
        self.set(ready)
        return ready

    @property
    def conditions(self) -> list[dict[str, Any]]:
        return [dict(c) for c in self._conditions]

    def status(self) -> dict[str, Any]:
        """The status to apply: `fields` plus the owned conditions (if any)."""
        status = dict(self.fields)
        if self.owned:
            status["conditions"] = self.conditions
        return status

    def changed(self) -> bool:
        """`changed` is true when applying `status()` would change what the object has now."""
        for name, value in self.fields.items():
            if self.current.get(name) != value:
                return True
        before = [c for c in self.current.get("conditions") or () if c.get("type") in self.owned]
        return condition_view(before) != condition_view(self._conditions)


def summarize(
    conditions: Iterable[Mapping[str, Any]],
    types: Iterable[str],
    *,
    reason: str = "Ready",
    message: str = "",
    negative: Collection[str] = (),
) -> Condition:
    """`summarize` derives a `Ready` condition from `conditions` of `types`; see `summarize_ready`."""
    by_type = {str(c.get("type")): c for c in conditions}
    unknown: Condition | None = None
    for type_ in types:
        found = by_type.get(type_)
        if found is None:
            unknown = unknown or Condition(READY, UNKNOWN, f"{type_}NotObserved", f"{type_} not observed yet")
            continue
        status = found.get("status")
        good = FALSE if type_ in negative else TRUE
        if status == UNKNOWN:
            unknown = unknown or Condition(
                READY, UNKNOWN, str(found.get("reason") or type_), str(found.get("message") or "")
            )
        elif status != good:
            return Condition(READY, FALSE, str(found.get("reason") or type_), str(found.get("message") or ""))
    return unknown or Condition(READY, TRUE, reason, message)


@asynccontextmanager
async def status_writer(
    client: AsyncClient,
    resource: type[Any],
    obj: Any,
    *,
    owned: Collection[str] = (),
    field_manager: str = FIELD_MANAGER,
    now: datetime | None = None,
) -> AsyncIterator[StatusPatch]:
    """`status_writer` yields a `StatusPatch` for `obj` and applies it once on the way out, also when
    the body raised (the body's exception then propagates; a failed write is logged, not raised over
    it). Without an exception, a failed write raises."""
    namespace, name = namespace_name(obj)
    current = _status_of(obj)
    metadata = obj["metadata"] if isinstance(obj, Mapping) else obj.metadata
    generation = metadata.get("generation") if isinstance(metadata, Mapping) else metadata.generation
    patch = StatusPatch(current, owned=owned, generation=generation, now=now)
    try:
        yield patch
    except BaseException:
        try:
            await _write(client, resource, name, namespace, patch, field_manager)
        except Exception as error:  # the body's error is the one to report
            log.warning(
                "could not write status of %s/%s after a failed reconcile: %s", namespace, name, error
            )
        raise
    await _write(client, resource, name, namespace, patch, field_manager)


async def _write(
    client: AsyncClient,
    resource: type[Any],
    name: str,
    namespace: str | None,
    patch: StatusPatch,
    field_manager: str,
) -> None:
    if not patch.changed():
        return
    try:
        await patch_status(
            client, resource, name, patch.status(), namespace=namespace, field_manager=field_manager
        )
    except ApiError as error:
        if error.status.code != 404:
            raise


def _status_of(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj.get("status") or {})
    status = getattr(obj, "status", None)
    if status is None:
        return {}
    if isinstance(status, Mapping):
        return dict(status)
    to_dict = getattr(status, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else {}
