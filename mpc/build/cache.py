"""The user's cache: rendered units and the trees they made, keyed by content, outside the output folder.

Nothing read from an output folder decides what a build reuses: anyone who can write the tree can edit a
file or the lock there. The cache lives where only the user writes (`$MPC_CACHE_DIR`, else
`$XDG_CACHE_HOME/mpc`, else `~/.cache/mpc`), in one SQLite database that several builds may use at
once. It holds three tables:

- `units`: one backend's serialised output for one service, under unit_key(code, backend, context).
- `trees`: for a build's whole input (code, mesh text, backends), the sha256 of every file it wrote:
  a later build of the same input proves an output folder current by hashing the files on disk
  against this record instead of rendering again.
- `folders`: for each output folder (by real path), what mpc last saw of each file it wrote there:
  the sha256 of its bytes and its size, mtime, ctime and inode (mpc.build.swap.Seen). A file whose
  status is unchanged since still has those bytes, so it need not be read again; its ctime cannot be
  set back by whoever edits it.

Each value carries a checksum; a value that fails it, a database that cannot be opened or written, or
a full disk make the cache miss, never the build fail. Entries not used for PRUNE_AFTER are deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

CACHE_ENV = "MPC_CACHE_DIR"
DATABASE = "mpc-cache.sqlite3"
SCHEMA_VERSION = 2
PRUNE_AFTER = 30 * 24 * 3600  # seconds without use
_CHECK = 16  # bytes of sha256 that guard each value
_MARSHAL_FORMAT = 2


def cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "mpc"


@dataclass(frozen=True, slots=True)
class Piece:
    """One file of a unit, or one service's section of a shared file, serialised."""

    path: str
    data: bytes
    listed_in: tuple[tuple[str, str], ...]  # (kustomization folder, field)
    section: bool
    sha256: str  # of `data`, made once when the piece is rendered

    def as_tuple(self) -> tuple[str, bytes, tuple[tuple[str, str], ...], bool, str]:
        return (self.path, self.data, self.listed_in, self.section, self.sha256)

    @staticmethod
    def valid(item: Any) -> bool:
        """Whether a value read back (from the cache or a second process) is a piece's tuple."""
        return (
            isinstance(item, tuple)
            and len(item) == 5
            and isinstance(item[0], str)
            and isinstance(item[1], bytes)
            and isinstance(item[2], tuple)
            and all(
                isinstance(x, tuple) and len(x) == 2 and all(isinstance(s, str) for s in x) for x in item[2]
            )
            and isinstance(item[3], bool)
            and isinstance(item[4], str)
        )


def _seal(value: Any) -> bytes:
    payload = marshal.dumps(value, _MARSHAL_FORMAT)
    return hashlib.sha256(payload).digest()[:_CHECK] + payload


def _open(blob: bytes) -> Any:
    check, payload = blob[:_CHECK], blob[_CHECK:]
    if hashlib.sha256(payload).digest()[:_CHECK] != check:
        raise ValueError("checksum")
    return marshal.loads(payload)


def _pieces(value: Any) -> list[Piece] | None:
    """A unit as stored: its checksum held, so its shape is what put_units wrote."""
    if type(value) is not list or not all(type(item) is tuple and len(item) == 5 for item in value):
        return None
    return [Piece(*item) for item in value]


