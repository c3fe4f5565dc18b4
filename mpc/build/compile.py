"""Compile: run the backends over a checked mesh and turn everything they produce into the tree's bytes.

Each backend renders the mesh as a whole, and (a ServiceBackend) each service from its context. A
service's output is looked up in the unit cache under the digest of its context and the code that
renders it; only the services whose context changed are rendered again. Backends never learn which.
Then the files the backends ask to be listed are added to their kustomizations (mpc.render.link),
the shared multi-document files are put together from the mesh-wide documents and each service's
section, and every file is checked: a path that would leave the tree, a path written twice or a
file in the place of a folder is a bug of the backend that wrote it, never the user's mistake.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from mpc.build.cache import Cache, Piece
from mpc.build.digest import ContextDigests, Undigestable, unit_key
from mpc.build.files import check_path, sha256
from mpc.build.parallel import split_map
from mpc.build.serialize import Serializer, join_documents
from mpc.errors import PluginError
from mpc.graph.context import service_contexts
from mpc.graph.mesh import node_id
from mpc.lang.model import MeshSettings, ServiceContext
from mpc.render.api import Artifact, Listing, Output, Section, ServiceBackend
from mpc.render.link import link
from mpc.render.plugins import Installed, Plugin, guarded

if TYPE_CHECKING:
    from mpc.graph.front import Front


class BackendBug(Exception):
    """A backend produced a tree that cannot be written: mpc's bug (exit 3), or a plugin's (E501)."""


@dataclass
class Compiled:
    files: dict[str, bytes]  # path -> bytes, sorted by path
    hashes: dict[str, str]  # path -> sha256 of its bytes
    nodes: dict[str, str]  # path -> the graph node the file derives from, where there is one
    backends: list[str]
    plugins: dict[str, str]  # third-party plugins used (for the lock)
    owners: dict[str, str] = field(default_factory=dict)  # path -> the backend that wrote it
    rendered: int = 0  # service units rendered by this build
    units: int = 0  # service units in all
    # Plain artifacts, when asked for (validators read documents): shared files assembled.
    artifacts: list[Artifact] = field(default_factory=list)

    def add_files(self, extra: Mapping[str, bytes]) -> None:
        """Files written beside the rendered ones (publish: the input mesh), owned and locked alike."""
        if extra:
            self.files = dict(sorted({**self.files, **extra}.items()))
            self.hashes.update((path, sha256(data)) for path, data in extra.items())


@dataclass
class _Part:
    """One service's section of a shared file: its bytes, and its documents when the tree is kept plain."""

    service: str
    plugin: Plugin
    data: bytes
    documents: tuple[Mapping[str, Any], ...] = ()


@dataclass
class _Tree:
    """What the backends produced so far, and which backend produced each path."""

    serializer: Serializer
    plain: bool
    files: dict[str, bytes] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)
    owner: dict[str, Plugin] = field(default_factory=dict)
    whole: list[tuple[Plugin, Artifact]] = field(default_factory=list)
    sections: dict[str, list[_Part]] = field(default_factory=dict)
    listed: list[tuple[str, str, str]] = field(default_factory=list)  # (path, kustomization, field)
    artifacts: list[Artifact] = field(default_factory=list)
    kept_documents: dict[tuple[str, str], tuple[Mapping[str, Any], ...]] = field(default_factory=dict)

    def claim(self, plugin: Plugin, path: str) -> None:
        why = check_path(path)
        if why is not None:
            _bug(plugin, f"output path {path!r} {why}")
        earlier = self.owner.get(path)
        if earlier is not None:
            _bug(plugin, f"{path!r} is written twice (by {earlier.name} and {plugin.name})")
        self.owner[path] = plugin

    def add_piece(self, plugin: Plugin, service: str, piece: Piece) -> None:
        """One piece of a service's output."""
        for kustomization, field_ in piece.listed_in:
            self.listed.append((piece.path, kustomization, field_))
        if piece.section:
            documents = self.kept_documents.pop((service, piece.path), ())
            self.sections.setdefault(piece.path, []).append(_Part(service, plugin, piece.data, documents))
            return
        self.claim(plugin, piece.path)
        self.files[piece.path] = piece.data
        self.hashes[piece.path] = piece.sha256
        self.nodes[piece.path] = node_id("service", service)

    def keep(self, service: str, piece: Piece, plain: Output) -> None:
        """What a piece was rendered from, for Compiled.artifacts."""
        if isinstance(plain, Section):
            self.kept_documents[(service, piece.path)] = plain.documents
        else:
            node = node_id("service", service) if service else None
            self.artifacts.append(Artifact(plain.path, plain.content, plain.listed_in, node))


