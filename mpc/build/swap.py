"""The output folder: chosen safely, locked while a build writes it, replaced as a whole.

- **Which folder.** `output_folder` refuses what cannot be a dedicated output folder: an empty path,
  the root of a file system, the current folder or one above it, the home folder, a mount point. A
  symlink to a folder builds into that folder (the link stays).
- **One build at a time.** `build_lock` holds an exclusive lock on the output's parent folder (flock):
  builds into one folder run one after another, and `--check` takes a shared lock, so it never reads a
  tree in the middle of a swap. Temporary folders (`.mpc-tmp-<name>-*`) left by a build that died are
  removed by the next build that holds the lock, and only then.
- **Whole or not at all.** The new tree is assembled in a temporary folder beside the target: unchanged
  files are hard-linked from the old tree, changed ones written, files mpc does not own carried over
  (linked, so with their owners and modes), folders made with the modes and owners they had; then the
  two folders are exchanged in one step (renameat2 RENAME_EXCHANGE on Linux; two renames elsewhere). A
  failure or a kill before the exchange leaves the previous tree as it was.
- **Reading only what changed.** After a build, mpc records (in the user cache, never in the tree) the
  sha256, size, mtime, ctime and inode of every file it wrote (`Seen`). The next build takes a file
  whose status is unchanged as holding those bytes without reading it: nobody can set a file's ctime
  back, so an edit always shows. A file whose ctime is too close to the moment it was seen is recorded
  as unknown (the clock may not have ticked since), and read next time.
- **Only its own files.** A path mpc writes that holds something mpc did not write (a file with other
  bytes, a symlink, a folder, a FIFO) is refused (E315), as is a symlink or file where mpc needs a
  folder. A file mpc wrote before and no longer produces is pruned only when it still has the bytes
  mpc wrote; edited by hand, it is kept and reported.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mpc.build.files import TEMP_PREFIX, read_regular, sha256, write_new
from mpc.build.lock import LOCK_NAME
from mpc.errors import Code, Diagnostic, EnvironmentFailure, Location, MpcError

# path -> (sha256, size, mtime_ns, ctime_ns, inode): a file as mpc last saw it in a tree it wrote.
Seen = Mapping[str, tuple[str, int, int, int, int]]
RACY_NS = 100_000_000  # a ctime this close to when it was seen may not have ticked yet: read next time


@dataclass(frozen=True)
class Summary:
    written: list[str]
    changed: list[str]
    unchanged: list[str]
    pruned: list[str]
    kept: list[str] = field(default_factory=list)  # no longer generated, but edited by hand: left alone

    def line(self, out: str) -> str:
        return (
            f"{out}: {len(self.written)} written, {len(self.changed)} changed, "
            f"{len(self.unchanged)} unchanged, {len(self.pruned)} pruned"
        )

    @property
    def stale(self) -> list[str]:
        """What a build would write, change or prune (`build --check`)."""
        return sorted(self.written + self.changed + self.pruned)


def _refuse(path: str, message: str, hint: str) -> MpcError:
    return MpcError([Diagnostic(Code.OUTPUT_FOLDER, message, Location(path), hint)])


def output_folder(out: Path) -> Path:
    """The folder a build of `out` writes (symlinks followed), or a refusal naming why it cannot be."""
    text = os.fspath(out)
    if not text.strip():
        raise _refuse("<command line>", "the output folder is an empty path", "name a folder, e.g. -o out/")
    real = Path(os.path.realpath(text))
    shown = text
    if real.exists() and not real.is_dir():
        raise _refuse(shown, f"{shown} exists and is not a folder", "name a folder, or move the file away")
    if real.parent == real:
        raise _refuse(
            shown, f"{shown} is the root of the file system", "name a folder of its own, e.g. -o out/"
        )
    here = Path(os.path.realpath(os.getcwd()))
    if here == real or real in here.parents:
        raise _refuse(
            shown,
            f"{shown} is the current folder or one above it: a build replaces its output folder as a whole",
            "name a folder of its own, e.g. -o out/",
        )
    home = Path(os.path.realpath(Path.home()))
    if home == real or real in home.parents:
        raise _refuse(shown, f"{shown} is the home folder or above it", "name a folder of its own")
    if real.is_dir() and os.path.ismount(real):
        raise _refuse(
            shown,
            f"{shown} is a mount point: a build replaces its output folder as a whole",
            "build into a folder inside the mount",
        )
    return real


@contextlib.contextmanager
def build_lock(folder: Path, *, shared: bool = False) -> Iterator[None]:
    """An exclusive (or shared) lock on the folder's parent for as long as a build writes (or reads) it."""
    import fcntl

    parent = folder.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileExistsError as exc:  # a file where a folder of the path should be
        raise EnvironmentFailure(str(parent), "a file is in the way of this folder") from exc
    except OSError as exc:
        raise EnvironmentFailure.of(exc, str(parent)) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _temp_prefix(out: Path) -> str:
    return f"{TEMP_PREFIX}{out.name}-"


