"""Backends and archetypes found through entry points: the built-in ones and third-party ones alike."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from mpc.archetypes import Archetype
from mpc.artifact import Backend
from mpc.diagnostics import Diagnostic, Location, MpcError, PluginError, did_you_mean

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


def _discover(group: str, kind: str) -> dict[str, Plugin]:
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


def load_backends(names: list[str] | None = None) -> list[tuple[Plugin, Backend]]:
    """The selected backends (all when `names` is empty), in a stable order: built-ins first."""
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
        chosen = sorted(available.values(), key=lambda p: (not p.builtin, p.name))
    out: list[tuple[Plugin, Backend]] = []
    for plugin in chosen:
        backend = _load(plugin)
        if not isinstance(backend, Backend):
            raise PluginError(
                "backend", plugin.name, plugin.distribution, TypeError("does not implement name and render()")
            )
        out.append((plugin, backend))
    return out


def load_archetypes() -> dict[str, Archetype]:
    out: dict[str, Archetype] = {}
    for name, plugin in discover_archetypes().items():
        value = _load(plugin)
        if not isinstance(value, Archetype):
            raise PluginError(
                "archetype", name, plugin.distribution, TypeError("is not an mpc.archetypes.Archetype")
            )
        out[name] = value
    return out
