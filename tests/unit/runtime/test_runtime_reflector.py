"""The reflector's decisions: how it recovers from a failed list or watch, what events do to its
store and resourceVersion (bookmarks included), and how its backoff grows."""

from __future__ import annotations

from typing import Any, cast

import httpx2
import pytest
from lightkube import AsyncClient
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap

from kokpit.runtime.cache import Store
from kokpit.runtime.reflector import (
    RESTART_ERROR,
    RESTART_GONE,
    RESTART_IDLE,
    Backoff,
    Recovery,
    Reflector,
    recovery_for,
)


def http_error(code: int) -> httpx2.HTTPStatusError:
    request = httpx2.Request("GET", "https://127.0.0.1/api/v1/configmaps")
    return httpx2.HTTPStatusError("failed", request=request, response=httpx2.Response(code, request=request))


@pytest.mark.parametrize(
    ("exc", "listing", "expected"),
    [
        pytest.param(TimeoutError(), False, Recovery(False, RESTART_IDLE, False), id="idle watch resumes"),
        pytest.param(http_error(410), False, Recovery(True, RESTART_GONE, False), id="410 on watch relists"),
        pytest.param(http_error(410), True, Recovery(True, RESTART_GONE, False), id="410 on list relists"),
        pytest.param(http_error(500), False, Recovery(False, RESTART_ERROR, True), id="watch error"),
        pytest.param(ConnectionRefusedError(), False, Recovery(False, RESTART_ERROR, True), id="unreachable"),
        pytest.param(ConnectionRefusedError(), True, Recovery(True, None, True), id="list error"),
    ],
)
def test_recovery_for(exc: BaseException, listing: bool, expected: Recovery) -> None:
    assert recovery_for(exc, listing=listing) == expected


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(initial=1.0, maximum=4.0)
    delays = [backoff.next() for _ in range(5)]
    for delay, base in zip(delays, [1.0, 2.0, 4.0, 4.0, 4.0], strict=True):
        assert 0.8 * base <= delay <= 1.2 * base
    backoff.reset()
    assert 0.8 <= backoff.next() <= 1.2


class Recording:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def on_add(self, obj: Any) -> None:
        self.calls.append(("add", obj.metadata.name))

    def on_update(self, old: Any, new: Any) -> None:
        self.calls.append(("update", new.metadata.name))

    def on_delete(self, obj: Any) -> None:
        self.calls.append(("delete", obj.metadata.name))


def config_map(name: str, rv: str) -> ConfigMap:
    return ConfigMap(metadata=ObjectMeta(name=name, namespace="ns", resourceVersion=rv))


def reflector() -> tuple[Reflector, Store, Recording]:
    store, handler = Store(), Recording()
    return Reflector(cast(AsyncClient, object()), ConfigMap, store, handler, cluster="hub"), store, handler


def test_a_bookmark_moves_the_resource_version_and_nothing_else() -> None:
    r, store, handler = reflector()
    r._apply("ADDED", config_map("a", "5"))
    r._apply("BOOKMARK", config_map("", "9"))
    assert r.last_resource_version == "9"
    assert [obj.metadata.name for obj in store.list()] == ["a"]
    assert handler.calls == [("add", "a")]
    r._apply("BOOKMARK", config_map("", ""))
    assert r.last_resource_version == "9"


def test_watch_events_update_the_store_and_tell_the_handler() -> None:
    r, store, handler = reflector()
    r._apply("ADDED", config_map("a", "1"))
    r._apply("MODIFIED", config_map("a", "2"))
    r._apply("ADDED", config_map("b", "3"))
    r._apply("DELETED", config_map("a", "4"))
    r._apply("ERROR", config_map("c", "99"))  # ignored, and does not move the resourceVersion
    assert handler.calls == [("add", "a"), ("update", "a"), ("add", "b"), ("delete", "a")]
    assert [obj.metadata.name for obj in store.list()] == ["b"]
    assert r.last_resource_version == "4"


def test_a_relist_reports_what_changed_while_not_watching() -> None:
    r, store, handler = reflector()
    r._replace([config_map("kept", "1"), config_map("changed", "1"), config_map("gone", "1")])
    handler.calls.clear()
    r._replace([config_map("kept", "1"), config_map("changed", "2"), config_map("new", "1")])
    assert sorted(handler.calls) == [("add", "new"), ("delete", "gone"), ("update", "changed")]
    assert sorted(obj.metadata.name for obj in store.list()) == ["changed", "kept", "new"]
