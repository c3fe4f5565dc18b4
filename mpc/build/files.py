"""Files in the output tree, read and written without trusting what is there: no symlink is followed,
nothing but a regular file is read, and every relative path is checked before it is used."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from mpc.build.lock import LOCK_NAME, Lock

TEMP_PREFIX = ".mpc-tmp-"
_ODD_PARTS = frozenset({"", ".", ".."})
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_READ_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0)
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def check_path(path: str) -> str | None:
    """Why a relative output path is unsafe, or None."""
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        return "is not a relative POSIX path"
    # Normalised and inside the folder exactly when no component is empty, "." or "..".
    if not _ODD_PARTS.isdisjoint(path.split("/")):
        return "would leave the output folder or is not normalised"
    if path == LOCK_NAME or path.split("/")[0].startswith(TEMP_PREFIX):
        return "is reserved by mpc"
    return None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_regular(target: str) -> bytes | None:
    """The bytes of a regular file, not through a symlink; None for anything else (never blocks on a FIFO)."""
    try:
        fd = os.open(target, _READ_FLAGS)  # O_NOFOLLOW: a symlink fails to open
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (not _NOFOLLOW and os.path.islink(target)):
            return None
        chunks = [os.read(fd, info.st_size + 1)]  # the whole file at once, then read on to the end
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def write_new(target: str, data: bytes, mode: int = 0o666) -> None:
    """Create a file that must not exist yet (O_EXCL, no symlink followed) and write all of `data`."""
    fd = os.open(target, _WRITE_FLAGS, mode)
    try:
        view = memoryview(data)
        written = 0
        while written < len(data):
            written += os.write(fd, view[written:])
    except OSError as exc:  # a full disk, `ulimit -f`: name the file, as open() would have
        raise OSError(exc.errno, exc.strerror, target) from None
    finally:
        os.close(fd)


def read_lock(out: Path) -> Lock | None:
    """The lock of the tree in `out`, or None where there is none (or nothing that parses as one)."""
    raw = read_regular(str(out / LOCK_NAME))
    return Lock.parse(raw) if raw is not None else None
