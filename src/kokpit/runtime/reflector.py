"""List-then-watch of one resource kind in one cluster, keeping a `Store` equal to the API server.

The loop is client-go's reflector:

1. list (paginated) and remember the list's resourceVersion; replace the store, telling handlers
   what was added, changed, and what vanished while we were not watching;
2. watch from that resourceVersion with bookmarks, tracking the newest resourceVersion seen;
3. when the watch ends: a server-side timeout resumes from the last resourceVersion; no event nor
   bookmark for `idle_timeout` seconds resumes likewise (a half-open connection looks exactly like
   a quiet one); 410 Gone means our resourceVersion is too old, so we list again; an unreachable
   API server is retried with capped exponential backoff, resuming from the last resourceVersion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import httpx2
from lightkube import ALL_NS, ApiError, AsyncClient
from lightkube.core import resource as lkr
from lightkube.types import on_error_raise

from .cache import Store
from .keys import namespace_name, resource_version
from .logs import with_fields
from .metrics import Metrics

log = logging.getLogger("kokpit.runtime.reflector")

RESTART_IDLE = "idle"
RESTART_GONE = "gone"
RESTART_ERROR = "error"


class EventHandler(Protocol):
    """What a reflector tells about changes. Handlers must be quick and must not block."""

    def on_add(self, obj: Any) -> None: ...

    def on_update(self, old: Any, new: Any) -> None: ...

    def on_delete(self, obj: Any) -> None: ...


def resource_name(res: type[Any]) -> str:
    """`resource_name` is the `plural.group` name of a resource class, e.g. `leases.coordination.k8s.io`."""
    info = lkr.api_info(res)
    group = info.resource.group
    return f"{info.plural}.{group}" if group else str(info.plural)


def is_namespaced(res: type[Any]) -> bool:
    return issubclass(res, lkr.NamespacedResource)


def _status_code(exc: BaseException) -> int | None:
    if isinstance(exc, ApiError):
        code = exc.status.code
        return int(code) if code is not None else None
    if isinstance(exc, httpx2.HTTPStatusError):
        return exc.response.status_code
    return None


@dataclass
class Backoff:
    """Capped exponential backoff with jitter for reconnecting; `reset` after a success."""

    initial: float = 0.5
    maximum: float = 30.0
    _next: float = 0.0

    def next(self) -> float:
        self._next = self.initial if self._next == 0.0 else min(self._next * 2, self.maximum)
        return self._next * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = 0.0


@dataclass(frozen=True)
class Recovery:
    """What the reflector does after a list or watch ended with an exception."""

    relist: bool  # list again before watching (our resourceVersion is no longer usable)
    restart_reason: str | None  # counted in kokpit_watch_restarts_total when a watch restarts
    back_off: bool  # wait `Backoff.next()` before trying again


def recovery_for(exc: BaseException, *, listing: bool) -> Recovery:
    """`recovery_for` decides how to go on after `exc` ended a list (`listing`) or a watch.

    An idle watch (TimeoutError) resumes at once from the last resourceVersion; 410 Gone means
    that resourceVersion expired, so list again at once; anything else (API server unreachable,
    5xx) backs off and retries what failed. Only watches count as restarts, except that an idle
    timeout and 410 are counted wherever they happen.
    """
    if isinstance(exc, TimeoutError):
        return Recovery(relist=listing, restart_reason=RESTART_IDLE, back_off=False)
    if _status_code(exc) == 410:
        return Recovery(relist=True, restart_reason=RESTART_GONE, back_off=False)
    return Recovery(relist=listing, restart_reason=None if listing else RESTART_ERROR, back_off=True)


class Reflector:
    """`Reflector` runs list-then-watch for `resource` in `cluster` until cancelled.

    `namespace` limits it to one namespace (all namespaces when None), `labels` to a label
    selector, `fields` to a field selector of equalities (`{"metadata.name": "edge1"}`: a client
    whose RBAC names single objects may list and watch only those, and only this way). `synced`
    is set after the first successful list. Works for lightkube typed resources and for generic
    ones made with `lightkube.generic_resource`.
    """

    def __init__(
        self,
        client: AsyncClient,
        resource: type[Any],
        store: Store,
        handler: EventHandler,
        *,
        cluster: str,
        namespace: str | None = None,
        labels: dict[str, str] | None = None,
        fields: dict[str, str] | None = None,
        idle_timeout: float = 120.0,
        server_timeout: int = 300,
        page_size: int = 500,
        metrics: Metrics | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.resource = resource
        self.store = store
        self.handler = handler
        self.cluster = cluster
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.idle_timeout = idle_timeout
        self.server_timeout = server_timeout
        self.page_size = page_size
        self.metrics = metrics
        self.backoff = backoff if backoff is not None else Backoff()
        self.synced = asyncio.Event()
        self.last_resource_version: str | None = None
        self.resource_name = resource_name(resource)
        self._log = with_fields(log, cluster=cluster, resource=self.resource_name)

    def _scope(self) -> str | None:
        if not is_namespaced(self.resource):
            return None
        return self.namespace if self.namespace is not None else ALL_NS

    def _restart(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.watch_restarts_total.labels(self.cluster, self.resource_name, reason).inc()

    async def run(self) -> None:
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                    self.backoff.reset()
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                recovery = recovery_for(exc, listing=need_list)
                if recovery.restart_reason is not None:
                    self._restart(recovery.restart_reason)
                if recovery.restart_reason == RESTART_IDLE:
                    self._log.info("no event for %.0fs; restarting the watch", self.idle_timeout)
                elif recovery.restart_reason == RESTART_GONE:
                    self._log.info("resourceVersion %s expired; listing again", self.last_resource_version)
                need_list = need_list or recovery.relist
                if not recovery.back_off:
                    continue
                delay = self.backoff.next()
                self._log.warning(
                    "%s failed (%s: %s); retrying in %.1fs",
                    "list" if need_list else "watch",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _list(self) -> None:
        kwargs: dict[str, Any] = {"chunk_size": self.page_size}
        if self.labels:
            kwargs["labels"] = self.labels
        if self.fields:
            kwargs["fields"] = self.fields
        scope = self._scope()
        if scope is not None:
            kwargs["namespace"] = scope
        listing = self.client.list(self.resource, **kwargs)
        objs = [obj async for obj in listing]
        rv = listing.resourceVersion
        self._replace(objs)
        self.last_resource_version = rv
        if not self.synced.is_set():
            self._log.info("synced %d objects at resourceVersion %s", len(objs), rv)
        self.synced.set()

    def _replace(self, objs: list[Any]) -> None:
        old_objs = {namespace_name(o): o for o in self.store.list()}
        self.store.replace(objs)
        for obj in objs:
            key = namespace_name(obj)
            old = old_objs.pop(key, None)
            if old is None:
                self._emit("add", obj)
            elif resource_version(old) != resource_version(obj):
                self._emit("update", obj, old)
        for gone in old_objs.values():
            self._emit("delete", gone)

    def _emit(self, kind: str, obj: Any, old: Any = None) -> None:
        try:
            if kind == "add":
                self.handler.on_add(obj)
            elif kind == "update":
                self.handler.on_update(old, obj)
            else:
                self.handler.on_delete(obj)
        except Exception:
            self._log.exception("event handler failed on %s", kind)

    def _open_watch(self) -> AsyncIterator[tuple[str, Any]]:
        # lightkube's public watch() cannot ask for bookmarks; its request builder and watch
        # driver can, and they already resume from the last resourceVersion seen (bookmarks
        # included) when the server ends a watch at its timeout.
        inner = self.client._client
        params: dict[str, Any] = {
            "resourceVersion": self.last_resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": int(self.server_timeout * random.uniform(1.0, 2.0)),
        }
        if self.labels:
            params["labelSelector"] = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        if self.fields:
            params["fieldSelector"] = ",".join(f"{k}={v}" for k, v in sorted(self.fields.items()))
        request = inner.prepare_request(
            "list", res=self.resource, namespace=self._scope(), watch=True, params=params
        )
        stream: AsyncIterator[tuple[str, Any]] = inner.watch(request, on_error=on_error_raise)
        return stream

    async def _watch(self) -> None:
        stream = self._open_watch()
        try:
            while True:
                # The generator runs in this task, so the timeout cancels its read and it closes
                # the response; TimeoutError then reports an idle watch.
                async with asyncio.timeout(self.idle_timeout):
                    event_type, obj = await anext(stream)
                self.backoff.reset()
                self._apply(event_type, obj)
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()  # type: ignore[attr-defined]

    def _apply(self, event_type: str, obj: Any) -> None:
        rv = resource_version(obj)
        if event_type == "BOOKMARK":
            if rv:
                self.last_resource_version = rv
            return
        if event_type == "ADDED" or event_type == "MODIFIED":
            old = self.store.put(obj)
            if old is None:
                self._emit("add", obj)
            else:
                self._emit("update", obj, old)
        elif event_type == "DELETED":
            namespace, name = namespace_name(obj)
            self.store.delete(namespace, name)
            self._emit("delete", obj)
        else:
            self._log.warning("unexpected watch event type %r", event_type)
            return
        if rv:
            self.last_resource_version = rv
