"""incremental: what a rebuild may skip, proven from mpc.lock rather than assumed.

A build is a function of the mesh text, mpc's code and the plugins it used: backends are pure and the
output is deterministic. So when the lock records the same input digest, the same mpc version and the
same plugin versions, no source file of mpc or of those plugins is newer than the lock, and every file
the lock lists is on disk with the recorded sha256, a full build would write exactly what is there: a
rebuild (or `--check`) can stop before parsing. Anything else parses and checks the whole mesh; then
the backends render only the units (mpc.build.memo) whose service context changed, taking the others from
the previous tree (previous_tree), and a file outside units whose content key (mpc.build.emit.content_key)
the lock records unchanged, with its bytes on disk at the recorded sha256, is read back instead of
serialised. The emit step writes only the files whose bytes changed and hard-links the rest, and the
lock's per-node hashes name the graph nodes whose outputs changed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mpc import __version__
from mpc.build import memo
from mpc.build.emit import LOCK_NAME, Lock, Reuse, matching, read_recorded
from mpc.build.parallel import start
from mpc.render.api import Artifact

if TYPE_CHECKING:
    from mpc.build.memo import Previous
    from mpc.lang.model import Model

MESH_NODE = "mesh"  # files derived from the mesh as a whole (Artifact.node is None)


def node_hashes(artifacts: Iterable[Artifact], file_hashes: Mapping[str, str]) -> dict[str, str]:
    """Graph node -> sha256 over the paths and hashes of the files derived from it."""
    lines: dict[str, list[str]] = {}
    for art in artifacts:
        digest = file_hashes.get(art.path)
        if digest is not None:
            lines.setdefault(art.node or MESH_NODE, []).append(f"{art.path} {digest}\n")
    return {
        node: hashlib.sha256("".join(sorted(ls)).encode("utf-8")).hexdigest() for node, ls in lines.items()
    }


def used_plugins(backends: Iterable[str], model: Model) -> dict[str, str]:
    """Third-party plugins a build used: "backend:<name>" / "archetype:<name>" -> "distribution version"."""
    from mpc.render.plugins import discover_archetypes, discover_backends

    used: dict[str, str] = {}
    available = discover_backends()
    for name in backends:
        plugin = available.get(name)
        if plugin is not None and not plugin.builtin:
            used[f"backend:{name}"] = f"{plugin.distribution} {plugin.version}"
    archetypes = discover_archetypes()
    for service in model.services.values():
        plugin = archetypes.get(service.archetype.name)
        if plugin is not None and not plugin.builtin:
            used[f"archetype:{plugin.name}"] = f"{plugin.distribution} {plugin.version}"
    return used


def _selection(backends: tuple[str, ...], lock: Lock) -> list[str] | None:
    """The backends this build would run, as the lock lists them; None when that needs the mesh."""
    if backends:
        return sorted(set(backends))
    if any(key.startswith("backend:") for key in lock.plugins):
        return None  # plugin backends run by default only when the mesh configures them: parse to know
    from mpc.render.plugins import discover_backends

    return sorted(name for name, plugin in discover_backends().items() if plugin.builtin)


def _plugins_unchanged(recorded: Mapping[str, str]) -> tuple[bool, list[Path]]:
    """Whether every recorded plugin is installed at the same version; and the folders of its code."""
    if not recorded:
        return True, []
    from mpc.render.plugins import discover_archetypes, discover_backends

    tables = {"backend": discover_backends(), "archetype": discover_archetypes()}
    folders: list[Path] = []
    for key, version in recorded.items():
        kind, _, name = key.partition(":")
        plugin = tables.get(kind, {}).get(name)
        if plugin is None or f"{plugin.distribution} {plugin.version}" != version:
            return False, []
        folders.extend(_code_folders(plugin.value.partition(":")[0]))
    return True, folders


def _code_folders(module: str) -> list[Path]:
    spec = importlib.util.find_spec(module.partition(".")[0])
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [Path(p) for p in spec.submodule_search_locations]
    return [Path(spec.origin).parent] if spec.origin else []


def _newest_source(folders: Iterable[Path]) -> int:
    """The latest modification time of the Python sources under the folders (ns)."""
    newest = 0
    stack = [str(f) for f in folders]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                stack.append(entry.path)
            elif entry.name.endswith(".py"):
                newest = max(newest, entry.stat().st_mtime_ns)
    return newest


def previous_tree(reuse: Reuse | None) -> Previous | None:
    """The previous tree for mpc.build.memo, when this code wrote it: the lock (which Reuse.of found written by
    this mpc version) is newer than every source of mpc, its backends and the plugins it recorded, and
    those plugins are installed at the recorded versions. A memo key names a unit's inputs, not its
    code: code edited since (a development checkout) must render everything again."""
    if reuse is None:
        return None
    lock = reuse.lock
    same, plugin_code = _plugins_unchanged(lock.plugins)
    if not same:
        return None
    try:
        lock_time = os.stat(os.path.join(reuse.root, LOCK_NAME)).st_mtime_ns
    except OSError:
        return None
    if _newest_source(_code_folders_of_mpc(plugin_code)) >= lock_time:
        return None
    from mpc.build.memo import Previous

    return Previous(Path(reuse.root), lock)


def _code_folders_of_mpc(plugin_code: list[Path]) -> list[Path]:
    builtin = importlib.util.find_spec("mpc.backends")
    code = [Path(__file__).parent, *plugin_code]
    code += [Path(p) for p in (builtin.submodule_search_locations or [])] if builtin else []
    return code


def read_lock(out: Path) -> tuple[bytes, Lock | None]:
    """The lock's bytes (empty when there is none) and what they say: read once per build."""
    try:
        raw = (out / LOCK_NAME).read_bytes()
    except OSError:
        return b"", None
    return raw, Lock.parse(raw)


