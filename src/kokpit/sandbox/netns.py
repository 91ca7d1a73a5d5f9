"""Calling a function from inside a network namespace, without a subprocess.

The sandbox probes a Pull member's components and creates its nodes over addresses that exist
only in the member's namespace. `setns(2)` moves just the calling thread, and a socket keeps the
namespace it was created in; so `call_in` runs the function in a thread of its own that enters
the namespace first and ends with the call. The rest of the process never leaves the root
namespace.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000


def enter(netns_path: str) -> None:
    """Moves the calling thread into the network namespace at `netns_path`."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({netns_path}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def call_in(netns_path: str | None, function: Callable[[], T]) -> T:
    """`function()` called in the network namespace at `netns_path` (here when None); its result
    or its exception comes back to the caller. Any connection it opens lives in that namespace,
    so it must not outlive the call (a client made inside is used inside)."""
    if netns_path is None:
        return function()
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            enter(netns_path)
            outcome.append(function())
        except BaseException as error:  # handed to the caller
            failure.append(error)

    thread = threading.Thread(target=run, name=f"netns {os.path.basename(netns_path)}", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]
