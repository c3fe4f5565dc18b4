"""parallel: the one place mpc uses a second process, for two pieces of a build.

- Rendering and serialising the services whose output is not in the cache (mpc.build.compile): half of
  them in a forked child, a pure function of what it inherited, that answers in bytes through a pipe.
  The parent always has the last word: when the child cannot start, fails, or answers something
  malformed, the parent does that half itself, so the result never depends on whether a child ran.
- Finishing a large build after its tree is in place (deleting the replaced tree, recording what the
  new one looks like): in a detached process that holds the build lock until it is done, so the command
  returns as soon as the new tree is whole, and the next build into the folder waits for it.

`MPC_JOBS=1` keeps everything in one process.
"""

from __future__ import annotations

import gc
import marshal
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, TypeVar

T = TypeVar("T")
R = TypeVar("R")
PARALLEL_MIN = 200  # below this many items a second process costs more than it saves


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


def split_map(
    items: Sequence[T], work: Callable[[Sequence[T]], list[R]], valid: Callable[[Any], bool]
) -> list[R]:
    """`work(items)`, the second half in a forked child when there are enough items.

    `work` returns one marshal-able result per item, in order; `valid` checks one result the child sent.
    """
    if len(items) < PARALLEL_MIN:
        return work(items)
    # The child is the slower half: its first touch of each page copies it (copy-on-write).
    half = len(items) * 55 // 100
    child = start(lambda: marshal.dumps(work(items[half:]), 2))
    if child is None:
        return work(items)
    try:
        first = work(items[:half])
    except BaseException:
        child.abandon()
        raise
    payload = child.answer()
    second: Any = None
    if payload is not None:
        try:
            second = marshal.loads(payload)
        except (ValueError, EOFError, TypeError):
            second = None
    if not (isinstance(second, list) and len(second) == len(items) - half and all(map(valid, second))):
        return first + work(items[half:])
    return first + list(second)


def detach(work: Callable[[], None]) -> bool:
    """`work()` in a detached process (it outlives this one, with no terminal and no output): True when
    it was started; False where this process cannot fork, and the caller does the work itself. The
    process inherits the open files, the build lock among them, and keeps them until it is done."""
    if not can_fork():
        return False
    try:
        pid = os.fork()
    except OSError:
        return False
    if pid == 0:  # the child: start the worker and leave at once, so nobody waits for the worker
        status = 1
        try:
            if os.fork() == 0:
                os.setsid()
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):  # a reader of this command's output must not wait for the worker
                    os.dup2(null, fd)
                gc.disable()
                try:
                    work()
                finally:
                    os._exit(0)
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    return status == 0
