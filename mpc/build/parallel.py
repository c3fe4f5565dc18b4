"""forked: one piece of a build's work in a forked child that answers in bytes (this machine has two cores).

The child runs a pure function of what it inherited, writes its answer to a pipe and leaves without any
cleanup. The parent always has the last word: when the child cannot start, fails, or is abandoned, the
caller does the work itself, so the result never depends on whether a child ran.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Callable
from typing import BinaryIO


def can_fork() -> bool:
    # fork() in a threaded process may deadlock the child on a lock another thread held.
    return hasattr(os, "fork") and threading.active_count() == 1 and os.environ.get("MPC_JOBS") != "1"


class Child:
    def __init__(self, pid: int, pipe: BinaryIO) -> None:
        self._pid: int | None = pid
        self._pipe = pipe

    def answer(self) -> bytes | None:
        """The child's answer, or None when it failed; waits for it."""
        if self._pid is None:
            return None
        try:
            payload = self._pipe.read()
        finally:
            status = self._end()
        return payload if status == 0 else None

    def abandon(self) -> None:
        """Stop listening (the child's write then fails and it exits) and wait for it."""
        if self._pid is not None:
            self._end()

    def _end(self) -> int:
        self._pipe.close()  # closed before the wait: a child still writing gets EPIPE, so this never blocks
        pid, self._pid = self._pid, None
        assert pid is not None
        _, status = os.waitpid(pid, 0)
        return status


def start(work: Callable[[], bytes]) -> Child | None:
    """`work()` in a forked child; None where this process cannot fork (do the work here instead)."""
    if not can_fork():
        return None
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # the child
        status = 1
        try:
            os.close(read_end)
            gc.disable()  # a short-lived process: collections would only copy the parent's pages
            payload = work()
            with open(write_end, "wb") as sink:
                sink.write(payload)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return Child(pid, open(read_end, "rb"))
