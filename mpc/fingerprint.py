"""fingerprint: digests of the resolved model, node by node, for skipping work whose inputs are unchanged.

A service's *context* digest covers everything a per-service piece of output may read: the service
itself, what its policies name of the services it calls and of the services that call it (NEIGHBOUR:
name, port and protocol, archetype, clustering, peer port, environments), its rollout wave (which
depends on the whole chain of its dependencies; a unit that does not read it may leave it out), and
everything in the model that is not a service (gateway and routes, issuers, clusters, environments,
observability, governance, extensions, the mesh's own name and labels). A service whose archetype is
a plugin's depends on every service: its shape() receives the whole model and may read any of it.

Source positions: the service's own are part of its digest (its objects carry them in annotations),
so a service whose lines moved is rendered again. Of the rest of the mesh only the issuers' positions
are (a service's RequestAuthentication carries its issuer's): no other per-service output names a
position outside its service, and leaving them out keeps an edit that adds a line to one service from
re-rendering its neighbours and every service above the sections it moved down.

The encoding is canonical: dataclasses by field, mappings in order, numbers apart from booleans. Two
models that encode alike are equal for every backend; anything the encoder cannot encode is refused
(a ValueError) rather than guessed at.
"""

from __future__ import annotations

import dataclasses
import hashlib
import marshal
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mpc.diagnostics import Location

if TYPE_CHECKING:
    from mpc.graph import MeshGraph
    from mpc.model import Model, Service

_MARSHAL_FORMAT = 2  # no back-references: the bytes depend on the value alone (see mpc.emit.content_key)


# What a service's output may read of the services it calls and is called by.
NEIGHBOUR = ("name", "port", "protocol", "archetype", "clustering", "peer_port", "environments")

_SCALARS = frozenset({str, int, bool, float, type(None)})
# Dataclass -> (qualified name, compared field names); other classes -> None.
_SHAPES: dict[type, tuple[str, tuple[str, ...]] | None] = {}


def _shape(kind: type) -> tuple[str, tuple[str, ...]] | None:
    if kind not in _SHAPES:
        if dataclasses.is_dataclass(kind):
            # The qualified name too: a plugin's archetype subclass shapes objects its own way.
            names = tuple(f.name for f in dataclasses.fields(kind) if f.compare)
            _SHAPES[kind] = (f"{kind.__module__}.{kind.__qualname__}", names)
        else:
            _SHAPES[kind] = None
    return _SHAPES[kind]


def plain(value: Any, positions: list[Location] | None = None) -> Any:
    """A marshal-able, canonical form of a model value.

    With a `positions` list, source positions are left out of the form and appended to the list.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is tuple or kind is list:
        return tuple([plain(v, positions) for v in value])
    shape = _shape(kind)
    if shape is not None:
        if kind is Location and positions is not None:
            positions.append(value)
            return None
        return (shape[0], tuple([plain(getattr(value, name), positions) for name in shape[1]]))
    if isinstance(value, Mapping):
        return ("map", tuple([(plain(k, positions), plain(v, positions)) for k, v in value.items()]))
    if kind is frozenset or kind is set:
        return ("set", tuple(sorted(plain(v, positions) for v in value)))
    if kind is Decimal:
        return ("dec", str(value))
    raise ValueError(f"cannot fingerprint a {kind.__qualname__}")


def _sha(form: Any) -> bytes:
    return hashlib.sha256(marshal.dumps(form, _MARSHAL_FORMAT)).digest()


def _lines(positions: list[Location]) -> tuple[int, ...]:
    """Lines and columns only: the file's name is the model's (source_file), wherever it was read from."""
    return tuple(n for p in positions for n in (p.line, p.col))


def _neighbour_fields(kind: type) -> tuple[int, ...]:
    shape = _shape(kind)
    assert shape is not None, "a service is a dataclass"
    return tuple(shape[1].index(field) for field in NEIGHBOUR)


def _builtin_archetype(svc: Service) -> bool:
    from mpc.archetypes import BUILTIN

    return any(svc.archetype is builtin for builtin in BUILTIN)


class Fingerprints:
    """Context digests of a model's services, computed on first use."""

    def __init__(self, model: Model, graph: MeshGraph) -> None:
        self._model = model
        self._graph = graph
        # service -> digests of its content, of its source positions, of what its neighbours may read
        self._own: dict[str, tuple[bytes, bytes, bytes]] = {}
        self._context: dict[str, str] = {}
        self._callers: dict[str, list[str]] | None = None
        self._waves: dict[str, int] | None = None
        self._globals: bytes | None = None
        self._everything: bytes | None = None

    @property
    def globals(self) -> bytes:
        """Everything in the model but the services, without source positions, and the positions of the
        issuers (a service's RequestAuthentication points at its issuer's entry)."""
        if self._globals is None:
            h = hashlib.sha256(_sha(plain(dataclasses.replace(self._model, services={}), [])))
            h.update(_sha(_lines([issuer.source for issuer in self._model.issuers.values()])))
            self._globals = h.digest()
        return self._globals

    def _own_digest(self, name: str) -> tuple[bytes, bytes, bytes]:
        found = self._own.get(name)
        if found is None:
            svc = self._model.services[name]
            positions: list[Location] = []
            form = plain(svc, positions)
            # The neighbour view from the same form: (class name, field values in field order).
            seen = tuple(form[1][i] for i in _neighbour_fields(type(svc)))
            where = _lines(positions)
            found = self._own[name] = (_sha(form), _sha(where), _sha(seen))
        return found

    def _all_services(self) -> bytes:
        if self._everything is None:
            h = hashlib.sha256()
            for name in self._model.services:
                h.update(name.encode("utf-8") + b"\0" + b"".join(self._own_digest(name)[:2]))
            self._everything = h.digest()
        return self._everything

    def _callers_of(self, name: str) -> list[str]:
        if self._callers is None:
            callers: dict[str, list[str]] = {}
            for svc in self._model.services.values():
                for dep in dict.fromkeys(svc.depends_on):
                    callers.setdefault(dep, []).append(svc.name)
            self._callers = callers
        return self._callers.get(name, [])

    def service(self, name: str, wave: bool = True) -> str:
        """The context digest of one service (hex); with its rollout wave unless `wave` is False."""
        found = self._context.get(f"{name}\0{wave}")
        if found is not None:
            return found
        services = self._model.services
        h = hashlib.sha256(self.globals)
        h.update(b"".join(self._own_digest(name)[:2]))
        h.update(b"calls")
        for dep in services[name].depends_on:
            h.update(dep.encode("utf-8") + b"\0")
            if dep in services:
                h.update(self._own_digest(dep)[2])
        h.update(b"called-by")
        for caller in self._callers_of(name):
            h.update(caller.encode("utf-8") + b"\0" + self._own_digest(caller)[2])
        if wave:
            if self._waves is None:
                self._waves = self._graph.wave_of()
            h.update(b"wave %d" % self._waves.get(name, 0))
        if not _builtin_archetype(services[name]):
            h.update(self._all_services())
        found = self._context[f"{name}\0{wave}"] = h.hexdigest()
        return found