class Cache:
    """One connection to the cache database; every method degrades to a miss on any database error."""

    def __init__(self, folder: Path | None = None) -> None:
        self.location = folder or cache_dir()
        self._db: sqlite3.Connection | None = None
        self._opened = False
        self._used: set[str] = set()

    def _connect(self) -> sqlite3.Connection | None:
        if self._opened:
            return self._db
        self._opened = True
        import sqlite3

        try:
            self.location.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = sqlite3.connect(self.location / DATABASE, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                db.executescript(
                    "DROP TABLE IF EXISTS units; DROP TABLE IF EXISTS trees; DROP TABLE IF EXISTS meta;"
                    "DROP TABLE IF EXISTS folders;"
                    "CREATE TABLE units (key TEXT PRIMARY KEY, value BLOB NOT NULL, used INTEGER NOT NULL);"
                    "CREATE TABLE trees (key TEXT PRIMARY KEY, value BLOB NOT NULL, used INTEGER NOT NULL);"
                    "CREATE TABLE folders (key TEXT PRIMARY KEY, value BLOB NOT NULL, used INTEGER NOT NULL);"
                    "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
                    f"PRAGMA user_version={SCHEMA_VERSION};"
                )
            self._db = db
        except (OSError, sqlite3.Error):
            self._db = None
        return self._db

    @contextlib.contextmanager
    def _guard(self) -> Iterator[sqlite3.Connection | None]:
        import sqlite3

        db = self._connect()
        try:
            yield db
        except sqlite3.Error:
            self.close()
            self._opened = True  # a broken cache stays off for the rest of this build

    def units(self, keys: Iterable[str]) -> dict[str, list[Piece]]:
        """The cached units among `keys`."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, list[Piece]] = {}
        with self._guard() as db:
            if db is None:
                return found
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in db.execute(f"SELECT key, value FROM units WHERE key IN ({marks})", chunk):
                    try:
                        pieces = _pieces(_open(blob))
                    except (ValueError, EOFError, TypeError):
                        pieces = None
                    if pieces is not None:
                        found[key] = pieces
        self._used.update(found)
        return found

    def put_units(self, units: Mapping[str, list[Piece]]) -> None:
        if not units:
            return
        now = int(time.time())
        rows = [(key, _seal([p.as_tuple() for p in pieces]), now) for key, pieces in units.items()]
        with self._guard() as db:
            if db is None:
                return
            with db:
                db.execute("BEGIN")
                db.executemany("INSERT OR REPLACE INTO units VALUES (?, ?, ?)", rows)

    def _get(self, table: str, key: str, valid: Callable[[Any, Any], bool]) -> Any:
        """The value of one record, when its checksum holds and every entry is `valid`; marked used."""
        with self._guard() as db:
            if db is None:
                return None
            row = db.execute(f"SELECT value FROM {table} WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            try:
                value = _open(row[0])
            except (ValueError, EOFError, TypeError):
                return None
            if isinstance(value, dict) and all(valid(k, v) for k, v in value.items()):
                db.execute(f"UPDATE {table} SET used = ? WHERE key = ?", (int(time.time()), key))
                return value
        return None

    def _put(self, table: str, key: str, value: Mapping[str, Any]) -> None:
        with self._guard() as db:
            if db is None:
                return
            db.execute(
                f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)",
                (key, _seal(dict(value)), int(time.time())),
            )

    def tree(self, key: str) -> dict[str, str] | None:
        """The files (path -> sha256) a build of this input wrote, when one is recorded."""
        found: dict[str, str] | None = self._get("trees", key, _is_digest)
        return found

    def put_tree(self, key: str, files: Mapping[str, str]) -> None:
        self._put("trees", key, files)

    def folder(self, path: str) -> dict[str, tuple[str, int, int, int, int]] | None:
        """What mpc last saw of the files it wrote into the folder at `path` (its real path)."""
        found: dict[str, tuple[str, int, int, int, int]] | None = self._get("folders", path, _is_seen)
        return found

    def put_folder(self, path: str, seen: Mapping[str, tuple[str, int, int, int, int]]) -> None:
        self._put("folders", path, seen)

    def finish(self) -> None:
        """Mark the units this build reused as used now; prune what nothing used for PRUNE_AFTER."""
        now = int(time.time())
        with self._guard() as db:
            if db is None:
                return
            with db:
                db.execute("BEGIN")
                used = sorted(self._used)
                for start in range(0, len(used), 500):
                    chunk = used[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    db.execute(f"UPDATE units SET used = ? WHERE key IN ({marks})", [now, *chunk])
                row = db.execute("SELECT value FROM meta WHERE name = 'pruned'").fetchone()
                if row is None or now - row[0] > 24 * 3600:
                    for table in ("units", "trees", "folders"):
                        db.execute(f"DELETE FROM {table} WHERE used < ?", (now - PRUNE_AFTER,))
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('pruned', ?)", (now,))
        self.close()

    def close(self) -> None:
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.close()
        self._db = None


def _is_digest(key: Any, value: Any) -> bool:
    return isinstance(key, str) and isinstance(value, str)


_SEEN_TYPES = (str, int, int, int, int)


def _is_seen(key: Any, value: Any) -> bool:
    return type(key) is str and type(value) is tuple and tuple(map(type, value)) == _SEEN_TYPES


def tree_key(code: str, mesh_name: str, text: bytes, backends: Iterable[str]) -> str:
    """The key of a build's whole input: the code, the mesh file's name and text, the backends asked for."""
    h = hashlib.sha256(f"{code}\0{mesh_name}\0".encode())
    h.update(hashlib.sha256(text).digest())
    h.update("\0".join(sorted(backends)).encode())
    return h.hexdigest()