def clean_stale_temps(out: Path) -> None:
    """Remove the temporary folders of builds of `out` that died; call with the build lock held."""
    prefix = _temp_prefix(out)
    with contextlib.suppress(OSError), os.scandir(out.parent) as entries:
        stale = [e.path for e in entries if e.name.startswith(prefix) and e.is_dir(follow_symlinks=False)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)


def _foreign(out: Path, path: str, what: str) -> Diagnostic:
    return Diagnostic(
        Code.FOREIGN_FILE,
        f"refusing to replace {path}: {what}, which mpc did not write",
        Location(str(out / path)),
        "move it away (or delete it) and build again",
    )


class _Disk:
    """What is in the old tree, looked at once per path."""

    def __init__(self, root: str, seen: Seen) -> None:
        self.root = root
        self.exists = os.path.isdir(root)
        self.seen = seen
        self._problems: dict[str, tuple[str, str] | None] = {}  # folder -> (path, what) in the way, or None

    def known(self, path: str, st: os.stat_result | None) -> str | None:
        """The sha256 of a file's bytes, when its status is what mpc saw after writing it."""
        record = self.seen.get(path)
        if record is None or st is None:
            return None
        digest, size, mtime, ctime, ino = record
        if (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino) != (size, mtime, ctime, ino):
            return None
        return digest

    def kind(self, path: str) -> tuple[str, os.stat_result | None]:
        try:
            st = os.lstat(f"{self.root}/{path}")
        except FileNotFoundError:
            return "missing", None
        except NotADirectoryError:
            return "missing", None
        mode = st.st_mode
        if stat.S_ISREG(mode):
            return "file", st
        if stat.S_ISLNK(mode):
            return "a symlink", st
        if stat.S_ISDIR(mode):
            return "a folder", st
        return "a special file", st

    def folder_problem(self, folder: str, owned: Mapping[str, str]) -> tuple[str, str] | None:
        """(path, what) when something other than a folder stands where mpc needs one (a folder and
        its parents are looked at once)."""
        if not self.exists or not folder:
            return None
        if folder in self._problems:
            return self._problems[folder]
        parent = folder.rpartition("/")[0]
        found = self.folder_problem(parent, owned) if parent else None
        if found is None:
            kind, _ = self.kind(folder)
            if kind not in ("missing", "a folder") and folder not in owned:
                found = (folder, kind)
        self._problems[folder] = found
        return found


def plan(
    out: Path,
    files: Mapping[str, bytes],
    owned: Mapping[str, str],
    hashes: Mapping[str, str] | None = None,
    seen: Seen | None = None,
) -> Summary:
    """Compare the new files with what is on disk, by content (never by the lock's word).

    `owned`: path -> sha256 of the files the previous lock says mpc wrote. `hashes`: the new files'
    sha256; with `seen` (what mpc last saw of this folder), a file whose status is unchanged is compared
    by sha256 without being read. Raises E315 for a path mpc writes where something it did not write
    stands.
    """
    disk = _Disk(os.fspath(out), seen or {})
    written: list[str] = []
    changed: list[str] = []
    unchanged: list[str] = []
    problems: list[Diagnostic] = []
    for path, data in files.items():
        folder = path.rpartition("/")[0]
        blocked = disk.folder_problem(folder, owned) if folder else None
        if blocked is not None:
            problems.append(_foreign(out, blocked[0], blocked[1]))
            continue
        kind, st = disk.kind(path) if disk.exists else ("missing", None)
        if kind == "missing":
            written.append(path)
        elif kind != "file":
            problems.append(_foreign(out, path, kind))
        else:
            known = disk.known(path, st)
            if known is not None and hashes is not None:
                same = known == hashes[path]
            else:
                same = read_regular(f"{disk.root}/{path}") == data
            if same:
                unchanged.append(path)
            elif path in owned:
                changed.append(path)  # mpc's version wins over a hand edit of a file it owns
            else:
                problems.append(_foreign(out, path, "a file with other content"))
    if problems:
        raise MpcError(problems)
    pruned: list[str] = []
    kept: list[str] = []
    for path in sorted(set(owned) - set(files)):
        kind, st = disk.kind(path) if disk.exists else ("missing", None)
        if kind != "file":
            continue
        digest = disk.known(path, st)
        if digest is None:
            found = read_regular(f"{disk.root}/{path}")
            digest = sha256(found) if found is not None else None
        (pruned if digest == owned[path] else kept).append(path)
    return Summary(written, changed, unchanged, pruned, kept)