def _bug(plugin: Plugin, message: str) -> NoReturn:
    if plugin.builtin:
        raise BackendBug(f"backend {plugin.name!r}: {message}")
    raise PluginError("backend", plugin.name, plugin.distribution, BackendBug(message))


def _listings(listed_in: Iterable[Listing]) -> tuple[tuple[str, str], ...]:
    return tuple((listing.kustomization, listing.field) for listing in listed_in)


def _serialized(serializer: Serializer, out: Output) -> Piece:
    if isinstance(out, Section):
        data = serializer.documents(out.documents)
        return Piece(out.path, data, _listings(out.listed_in), True, sha256(data))
    data = serializer.content(out.path, out.content)
    return Piece(out.path, data, _listings(out.listed_in), False, sha256(data))


def _render_services(
    tree: _Tree,
    plugin: Plugin,
    backend: ServiceBackend,
    contexts: Mapping[str, ServiceContext],
    keys: Mapping[str, str],
    cache: Cache | None,
) -> int:
    """Every service's output of one backend, from the cache where its key is there; the count rendered."""
    found = cache.units(keys.values()) if cache is not None else {}
    missing = [name for name in contexts if keys.get(name) not in found]

    def render(names: Sequence[str]) -> list[list[tuple[Any, ...]]]:
        out = []
        for name in names:
            outputs = guarded(plugin, lambda c=contexts[name]: list(backend.render_service(c)))  # type: ignore[misc]
            out.append([_serialized(tree.serializer, o).as_tuple() for o in outputs])
        return out

    if tree.plain:  # the documents are kept too: render here, where they stay
        rendered = {name: _render_plain(tree, plugin, backend, contexts[name]) for name in missing}
    else:
        made = split_map(missing, render, _is_unit)
        rendered = {name: [Piece(*piece) for piece in unit] for name, unit in zip(missing, made, strict=True)}
    fresh: dict[str, list[Piece]] = {}
    for name in contexts:
        key = keys.get(name)
        pieces = rendered.get(name)
        if pieces is None:
            pieces = found[key]  # type: ignore[index]
        elif key is not None:
            fresh[key] = pieces
        for piece in pieces:
            tree.add_piece(plugin, name, piece)
    if cache is not None:
        cache.put_units(fresh)
    return len(missing)


def _render_plain(
    tree: _Tree, plugin: Plugin, backend: ServiceBackend, context: ServiceContext
) -> list[Piece]:
    """One service's output, kept as documents too (validators read them)."""
    pieces = []
    for out in guarded(plugin, lambda: list(backend.render_service(context))):
        piece = _serialized(tree.serializer, out)
        tree.keep(context.service.name, piece, out)
        pieces.append(piece)
    return pieces


def _is_unit(value: Any) -> bool:
    return isinstance(value, list) and all(Piece.valid(p) for p in value)


