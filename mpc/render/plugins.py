"""Backends and archetypes found through entry points: the built-in ones and third-party ones alike.

`Installed` is one scan of the entry points, made once per command and passed to whatever needs it.
Every call into a plugin's code goes through `guarded`: a third-party failure is reported as that
plugin's (E501, by name), a built-in's as a bug in mpc.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any, TypeVar

from mpc.errors import Code, Diagnostic, Location, MpcError, PluginError, did_you_mean
from mpc.lang.archetypes import Archetype
from mpc.lang.extensions import Owner, Schema
from mpc.lang.load import dotted
from mpc.render.api import Backend

if TYPE_CHECKING:
    from mpc.lang.model import Model, ServiceContext

BACKEND_GROUP = "mpc.backends"
ARCHETYPE_GROUP = "mpc.archetypes"
BUILTIN_DISTRIBUTION = "masterproxy"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Plugin:
    kind: str  # backend | archetype
    name: str
    distribution: str
    version: str
    value: str  # module:attribute
    entry_point: EntryPoint

    @property
    def builtin(self) -> bool:
        return self.distribution == BUILTIN_DISTRIBUTION

    @property
    def module(self) -> str:
        """The top-level module of the plugin's code."""
        return self.value.partition(":")[0].partition(".")[0]


def guarded(plugin: Plugin, call: Callable[[], T]) -> T:
    """`call()`, plugin code: a third-party plugin's failure is reported as that plugin's, by name."""
    if plugin.builtin:
        return call()
    try:
        return call()
    except MpcError:
        raise
    except Exception as exc:
        raise PluginError(plugin.kind, plugin.name, plugin.distribution, exc) from exc


def _scan(group: str, kind: str) -> dict[str, Plugin]:
    found: dict[str, Plugin] = {}
    for ep in sorted(entry_points(group=group), key=lambda e: (e.name, e.value)):
        dist = ep.dist
        name = dist.metadata["Name"] if dist is not None else "unknown"
        version = dist.version if dist is not None else "unknown"
        if ep.name in found and found[ep.name].builtin:
            continue  # a plugin cannot replace a built-in by reusing its name
        found[ep.name] = Plugin(kind, ep.name, name, version, ep.value, ep)
    return found


class Archetypes(Mapping[str, Archetype]):
    """The installed archetypes by name, each imported on first use.

    Lazy so that a broken third-party archetype fails the meshes that use it (as that plugin's failure),
    not every mesh on the machine.
    """

    def __init__(self, plugins: Mapping[str, Plugin]) -> None:
        self._plugins = dict(plugins)
        self._loaded: dict[str, Archetype] = {}

    def __getitem__(self, name: str) -> Archetype:
        if name not in self._loaded:
            plugin = self._plugins[name]  # KeyError for an unknown name, as a Mapping must
            value = guarded(plugin, plugin.entry_point.load)
            if not isinstance(value, Archetype):
                raise PluginError(
                    "archetype",
                    name,
                    plugin.distribution,
                    TypeError("is not an mpc.lang.archetypes.Archetype"),
                )
            self._loaded[name] = value
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._plugins)

    def __len__(self) -> int:
        return len(self._plugins)


