"""Small asyncio helpers shared by the runtime's long-running parts."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("kokpit.runtime")


async def cancel_and_wait(task: asyncio.Task[object] | asyncio.Task[None]) -> None:
    """`cancel_and_wait` cancels `task` and waits for it to finish.

    The task's own cancellation is swallowed; the caller's is not (if the caller is cancelled
    while it waits, CancelledError propagates). Other failures of the task are logged. Safe to
    use in a `finally` that runs because the caller was cancelled.
    """
    current = asyncio.current_task()
    before = current.cancelling() if current is not None else 0
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        # Count, not flag: in a `finally` after the caller's own cancellation, cancelling() is
        # already non-zero; only a new request made while we waited is the caller's to honour.
        if current is not None and current.cancelling() > before:
            raise
    except Exception:
        log.exception("task %s failed while stopping", task.get_name())