def _can_vouch(st: os.stat_result, racy: int) -> bool:
    """Whether a file's status can stand for its bytes from now on: its ctime is older than the window in
    which an edit could leave it unchanged, and the file system keeps ctimes finer than a second (on one
    that does not, an edit within the same second would keep the ctime, so its files are always read)."""
    return st.st_ctime_ns < racy and st.st_ctime_ns % 1_000_000_000 != 0


def look(
    out: Path, hashes: Mapping[str, str], settle: bool = False
) -> dict[str, tuple[str, int, int, int, int]]:
    """What a tree mpc just wrote looks like (for Seen), leaving out files whose ctime is too recent.

    Linking the new tree and deleting the replaced one change the ctime of every file the two share, so
    right after a swap nearly every file is too recent to vouch for, and the next build reads them all.
    With `settle` (worth it for a large tree) the look waits out the window first."""
    if settle:
        time.sleep(RACY_NS / 1e9)
    root = os.fspath(out)
    racy = time.time_ns() - RACY_NS
    seen: dict[str, tuple[str, int, int, int, int]] = {}
    for path, digest in hashes.items():
        try:
            st = os.lstat(f"{root}/{path}")
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and _can_vouch(st, racy):
            seen[path] = (digest, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    return seen


def current(
    out: Path, record: Mapping[str, str], seen: Seen
) -> dict[str, tuple[str, int, int, int, int]] | None:
    """Whether every file of `record` (path -> sha256) is in `out` with those bytes: None when one is not,
    else what was learnt of the files that had to be read (for Seen, so that the next check need not)."""
    disk = _Disk(os.fspath(out), seen)
    racy = time.time_ns() - RACY_NS
    learnt: dict[str, tuple[str, int, int, int, int]] = {}
    for path, digest in record.items():
        kind, st = disk.kind(path)
        if kind != "file" or st is None:
            return None
        known = disk.known(path, st)
        if known is None:
            data = read_regular(f"{disk.root}/{path}")
            known = sha256(data) if data is not None else None
            if known == digest and _can_vouch(st, racy):
                learnt[path] = (digest, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        if known != digest:
            return None
    return learnt


def _exchange(a: str, b: str) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    import ctypes  # only a rebuild over an existing tree swaps
    import ctypes.util

    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rename_exchange = 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), b)


def _same_owner(st: os.stat_result, path: str) -> None:
    """Give a folder the owner and group it had (only possible for root, or for a group one is in)."""
    with contextlib.suppress(OSError):
        mine = os.stat(path)
        if (mine.st_uid, mine.st_gid) != (st.st_uid, st.st_gid):
            os.chown(path, st.st_uid, st.st_gid)


class _NewTree:
    """The new tree in a temporary folder, its folders shaped like the old tree's where they exist."""

    def __init__(self, tmp: str, old: str, old_exists: bool) -> None:
        self.tmp = tmp
        self.old = old
        self.old_exists = old_exists
        self.made: set[str] = {""}

    def folder(self, path: str) -> None:
        if path in self.made:
            return
        parent = path.rpartition("/")[0]
        self.folder(parent)
        target = f"{self.tmp}/{path}"
        os.mkdir(target)
        if self.old_exists:
            with contextlib.suppress(OSError):
                st = os.lstat(f"{self.old}/{path}")
                if stat.S_ISDIR(st.st_mode):
                    os.chmod(target, stat.S_IMODE(st.st_mode))
                    _same_owner(st, target)
        self.made.add(path)

    def link(self, path: str) -> None:
        self.folder(path.rpartition("/")[0])
        os.link(f"{self.old}/{path}", f"{self.tmp}/{path}")

    def write(self, path: str, data: bytes) -> None:
        self.folder(path.rpartition("/")[0])
        write_new(f"{self.tmp}/{path}", data)

    def carry_over(self, skip: set[str], device: int) -> None:
        """Every file mpc does not own, and every folder, from the old tree (linked: owner and mode kept)."""
        stack = [""]
        while stack:
            rel_root = stack.pop()
            with os.scandir(f"{self.old}/{rel_root}" if rel_root else self.old) as entries:
                listing = list(entries)
            for entry in listing:
                rel = f"{rel_root}/{entry.name}" if rel_root else entry.name
                if rel in skip:
                    continue
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    if st.st_dev != device:
                        raise _refuse(
                            f"{self.old}/{rel}",
                            f"{rel} inside the output folder is a mount point",
                            "a build replaces its output folder as a whole: move the mount out of it",
                        )
                    self.folder(rel)
                    stack.append(rel)
                elif stat.S_ISLNK(st.st_mode):
                    self.folder(rel_root)
                    os.symlink(os.readlink(entry.path), f"{self.tmp}/{rel}")
                else:
                    self.folder(rel_root)
                    os.link(entry.path, f"{self.tmp}/{rel}")


