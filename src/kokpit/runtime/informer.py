"""A shared informer: one reflector and one cache per (cluster, resource), many handlers.

Controllers that watch the same kind in the same cluster share one watch and one cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lightkube import AsyncClient

from ._tasks import cancel_and_wait
from .cache import IndexFunc, Store
from .metrics import Metrics
from .reflector import EventHandler, Reflector, resource_name

log = logging.getLogger("kokpit.runtime.informer")


@dataclass
class Handler:
    """`Handler` adapts plain callables to `EventHandler`; any of them may be None."""

    add: Callable[[Any], None] | None = None
    update: Callable[[Any, Any], None] | None = None
    delete: Callable[[Any], None] | None = None

    def on_add(self, obj: Any) -> None:
        if self.add is not None:
            self.add(obj)

    def on_update(self, old: Any, new: Any) -> None:
        if self.update is not None:
            self.update(old, new)

    def on_delete(self, obj: Any) -> None:
        if self.delete is not None:
            self.delete(obj)


class Informer:
    """`Informer` keeps `store` in sync with `resource` in `cluster` and fans events out to handlers.

    `start()` launches the reflector as a task, `stop()` cancels it. A handler added after the
    informer synced is first told about every cached object as an add, as in client-go.
    """

    def __init__(
        self,
        cluster: str,
        resource: type[Any],
        client: AsyncClient,
        *,
        namespace: str | None = None,
        labels: dict[str, str] | None = None,
        fields: dict[str, str] | None = None,
        idle_timeout: float = 120.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.cluster = cluster
        self.resource = resource
        self.resource_name = resource_name(resource)
        self.namespace = namespace
        self.store = Store()
        self._handlers: list[EventHandler] = []
        self.reflector = Reflector(
            client,
            resource,
            self.store,
            self,
            cluster=cluster,
            namespace=namespace,
            labels=labels,
            fields=fields,
            idle_timeout=idle_timeout,
            metrics=metrics,
        )
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Informer({self.cluster!r}, {self.resource_name!r})"

    # The reflector's handler: fan out.
    def on_add(self, obj: Any) -> None:
        for h in list(self._handlers):
            self._call(h.on_add, obj)

    def on_update(self, old: Any, new: Any) -> None:
        for h in list(self._handlers):
            self._call(h.on_update, old, new)

    def on_delete(self, obj: Any) -> None:
        for h in list(self._handlers):
            self._call(h.on_delete, obj)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception(
                "informer handler failed", extra={"cluster": self.cluster, "resource": self.resource_name}
            )

    def add_handler(self, handler: EventHandler) -> None:
        self._handlers.append(handler)
        if self.has_synced():
            for obj in self.store.list():
                self._call(handler.on_add, obj)

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        self.store.add_indexer(name, fn)

    def has_synced(self) -> bool:
        return self.reflector.synced.is_set()

    async def wait_synced(self) -> None:
        """`wait_synced` waits for the first full list (bound it with `asyncio.timeout`)."""
        await self.reflector.synced.wait()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            return
        self._task = asyncio.create_task(
            self.reflector.run(), name=f"reflector {self.cluster}/{self.resource_name}"
        )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        await cancel_and_wait(task)

    def get(self, name: str, namespace: str | None = None) -> Any | None:
        return self.store.get(name, namespace)

    def list(self, namespace: str | None = None) -> list[Any]:
        return self.store.list(namespace)
