"""Kubernetes Events about objects, so errors reach users where they look (`kubectl describe`).

kokpit writes `events.k8s.io/v1` Events: the current API (core/v1 Event is its legacy view of the
same objects, still shown by `kubectl get events`), with `reportingController`/`reportingInstance`
to say which kokpit replica spoke and `series` to count repeats instead of piling up copies.
Recording never raises: an Event that cannot be written is logged, and the reconcile goes on.
"""

from __future__ import annotations

import logging
import secrets
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lightkube import ApiError, AsyncClient
from lightkube.core import resource as lkr
from lightkube.models.core_v1 import ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.events_v1 import Event
from lightkube.types import PatchType

log = logging.getLogger("kokpit.runtime.events")

NORMAL = "Normal"
WARNING = "Warning"

# A repeat within this window bumps the series of the existing Event (client-go uses 6 minutes).
SERIES_WINDOW = 6 * 60.0
MAX_NOTE = 1024
MAX_REMEMBERED = 4096


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int
    last: float


def reference(obj: Any) -> ObjectReference:
    """`reference` is the ObjectReference of a lightkube object (kind taken from its class)."""
    info = lkr.api_info(type(obj)).resource
    meta = obj.metadata
    return ObjectReference(
        apiVersion=info.api_version,
        kind=info.kind,
        name=meta.name,
        namespace=meta.namespace,
        uid=meta.uid,
        resourceVersion=meta.resourceVersion,
    )


class EventRecorder:
    """`EventRecorder` writes Events as `component` (reportingController) from this replica.

    `await recorder.event(obj, "Warning", "ApplyFailed", "member1: forbidden")`.
    """

    def __init__(
        self,
        client: AsyncClient,
        component: str = "kokpit",
        *,
        instance: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.component = component
        self.instance = instance or f"{component}-{socket.gethostname()}"
        self._clock = clock
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()

    async def event(
        self,
        obj: Any,
        type_: str,
        reason: str,
        note: str,
        *,
        action: str = "Reconcile",
    ) -> None:
        """`event` records that `action` on `obj` happened for `reason`; never raises."""
        try:
            await self._record(obj, type_, reason, note, action)
        except Exception as exc:
            log.warning(
                "could not record event %s/%s: %s: %s",
                type_,
                reason,
                type(exc).__name__,
                exc,
                extra={"event_reason": reason},
            )

    async def normal(self, obj: Any, reason: str, note: str, *, action: str = "Reconcile") -> None:
        await self.event(obj, NORMAL, reason, note, action=action)

    async def warning(self, obj: Any, reason: str, note: str, *, action: str = "Reconcile") -> None:
        await self.event(obj, WARNING, reason, note, action=action)

    async def _record(self, obj: Any, type_: str, reason: str, note: str, action: str) -> None:
        if type_ not in (NORMAL, WARNING):
            raise ValueError(f"event type must be Normal or Warning, got {type_!r}")
        note = note if len(note) <= MAX_NOTE else note[: MAX_NOTE - 3] + "..."
        ref = reference(obj)
        namespace = ref.namespace or "default"
        key = (ref.uid or f"{ref.kind}/{namespace}/{ref.name}", type_, reason, action, note)
        now = self._clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen.last < SERIES_WINDOW:
            seen.count += 1
            seen.last = now
            self._seen.move_to_end(key)
            patch = {
                "series": {
                    "count": seen.count,
                    "lastObservedTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                }
            }
            try:
                await self.client.patch(
                    Event, seen.name, patch, namespace=seen.namespace, patch_type=PatchType.MERGE
                )
                return
            except ApiError as exc:
                if exc.status.code != 404:
                    raise
                # Expired or deleted: start a new one.
        name = f"{ref.name}.{int(time.time() * 1e9):x}{secrets.token_hex(2)}"
        event = Event(
            metadata=ObjectMeta(name=name, namespace=namespace),
            eventTime=datetime.now(UTC),
            reportingController=self.component,
            reportingInstance=self.instance[:128],
            action=action[:128],
            reason=reason[:128],
            type=type_,
            regarding=ref,
            note=note,
        )
        await self.client.create(event)
        self._seen[key] = _Seen(name=name, namespace=namespace, count=1, last=now)
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)


__all__ = ["NORMAL", "WARNING", "EventRecorder", "reference"]