def write_tree(
    out: Path,
    files: Mapping[str, bytes],
    lock: bytes,
    owned: Mapping[str, str],
    *,
    before_swap: Callable[[Path], None] | None = None,
    hashes: Mapping[str, str] | None = None,
    seen: Seen | None = None,
    after: Callable[[Callable[[], None]], None] | None = None,
) -> Summary:
    """Write `files` and mpc.lock as the new content of `out`, atomically. Call with the build lock held.

    `owned`: the files the previous lock lists (path -> sha256). `before_swap(tree)` runs on the complete
    new tree before it replaces the old one (validators); raising there leaves the old tree untouched.
    `after(discard)` is given the deletion of the replaced tree to run (default: now).
    """
    try:
        summary = plan(out, files, owned, hashes, seen)
    except OSError as exc:
        raise EnvironmentFailure.of(exc) from exc
    root = os.fspath(out)
    old_exists = os.path.isdir(root)
    unchanged = old_exists and not (summary.written or summary.changed or summary.pruned)
    if unchanged and before_swap is None and read_regular(f"{root}/{LOCK_NAME}") == lock:
        if after is not None:
            after(lambda: None)  # nothing replaced: nothing to delete
        return summary
    clean_stale_temps(out)
    try:
        tmp = tempfile.mkdtemp(prefix=_temp_prefix(out), dir=out.parent)
    except OSError as exc:
        raise EnvironmentFailure.of(exc, str(out.parent)) from exc
    try:
        _assemble(tmp, root, old_exists, files, lock, summary, owned)
        if before_swap is not None:
            before_swap(Path(tmp))
        _swap(tmp, root, old_exists)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        # Named as the user knows it: the output folder's path, not the temporary folder's.
        where = os.fsdecode(exc.filename) if exc.filename is not None else root
        raise EnvironmentFailure.of(exc, where.replace(tmp, root, 1)) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replaced = tmp  # the old tree, after an exchange; an empty stand-in after a first build

    def discard() -> None:
        shutil.rmtree(replaced, ignore_errors=True)

    if after is None:
        discard()
    else:
        after(discard)
    return summary


def _assemble(
    tmp: str,
    root: str,
    old_exists: bool,
    files: Mapping[str, bytes],
    lock: bytes,
    summary: Summary,
    owned: Mapping[str, str],
) -> None:
    tree = _NewTree(tmp, root, old_exists)
    if old_exists:
        st = os.stat(root)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        _same_owner(st, tmp)
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
    unchanged = set(summary.unchanged)
    for path, data in files.items():
        if path in unchanged:
            tree.link(path)
        else:
            tree.write(path, data)
    write_new(f"{tmp}/{LOCK_NAME}", lock)
    if old_exists:
        # Files mpc does not own survive, and so do the ones it owns but no longer writes and that were
        # edited by hand (Summary.kept); the rest of what it owned is pruned.
        skip = set(files) | (set(owned) - set(summary.kept)) | {LOCK_NAME}
        tree.carry_over(skip, os.stat(root).st_dev)


def _swap(tmp: str, root: str, old_exists: bool) -> None:
    if not old_exists:
        os.rename(tmp, root)
        os.mkdir(tmp)  # an empty stand-in, so the caller's clean-up of `tmp` has something to remove
        return
    if not _exchange(tmp, root):
        backup = f"{tmp}-old"
        os.rename(root, backup)
        try:
            os.rename(tmp, root)
        except OSError:
            os.rename(backup, root)
            raise
        os.rename(backup, tmp)
