"""fingerprint: digests of the resolved model, node by node, for skipping work whose inputs are unchanged.

A service's *context* digest covers everything a per-service piece of output may read: the service
itself, what its policies name of the services it calls and of the services that call it (NEIGHBOUR:
name, port and protocol, archetype, clustering, peer port, environments), its rollout wave (which
depends on the whole chain of its dependencies; a unit that does not read it may leave it out), the
routes to it, and everything in the model that is not a service or a route (the gateway, issuers,
clusters, environments, observability, governance, extensions, the mesh's own name and labels). A
service whose archetype is a plugin's depends on the whole model, positions included: its shape()
receives it and may read any of it.

Source positions: the service's own are part of its digest (its objects carry them in annotations),
so a service whose lines moved is rendered again. Of the rest of the mesh only the positions of the
issuers its routes require are (its RequestAuthentications carry them): no other per-service output
names a position outside its service, and leaving them out keeps an edit that adds a line to one
service from re-rendering its neighbours and every service above the sections it moved down.

The encoding is canonical: dataclasses by field, mappings in order, numbers apart from booleans. Two
models that encode alike are equal for every backend; anything the encoder cannot encode is refused
(a ValueError) rather than guessed at.
"""

from __future__ import annotations

import dataclasses
import hashlib
import marshal
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mpc.errors import Location
from mpc.lang.archetypes import Archetype

if TYPE_CHECKING:
    from mpc.graph.mesh import MeshGraph
    from mpc.lang.model import Model, Route, Service

_MARSHAL_FORMAT = (
    2  # no back-references: the bytes depend on the value alone (see mpc.build.emit.content_key)
)


# What a service's output may read of the services it calls and is called by.
NEIGHBOUR = ("name", "port", "protocol", "archetype", "clustering", "peer_port", "environments")

_SCALARS = frozenset({str, int, bool, float, type(None)})
# Dataclass -> (qualified name, getter of its compared fields as a tuple); other classes -> None.
_SHAPES: dict[type, tuple[str, Callable[[Any], tuple[Any, ...]]] | None] = {}
# Archetypes are a handful of objects shared by every service: each is encoded once.
_SHARED: dict[int, tuple[Archetype, Any]] = {}


def _shape(kind: type) -> tuple[str, Callable[[Any], tuple[Any, ...]]] | None:
    if kind not in _SHAPES:
        if dataclasses.is_dataclass(kind):
            # The qualified name too: a plugin's archetype subclass shapes objects its own way.
            names = [f.name for f in dataclasses.fields(kind) if f.compare]
            getter = operator.attrgetter(*names) if len(names) > 1 else _single(names)
            _SHAPES[kind] = (f"{kind.__module__}.{kind.__qualname__}", getter)
        else:
            _SHAPES[kind] = None
    return _SHAPES[kind]


def _single(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    return lambda value: tuple(getattr(value, name) for name in names)


def plain(value: Any, positions: list[Location] | None = None) -> Any:
    """A marshal-able, canonical form of a model value.

    With a `positions` list, source positions are left out of the form and appended to the list.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is tuple or kind is list:
        return tuple([plain(v, positions) for v in value])
    if kind is dict:
        return ("map", tuple([(plain(k, positions), plain(v, positions)) for k, v in value.items()]))
    shape = _shape(kind)
    if shape is not None:
        if kind is Location and positions is not None:
            positions.append(value)
            return None
        if isinstance(value, Archetype):
            shared = _SHARED.get(id(value))
            if shared is None or shared[0] is not value:
                shared = _SHARED[id(value)] = (value, (shape[0], tuple([plain(v) for v in shape[1](value)])))
            return shared[1]
        return (shape[0], tuple([plain(v, positions) for v in shape[1](value)]))
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


_NEIGHBOUR_FIELDS: dict[type, tuple[int, ...]] = {}


def _neighbour_fields(kind: type) -> tuple[int, ...]:
    """Where the NEIGHBOUR fields sit among a service class's compared fields (its plain form)."""
    found = _NEIGHBOUR_FIELDS.get(kind)
    if found is None:
        names = [f.name for f in dataclasses.fields(kind) if f.compare]
        found = _NEIGHBOUR_FIELDS[kind] = tuple(names.index(field) for field in NEIGHBOUR)
    return found


def _builtin_archetype(svc: Service) -> bool:
    from mpc.lang.archetypes import BUILTIN

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
        self._routes_to: dict[str, bytes] | None = None

    @property
    def globals(self) -> bytes:
        """Everything in the model but the services and the routes, without source positions."""
        if self._globals is None:
            model = self._model
            rest = dataclasses.replace(
                model, services={}, gateway=dataclasses.replace(model.gateway, routes=())
            )
            self._globals = _sha(plain(rest, []))
        return self._globals

    def _routes(self, name: str) -> bytes:
        """The routes to a service (without their positions), and where the issuers they require are
        written: its RequestAuthentications point at those."""
        if self._routes_to is None:
            routes: dict[str, list[Route]] = {}
            for route in self._model.gateway.routes:
                routes.setdefault(route.service, []).append(route)
            self._routes_to = {}
            for svc, to in routes.items():
                required = [self._model.issuers.get(r.auth or "") for r in to]
                issuers = [issuer.source for issuer in required if issuer is not None]
                self._routes_to[svc] = _sha(plain(tuple(to), [])) + _sha(_lines(issuers))
        return self._routes_to.get(name, b"")

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

    def _whole_model(self) -> bytes:
        """The whole model, source positions included: what a plugin archetype's shape() may read."""
        if self._everything is None:
            positions: list[Location] = []
            form = plain(self._model, positions)
            self._everything = _sha(form) + _sha(_lines(positions))
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
        h.update(b"routes" + self._routes(name))
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
            h.update(self._whole_model())
        found = self._context[f"{name}\0{wave}"] = h.hexdigest()
        return found