def compile_tree(
    front: Front,
    installed: Installed,
    backends: Sequence[str] = (),
    cache: Cache | None = None,
    code: str = "",
    *,
    plain: bool = False,
) -> Compiled:
    """Render the selected backends (default: the built-ins and the plugins the mesh configures).

    With a `cache` (and the `code` identity it is keyed by), services whose context is unchanged are taken
    from it. With `plain`, Compiled.artifacts holds every file as documents too (validators read them).
    """
    model, graph = front.model, front.graph
    selected = installed.select(backends, model.extensions)
    tree = _Tree(Serializer(), plain)
    contexts: dict[str, ServiceContext] | None = None
    digests: dict[str, bytes] = {}
    rendered = units = 0
    for plugin, backend in selected:
        for out in guarded(plugin, lambda b=backend: list(b.render(model, graph))):  # type: ignore[misc]
            if isinstance(out, Section):  # mesh-wide documents after the header, before the services'
                piece = _serialized(tree.serializer, out)
                if tree.plain:
                    tree.keep("", piece, out)
                tree.add_piece(plugin, "", piece)
            else:
                tree.whole.append((plugin, out))
        if not isinstance(backend, ServiceBackend):
            continue
        if contexts is None:
            contexts = service_contexts(model, graph)
            digests = _digests(model, contexts) if cache is not None else {}
        keys = {name: unit_key(code, plugin.name, digest) for name, digest in digests.items()}
        units += len(contexts)
        rendered += _render_services(tree, plugin, backend, contexts, keys, cache)
    _assemble(tree)
    names = [plugin.name for plugin, _ in selected]
    files = dict(sorted(tree.files.items()))
    _check_folders(files, tree.owner)
    owners = {path: plugin.name for path, plugin in tree.owner.items()}
    used = installed.used(names, model)
    return Compiled(files, tree.hashes, tree.nodes, names, used, owners, rendered, units, tree.artifacts)


def _digests(settings: MeshSettings, contexts: Mapping[str, ServiceContext]) -> dict[str, bytes]:
    """Each service's context digest; a service whose context the digest cannot encode (a plugin's
    archetype holding an unknown value) has none, and is rendered every time."""
    digests = ContextDigests(settings)
    out: dict[str, bytes] = {}
    for name, context in contexts.items():
        with contextlib.suppress(Undigestable):
            out[name] = digests.of(context)
    return out


def _assemble(tree: _Tree) -> None:
    """Kustomizations linked; mesh-wide files serialised; shared files put together: the mesh-wide
    documents first, then each service's section in the order of the service names."""
    linked = link([art for _, art in tree.whole], tree.listed)
    headers: dict[str, tuple[Plugin, Artifact]] = {}
    for (plugin, _), art in zip(tree.whole, linked, strict=True):
        tree.claim(plugin, art.path)
        if art.path in tree.sections:
            headers[art.path] = (plugin, art)
            continue
        data = tree.files[art.path] = tree.serializer.content(art.path, art.content)
        tree.hashes[art.path] = sha256(data)
        if art.node is not None:
            tree.nodes[art.path] = art.node
        if tree.plain:
            tree.artifacts.append(art)
    for path, parts in tree.sections.items():
        documents: list[Mapping[str, Any]] = []
        chunks: list[bytes] = []
        header = headers.get(path)
        if header is None:
            tree.claim(parts[0].plugin, path)
        else:
            plugin, art = header
            if isinstance(art.content, str):
                _bug(plugin, f"{path!r} is text, but services add documents to it")
            content = art.content
            documents = [content] if isinstance(content, Mapping) else list(content)
            chunks.append(tree.serializer.documents(documents))
        ordered = sorted(parts, key=lambda part: part.service)
        chunks.extend(part.data for part in ordered)
        data = join_documents(chunks)
        if not data:
            continue  # no documents at all: no file
        tree.files[path] = data
        tree.hashes[path] = sha256(data)
        if tree.plain:
            documents.extend(doc for part in ordered for doc in part.documents)
            tree.artifacts.append(Artifact(path, documents))


def _check_folders(files: Mapping[str, bytes], owner: Mapping[str, Plugin]) -> None:
    """A file and a folder of the same name cannot both exist."""
    folders: set[str] = set()
    for path in files:
        folder = posixpath.dirname(path)
        while folder and folder not in folders:
            folders.add(folder)
            folder = posixpath.dirname(folder)
    for clash in sorted(folders & files.keys()):
        _bug(owner[clash], f"{clash!r} is both a file and a folder")
