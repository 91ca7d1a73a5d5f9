"""The agents' tunnels the hub holds: at most one live link per Pull cluster.

An agent that dials again (after a network cut the hub has not noticed yet, or a restart) replaces
its older link, whose streams end at once: the newest link is the one that works.
"""

from __future__ import annotations

import asyncio

from kokpit.runtime.tunnel import Session


class Tunnels:
    """`Tunnels` maps a Pull cluster's name to the session over its agent's link."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._changed = asyncio.Event()

    def attach(self, cluster: str, session: Session) -> None:
        old = self._sessions.get(cluster)
        self._sessions[cluster] = session
        if old is not None and old is not session:
            old.close("replaced by a newer link of the same agent")
        self._notify()

    def detach(self, cluster: str, session: Session) -> None:
        if self._sessions.get(cluster) is session:
            del self._sessions[cluster]
            self._notify()

    def get(self, cluster: str) -> Session | None:
        session = self._sessions.get(cluster)
        return None if session is None or session.closed else session

    def connected(self) -> list[str]:
        """The clusters whose agent holds a live link now, sorted."""
        return sorted(name for name, session in self._sessions.items() if not session.closed)

    async def wait_connected(self, cluster: str, *, timeout: float) -> Session:
        """Waits until `cluster`'s agent is connected; raises TimeoutError."""
        async with asyncio.timeout(timeout):
            while (session := self.get(cluster)) is None:
                await self._changed.wait()
        return session

    def close(self) -> None:
        for session in self._sessions.values():
            session.close("the hub's proxy stopped")
        self._sessions.clear()
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