def up_to_date(
    mesh: Path, out: Path, backends: tuple[str, ...], read: tuple[bytes, Lock | None] | None = None
) -> tuple[Lock, dict[str, bytes]] | None:
    """The lock and the files on disk, when a full build would leave `out` exactly as it is; else None.
    (b"" for the files a forked child checked: their bytes were not read into this process.)

    `read`: the lock as read_lock(out) just returned it.
    """
    lock_path = out / LOCK_NAME
    raw, lock = read or read_lock(out)
    try:
        lock_time = lock_path.stat().st_mtime_ns
        text = mesh.read_bytes()
    except OSError:
        return None
    # The cheap comparisons first: after an edit the digest differs, and re-encoding the lock costs more.
    if (
        lock is None
        or lock.mpc_version != __version__
        or lock.input_file != mesh.name
        or lock.input_sha256 != hashlib.sha256(text).hexdigest()
    ):
        return None
    if lock.to_bytes() != raw or lock.backends != _selection(backends, lock):  # another lock format
        return None
    same, plugin_code = _plugins_unchanged(lock.plugins)
    if not same:
        return None
    # An edited mpc (a development checkout) builds differently under the same version number.
    if _newest_source(_code_folders_of_mpc(plugin_code)) >= lock_time:
        return None
    root = os.fspath(out)
    recorded = sorted(lock.files.items())
    # On a large tree a forked child checks the second half meanwhile (it answers a byte per file).
    half = len(recorded) // 2 if len(recorded) >= memo.CHECK_PARALLEL_MIN else len(recorded)
    child = start(lambda: matching(root, recorded[half:])) if half < len(recorded) else None
    if child is None:  # no second process: this one checks (and reads) everything
        half = len(recorded)
    files: dict[str, bytes] = {}
    try:
        for path, digest in recorded[:half]:
            data = read_recorded(f"{root}/{path}", digest)
            if data is None:
                return None
            files[path] = data
    finally:
        if child is not None and len(files) < half:  # stopped early: the child's answer cannot help
            child.abandon()
    rest = recorded[half:]
    if child is not None and rest:
        answer = child.answer()
        if answer is None or len(answer) != len(rest):  # the child failed: check the rest here
            answer = matching(root, rest)
        if not all(answer):
            return None
        files.update((path, b"") for path, _ in rest)  # checked by the child, not read here
    return lock, files