class Installed:
    """The installed backends and archetypes: one scan of the entry points, for one command."""

    def __init__(self) -> None:
        self.backends: dict[str, Plugin] = _scan(BACKEND_GROUP, "backend")
        self.archetype_plugins: dict[str, Plugin] = _scan(ARCHETYPE_GROUP, "archetype")
        self._archetypes = Archetypes(self.archetype_plugins)

    @property
    def archetypes(self) -> Archetypes:
        return self._archetypes

    def all(self) -> list[Plugin]:
        """Every plugin, backends first, each kind by name."""
        tables = (self.backends, self.archetype_plugins)
        return [p for table in tables for p in sorted(table.values(), key=lambda p: p.name)]

    def names(self) -> list[str]:
        return sorted(set(self.backends) | set(self.archetype_plugins))

    def select(
        self, names: Iterable[str] = (), configured: Iterable[str] = ()
    ) -> list[tuple[Plugin, Backend]]:
        """The backends to run, in a stable order: built-ins first.

        With no `names`: the built-in backends and the plugin backends the mesh configures (a top-level
        `extensions.<name>` block, passed as `configured`). Installing a plugin on one machine must not
        change what an unchanged mesh compiles to.
        """
        asked = list(dict.fromkeys(names))
        if asked:
            unknown = [n for n in asked if n not in self.backends]
            if unknown:
                raise MpcError(
                    [
                        Diagnostic(
                            Code.UNKNOWN_PLUGIN,
                            f"unknown backend {n!r}",
                            Location("<command line>"),
                            did_you_mean(n, list(self.backends)),
                        )
                        for n in unknown
                    ]
                )
            chosen = [self.backends[n] for n in asked]
        else:
            wanted = set(configured)
            selected = (p for p in self.backends.values() if p.builtin or p.name in wanted)
            chosen = sorted(selected, key=lambda p: (not p.builtin, p.name))
        return [(plugin, self.backend(plugin)) for plugin in chosen]

    def backend(self, plugin: Plugin) -> Backend:
        backend = guarded(plugin, plugin.entry_point.load)
        if not isinstance(backend, Backend):
            raise PluginError(
                "backend", plugin.name, plugin.distribution, TypeError("does not implement name and render()")
            )
        return backend

    def used(self, backends: Iterable[str], model: Model) -> dict[str, str]:
        """Third-party plugins a build used: "backend:<name>" or "archetype:<name>" -> "dist version"."""
        used: dict[str, str] = {}
        for name in backends:
            plugin = self.backends.get(name)
            if plugin is not None and not plugin.builtin:
                used[f"backend:{name}"] = f"{plugin.distribution} {plugin.version}"
        for service in model.services.values():
            plugin = self.archetype_plugins.get(service.archetype.name)
            if plugin is not None and not plugin.builtin:
                used[f"archetype:{plugin.name}"] = f"{plugin.distribution} {plugin.version}"
        return used

    def third_party(self) -> list[tuple[str, str]]:
        """(distribution and version, top-level module) of every third-party plugin, sorted."""
        return sorted({(f"{p.distribution} {p.version}", p.module) for p in self.all() if not p.builtin})

    def owners(self, names: Iterable[str]) -> dict[str, Owner]:
        """The installed plugins among `names`. Only the backends named are imported (a broken backend
        that the mesh does not configure does not stop a build that does not use it)."""
        found: dict[str, Owner] = {}
        for name in sorted(set(names)):
            if name in self.archetype_plugins:
                plugin = self.archetype_plugins[name]
                schema = _schema(self._archetypes[name], "extension_schema", plugin)
                found[name] = Owner("archetype", name, plugin.distribution, None, schema)
            elif name in self.backends:
                plugin = self.backends[name]
                backend = self.backend(plugin)
                mesh_schema = _schema(backend, "extension_schema", plugin)
                service_schema = _schema(backend, "service_extension_schema", plugin)
                found[name] = Owner("backend", name, plugin.distribution, mesh_schema, service_schema)
        return found


def _schema(value: object, attribute: str, plugin: Plugin) -> Schema | None:
    schema = getattr(value, attribute, None)
    if schema is None:
        return None
    if not isinstance(schema, Mapping):
        raise PluginError(
            plugin.kind,
            plugin.name,
            plugin.distribution,
            TypeError(f"{attribute} is not a JSON Schema mapping"),
        )
    # Imported here: a mesh without plugin blocks does not pay for jsonschema on every validate.
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(dict(schema))
    except SchemaError as exc:  # the plugin's schema is broken, not the user's block
        where = dotted(tuple(exc.absolute_path)) if exc.absolute_path else "the top"
        cause = ValueError(f"{attribute} is not a valid JSON Schema: at {where}: {exc.message}")
        raise PluginError(plugin.kind, plugin.name, plugin.distribution, cause) from exc
    return schema


def call_shape(context: ServiceContext, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`archetype.shape(context, objects)`: backends call this rather than `shape` directly.

    A third-party archetype's failure is reported as that plugin's; a built-in's stays an mpc bug.
    """
    archetype = context.service.archetype

    def shape() -> list[dict[str, Any]]:
        shaped = archetype.shape(context, objects)
        if not isinstance(shaped, list) or not all(isinstance(o, dict) for o in shaped):
            raise TypeError(f"shape() returned {type(shaped).__name__}, not a list of objects (dicts)")
        return shaped

    try:
        return shape()
    except MpcError:
        raise
    except Exception as exc:
        # Only on failure: which distribution ships this archetype (a scan of the entry points).
        plugin = _scan(ARCHETYPE_GROUP, "archetype").get(archetype.name)
        if plugin is None or plugin.builtin:
            raise
        raise PluginError("archetype", archetype.name, plugin.distribution, exc) from exc


def failure_site(exc: BaseException) -> str:
    """Where a plugin's exception was raised: the innermost frame, as `file.py:LINE in function`.

    Only the file's base name: diagnostics carry no absolute paths.
    """
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"{last.filename.replace(chr(92), '/').rsplit('/', 1)[-1]}:{last.lineno} in {last.name}"
