"""Loopback ports for sandbox components.

By default the kernel picks free ports, so a sandbox never collides with another one (tests and the
demo can run side by side). With a base port the sandbox takes consecutive ports from it, which is
predictable for people, and a port already taken is an error rather than a silent move elsewhere.
"""

from __future__ import annotations

import socket

from kokpit.errors import KokpitError

HOST = "127.0.0.1"


class PortInUseError(KokpitError):
    """A requested port is already bound by another process."""


def port_is_free(port: int, *, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class PortAllocator:
    """Hands out distinct ports: kernel-chosen, or consecutive from `base` when given."""

    def __init__(self, *, base: int | None = None, host: str = HOST) -> None:
        if base is not None and not 1024 <= base <= 65000:
            raise KokpitError(f"--base-port must be between 1024 and 65000, got {base}")
        self._next = base
        self._host = host
        self._given: set[int] = set()

    def take(self) -> int:
        if self._next is not None:
            port = self._next
            self._next += 1
            if not port_is_free(port, host=self._host):
                raise PortInUseError(f"port {self._host}:{port} is already in use")
        else:
            port = self._free_port()
        self._given.add(port)
        return port

    def _free_port(self) -> int:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((self._host, 0))
                port = int(sock.getsockname()[1])
            if port not in self._given:
                return port
