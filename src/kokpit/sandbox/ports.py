"""Loopback ports for sandbox components.

A port is chosen now and bound later by the component, so it must not be one the kernel may hand
out meanwhile as the ephemeral source port of some outgoing connection. By default the allocator
therefore picks ports below `net.ipv4.ip_local_port_range` (never from it), at random so that two
sandboxes side by side rarely try the same ones, checked free by binding, and never the same port
twice within one sandbox. With a base port the sandbox takes consecutive ports from it, which is
predictable for people, and a port already taken is an error rather than a silent move elsewhere.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

from kokpit.errors import KokpitError

HOST = "127.0.0.1"
LOCAL_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_LOCAL_PORT_RANGE = (32768, 60999)  # the kernel's default
LOWEST_PORT = 10000  # below: well-known and registered services people run by hand
ATTEMPTS = 1000


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


def parse_local_port_range(text: str) -> tuple[int, int]:
    """`ip_local_port_range` as (low, high); the kernel's default when the text is not two ports."""
    parts = text.split()
    try:
        low, high = int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return DEFAULT_LOCAL_PORT_RANGE
    if not 1 <= low <= high <= 65535:
        return DEFAULT_LOCAL_PORT_RANGE
    return low, high


def local_port_range(path: Path = LOCAL_PORT_RANGE) -> tuple[int, int]:
    try:
        return parse_local_port_range(path.read_text())
    except OSError:
        return DEFAULT_LOCAL_PORT_RANGE


def allocatable_ports(local_range: tuple[int, int], *, lowest: int = LOWEST_PORT) -> range:
    """The ports the allocator picks from: below the ephemeral range, from `lowest` up.

    When the ephemeral range starts too low to leave room below it, the ports above its high
    end are used instead; when there are none either, that is a configuration we cannot work in.
    """
    low, high = local_range
    if low - lowest >= 1000:
        return range(lowest, low)
    if 65535 - high >= 1000:
        return range(high + 1, 65536)
    raise KokpitError(
        f"net.ipv4.ip_local_port_range {low}-{high} leaves no ports outside it for the sandbox; "
        "use --base-port or narrow the range"
    )


def pick_port(candidates: range, taken: set[int], rng: random.Random) -> int:
    """A random candidate not yet given out in this sandbox."""
    if len(taken.intersection(candidates)) >= len(candidates):
        raise KokpitError(f"no ports left in {candidates.start}-{candidates.stop - 1}")
    while True:
        port = rng.choice(candidates)
        if port not in taken:
            return port


class PortAllocator:
    """Hands out distinct ports: random ones outside the ephemeral range, or consecutive from `base`."""

    def __init__(
        self,
        *,
        base: int | None = None,
        host: str = HOST,
        local_range: tuple[int, int] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if base is not None and not 1024 <= base <= 65000:
            raise KokpitError(f"--base-port must be between 1024 and 65000, got {base}")
        self._next = base
        self._host = host
        self._given: set[int] = set()
        self._candidates = allocatable_ports(local_range or local_port_range()) if base is None else range(0)
        self._rng = rng or random.Random()

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
        for _ in range(ATTEMPTS):
            port = pick_port(self._candidates, self._given, self._rng)
            if port_is_free(port, host=self._host):
                return port
            self._given.add(port)  # bound by someone else: do not try it again
        raise KokpitError(f"no free port found in {ATTEMPTS} attempts on {self._host}")
