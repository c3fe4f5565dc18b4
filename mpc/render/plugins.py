"""Backends and archetypes found through entry points: the built-in ones and third-party ones alike."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from mpc.errors import Diagnostic, Location, MpcError, PluginError, did_you_mean
from mpc.lang.archetypes import Archetype
from mpc.render.api import Backend

if TYPE_CHECKING:
    from mpc.lang.model import Model, Service

BACKEND_GROUP = "mpc.backends"
ARCHETYPE_GROUP = "mpc.archetypes"
BUILTIN_DISTRIBUTION = "masterproxy"


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


_FOUND: dict[tuple[str, tuple[str, ...]], dict[str, Plugin]] = {}


def _discover(group: str, kind: str) -> dict[str, Plugin]:
    # Each entry_points() call reads the metadata of every installed distribution (~10 ms), and a build
    # asks four times: remembered per group for as long as the import path is the same.
    cache_key = (group, tuple(sys.path))
    if cache_key not in _FOUND:
        _FOUND[cache_key] = _scan(group, kind)
    return dict(_FOUND[cache_key])


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


def discover_backends() -> dict[str, Plugin]:
    return _discover(BACKEND_GROUP, "backend")


def discover_archetypes() -> dict[str, Plugin]:
    return _discover(ARCHETYPE_GROUP, "archetype")


def _load(plugin: Plugin) -> Any:
    if plugin.builtin:
        return plugin.entry_point.load()
    try:
        return plugin.entry_point.load()
    except Exception as exc:  # a third-party import failure is that plugin's, reported by name
        raise PluginError(plugin.kind, plugin.name, plugin.distribution, exc) from exc


def load_backends(
    names: list[str] | None = None, configured: Iterable[str] = ()
) -> list[tuple[Plugin, Backend]]:
    """The selected backends, in a stable order: built-ins first.

    When `names` is empty: the built-in backends and the plugin backends the mesh configures (a
    top-level `extensions.<name>` block, passed as `configured`). Installing a plugin on one machine
    must not change what an unchanged mesh compiles to.
    """
    available = discover_backends()
    if names:
        unknown = [n for n in names if n not in available]
        if unknown:
            raise MpcError(
                [
                    Diagnostic(
                        "E314",
                        f"unknown backend {n!r}",
                        Location("<command line>"),
                        did_you_mean(n, list(available)),
                    )
                    for n in unknown
                ]
            )
        chosen = [available[n] for n in dict.fromkeys(names)]
    else:
        wanted = set(configured)
        selected = (p for p in available.values() if p.builtin or p.name in wanted)
        chosen = sorted(selected, key=lambda p: (not p.builtin, p.name))
    return [(plugin, load_backend(plugin)) for plugin in chosen]


def load_backend(plugin: Plugin) -> Backend:
    backend = _load(plugin)
    if not isinstance(backend, Backend):
        raise PluginError(
            "backend", plugin.name, plugin.distribution, TypeError("does not implement name and render()")
        )
    return backend


class Archetypes(Mapping[str, Archetype]):
    """The installed archetypes by name, each imported on first use.

    Lazy so that a broken third-party archetype fails the meshes that use it (as that plugin's failure),
    not every mesh on the machine. One instance lives for one analysis; it is not module state.
    """

    def __init__(self, plugins: Mapping[str, Plugin]) -> None:
        self._plugins = dict(plugins)
        self._loaded: dict[str, Archetype] = {}

    def __getitem__(self, name: str) -> Archetype:
        if name not in self._loaded:
            plugin = self._plugins[name]  # KeyError for an unknown name, as a Mapping must
            value = _load(plugin)
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

    def plugin(self, name: str) -> Plugin | None:
        return self._plugins.get(name)


def load_archetypes() -> Archetypes:
    return Archetypes(discover_archetypes())


def call_shape(service: Service, model: Model, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`service.archetype.shape(...)`, with a third-party archetype's failure reported as that plugin's.

    Backends call this rather than `shape` directly. A built-in archetype's failure stays an mpc bug.
    """
    archetype = service.archetype
    try:
        shaped = archetype.shape(service, model, objects)
        if not isinstance(shaped, list) or not all(isinstance(o, dict) for o in shaped):
            raise TypeError(f"shape() returned {type(shaped).__name__}, not a list of objects (dicts)")
        return shaped
    except MpcError:
        raise
    except Exception as exc:
        plugin = discover_archetypes().get(archetype.name)  # only on failure: discovery costs a few ms
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
