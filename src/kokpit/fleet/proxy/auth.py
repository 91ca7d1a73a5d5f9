"""Asking the hub who a bearer token belongs to (TokenReview) and whether a caller may use the proxy
into a cluster (SubjectAccessReview on `clusters/proxy`): the hub's own authentication and RBAC
decide, so a proxy user is granted exactly like any other hub user.

Answers are kept for a few seconds (`ttl`) so a burst of requests — kubectl's discovery fires dozens
— costs one review, not dozens; refusals are never kept, so a grant takes effect at once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Hashable
from typing import Any

from lightkube import AsyncClient
from lightkube.models.authentication_v1 import TokenReviewSpec
from lightkube.models.authorization_v1 import ResourceAttributes, SubjectAccessReviewSpec
from lightkube.resources.authentication_v1 import TokenReview
from lightkube.resources.authorization_v1 import SubjectAccessReview

from kokpit.api.cluster import CLUSTER
from kokpit.fleet.proxy.identity import Identity, identity_of_token_review

PROXY_SUBRESOURCE = "proxy"


class TimedCache:
    """A few positive answers, each forgotten `ttl` seconds after it was stored."""

    def __init__(self, ttl: float, *, size: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._items: dict[Hashable, tuple[float, Any]] = {}

    def get(self, key: Hashable) -> Any | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[key]
            return None
        return item[1]

    def put(self, key: Hashable, value: Any) -> None:
        if len(self._items) >= self.size:
            self._items.clear()  # crude but bounded: the next reviews refill it
        self._items[key] = (self._clock() + self.ttl, value)


class HubAuth:
    """`HubAuth` asks the hub API server (with the hub process's own client) about callers."""

    def __init__(self, hub: AsyncClient, *, ttl: float = 10.0) -> None:
        self.hub = hub
        self._tokens = TimedCache(ttl)
        self._grants = TimedCache(ttl)

    async def authenticate_token(self, token: str) -> Identity | None:
        """The caller `token` stands for, or None when the hub does not accept it."""
        key = hashlib.sha256(token.encode()).digest()
        cached = self._tokens.get(key)
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        review = await self.hub.create(TokenReview(spec=TokenReviewSpec(token=token)))
        status = review.status.to_dict() if review.status is not None else {}
        identity = identity_of_token_review(status)
        if identity is not None:
            self._tokens.put(key, identity)
        return identity

    async def may_proxy(self, identity: Identity, *, cluster: str, verb: str) -> tuple[bool, str]:
        """Whether `identity` may `verb` the `clusters/proxy` subresource of `cluster`, and the
        hub's reason when it may not."""
        key = (
            identity.user,
            identity.groups,
            identity.uid,
            tuple(sorted(identity.extra.items())),
            cluster,
            verb,
        )
        if self._grants.get(key):
            return True, ""
        review = await self.hub.create(
            SubjectAccessReview(
                spec=SubjectAccessReviewSpec(
                    user=identity.user,
                    groups=list(identity.groups),
                    uid=identity.uid or None,
                    extra={k: list(v) for k, v in identity.extra.items()} or None,
                    resourceAttributes=ResourceAttributes(
                        group=CLUSTER.group,
                        resource=CLUSTER.plural,
                        subresource=PROXY_SUBRESOURCE,
                        name=cluster,
                        verb=verb,
                    ),
                )
            )
        )
        status = review.status
        allowed = bool(status is not None and status.allowed and not status.denied)
        if allowed:
            self._grants.put(key, True)
        return allowed, str((status.reason if status is not None else None) or "")
