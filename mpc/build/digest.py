"""Digests for the unit cache: of a service's context, and of the code that renders it.

A context's digest covers every field of every value in it: dataclasses field by field (with their
qualified class name), mappings in order, sets sorted, numbers apart from booleans. No list of fields is
kept by hand: a field added to the model is digested the moment it exists, and a renderer cannot read
anything that is not in its context (the type of its argument says so). Of a source position only the
key path counts: generated files name `mesh.yaml#services.accounts`, never a line, so a comment added
above a service changes no digest.

Anything the encoder does not know is refused (TypeError) rather than guessed at.
"""

from __future__ import annotations

import dataclasses
import hashlib
import marshal
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from mpc.errors import Location
from mpc.lang.archetypes import Archetype
from mpc.lang.model import SETTINGS, MeshSettings, Peer, Route, ServiceContext

# marshal format 2 writes no back-references: the bytes depend on the value alone, not on how the
# objects happen to be shared in memory.
_MARSHAL_FORMAT = 2
_SCALARS = frozenset({str, int, bool, float, type(None)})
# Shared by many contexts: encoded once per object (an archetype per service kind, a Peer per service,
# a route per route).
_SHARED = (Archetype, Peer, Route)


class Undigestable(TypeError):
    """A value the encoder does not know: the unit it belongs to is rendered, never taken from the cache."""


class Encoder:
    """Canonical, marshal-able forms of model values.

    Values of a type are encoded by one handler, found once per type. Objects that many contexts share
    (archetypes, the Peer of a service, a route) are encoded once, remembered by identity.
    """

    def __init__(self) -> None:
        self._handlers: dict[type, Callable[[Any], Any]] = {}
        self._shared: dict[int, tuple[object, Any]] = {}

    def form(self, value: Any) -> Any:
        kind = type(value)
        if kind in _SCALARS:
            return value
        handler = self._handlers.get(kind)
        if handler is None:
            handler = self._handlers[kind] = self._handler(kind)
        return handler(value)

    def _handler(self, kind: type) -> Callable[[Any], Any]:
        form = self.form
        if kind is tuple or kind is list:
            return lambda value: tuple([form(v) for v in value])
        if kind is Location:
            return lambda value: ("at", value.path)
        if dataclasses.is_dataclass(kind):
            name = f"{kind.__module__}.{kind.__qualname__}"
            fields = [f.name for f in dataclasses.fields(kind)]
            get = operator.attrgetter(*fields) if len(fields) > 1 else (lambda v: (getattr(v, fields[0]),))

            def plain(value: Any) -> Any:
                return (name, tuple([form(v) for v in get(value)]))

            if issubclass(kind, _SHARED):
                return lambda value: self._remembered(value, plain)
            return plain
        if issubclass(kind, Mapping):
            return lambda value: ("map", tuple([(form(k), form(v)) for k, v in value.items()]))
        if kind is frozenset or kind is set:
            return lambda value: ("set", tuple(sorted(form(v) for v in value)))
        if kind is Decimal:
            return lambda value: ("dec", str(value))
        raise Undigestable(f"cannot digest a {kind.__qualname__}")

    def _remembered(self, value: Any, encode: Callable[[Any], Any]) -> Any:
        found = self._shared.get(id(value))
        if found is None or found[0] is not value:
            found = self._shared[id(value)] = (value, encode(value))
        return found[1]


def _sha(form: Any) -> bytes:
    return hashlib.sha256(marshal.dumps(form, _MARSHAL_FORMAT)).digest()


class ContextDigests:
    """The digest of each service's context; the mesh settings are digested once for all of them."""

    def __init__(self, settings: MeshSettings) -> None:
        self._encoder = Encoder()
        self._settings = _sha(tuple(self._encoder.form(getattr(settings, name)) for name in SETTINGS))

    def of(self, context: ServiceContext) -> bytes:
        encoder = self._encoder
        form = (
            encoder.form(context.service),
            context.wave,
            encoder.form(context.calls),
            encoder.form(context.callers),
            encoder.form(context.routes),
        )
        return hashlib.sha256(self._settings + _sha(form)).digest()


def unit_key(code: str, backend: str, context_digest: bytes) -> str:
    """The cache key of one backend's output for one service."""
    material = f"{code}\0{backend}\0".encode() + context_digest
    return hashlib.sha256(material).hexdigest()
