"""Reserved names: no two names of a mesh, nor one of them and mpc's own, give one object or file.

The templates are mpc.graph.reserved.CLAIMS; here they are expanded with the names the mesh chooses.
Every claim is expanded whether or not its object is rendered today (a PodDisruptionBudget comes with a
second replica), so a name is refused before it can collide, not when the collision appears.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterable
from dataclasses import dataclass

from mpc.errors import Code, Diagnostic, Location
from mpc.graph.checks.context import Context
from mpc.graph.reserved import CLAIMS, FILE, Claim, route_name
from mpc.lang.load import Document


@dataclass(frozen=True, slots=True)
class _Name:
    """One name the mesh chooses, and where (looked up only for a name that is reported)."""

    family: str  # the template variable it fills
    value: str
    doc: Document
    path: tuple[str | int, ...]
    label: str  # "service"
    key: bool = True
    shown: str = ""  # how a message names it, when not "<label> '<value>'"

    @property
    def where(self) -> Location:
        return self.doc.location(self.path, key=self.key)

    @property
    def who(self) -> str:
        return self.shown or f"{self.label} {self.value!r}"


@dataclass(frozen=True, slots=True)
class _Use:
    claim: Claim
    names: tuple[_Name, ...]  # the names filling its variables, in template order

    @property
    def named(self) -> tuple[_Name, ...]:
        """The names that make the name (an environment in a path only says which folder)."""
        chosen = tuple(n for n in self.names if n.family not in _FOLDERS)
        return chosen or self.names

    @property
    def subject(self) -> _Name | None:
        """The name to blame: of those that make the name, the one declared last in the file; None for a
        name of mpc's own (fixed, or only placed in an environment's folder)."""
        if all(n.family in _FOLDERS for n in self.names):
            return None
        return max(self.named, key=lambda n: (n.where.line, n.where.col))

    def describe(self) -> str:
        return " with ".join(n.who for n in self.named)


_FOLDERS = frozenset({"env", "overlay_dir"})
_NOUNS = {
    "service": "service",
    "gateway": "gateway",
    "external": "external entry",
    "cluster": "cluster",
    "mesh": "mesh",
    "issuer": "issuer",
    "provider": "provider",
    "overlay": "environment or the cluster",
    "crd": "custom resource",
    "versioned": "version",
    "files": "volume",
    "route": "route's path",
}


def _names(c: Context) -> dict[str, list[_Name]]:
    m, doc = c.mesh, c.doc
    gateway, name = m.gateway.name, m.metadata.name
    out: dict[str, list[_Name]] = {
        "service": [_Name("service", n, doc, ("services", n), "service") for n in m.services],
        "gateway": [_Name("gateway", gateway, doc, ("gateway", "name"), "gateway", key=False)],
        "external": [_Name("external", n, doc, ("external", n), "external entry") for n in m.external],
        "cluster": [_Name("cluster", n, doc, ("clusters", n), "cluster") for n in m.clusters],
        "mesh": [_Name("mesh", name, doc, ("metadata", "name"), "mesh", key=False)],
        "issuer": [],
        "provider": [],
        "env": [],
        "overlay": [],
        "overlay_dir": [],
    }
    if m.auth is not None:
        out["issuer"] = [_Name("issuer", n, doc, ("auth", "issuers", n), "issuer") for n in m.auth.issuers]
        if m.auth.provider is not None:
            where = ("auth", "provider", "kind")
            out["provider"] = [_Name("provider", m.auth.provider.kind, doc, where, "provider", key=False)]
    for env in c.model.environments.values():
        home: tuple[str | int, ...] = ("environments", env.name) if not env.implicit else ("metadata",)
        out["env"].append(_Name("env", env.name, doc, home, "environment"))
    for overlay in c.model.overlays:
        env = c.model.environments[overlay.environment]
        home = ("environments", env.name) if not env.implicit else ("metadata",)
        value, folder, shown = env.name, env.name, f"environment {env.name!r}"
        if overlay.cluster is not None:
            home = ("environments", env.name, "clusters", env.clusters.index(overlay.cluster))
            value, folder = f"{value}-{overlay.cluster}", f"{folder}/{overlay.cluster}"
            shown += f" on cluster {overlay.cluster!r}"
        out["overlay"].append(_Name("overlay", value, doc, home, "overlay", shown=shown))
        out["overlay_dir"].append(_Name("overlay_dir", folder, doc, home, "overlay", shown=shown))
    out["crd"] = [
        _Name("crd", cr.crd_name, doc, ("customResources", i), "custom resource", key=False)
        for i, cr in enumerate(c.model.custom_resources)
    ]
    out["versioned"], out["files"] = [], []
    for service, body in m.services.items():
        for version in body.versions or {}:
            home = ("services", service, "versions", version)
            shown = f"version {version!r} of service {service!r}"
            out["versioned"].append(
                _Name("versioned", f"{service}-{version}", doc, home, "version", shown=shown)
            )
        for i, volume in enumerate(body.volumes):
            if volume.files is not None:
                home = ("services", service, "volumes", i, "name")
                shown = f"volume {volume.name!r} of service {service!r}"
                out["files"].append(
                    _Name("files", f"{service}-{volume.name}", doc, home, "volume", key=False, shown=shown)
                )
    out["route"] = []
    for i, route in enumerate(m.gateway.routes):
        match, exact = (route.path, True) if route.path is not None else (route.prefix or "/", False)
        name = route_name(match, exact, tuple(route.methods or ()))
        home = ("gateway", "routes", i, "path" if exact else "prefix")
        out["route"].append(_Name("route", name, doc, home, "route", key=False, shown=f"route {match!r}"))
    return out


def _variables(template: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def _uses(claim: Claim, names: dict[str, list[_Name]]) -> Iterable[tuple[str, _Name | tuple[_Name, ...]]]:
    """(value, the names that fill it) for every value the claim takes in this mesh."""
    variables = _variables(claim.template)
    # A folder variable (an environment) only repeats the same folder once per value, and no other
    # template can make its part of the path: the first value finds every collision the others would.
    domains = [names[v][:1] if v in _FOLDERS else names[v] for v in variables]
    if len(variables) == 1:  # most claims, over every service: spelt out for speed
        before, after = claim.template.split("{" + variables[0] + "}")
        for n in domains[0]:
            yield before + n.value + after, n
        return
    for filling in itertools.product(*domains):
        yield claim.template.format(**{n.family: n.value for n in filling}), filling


def _claims() -> list[Claim]:
    """The claims worth expanding. A kind with one claim of at most one variable gives every name its own
    value (nothing to meet); a kind whose templates are another's meets the same names (Deployment,
    Service, ServiceAccount... are all `{service}` and `{gateway}`), so only the first is expanded."""
    templates: dict[str, list[str]] = {}
    for claim in CLAIMS:
        templates.setdefault(claim.kind, []).append(claim.template)
    seen: set[frozenset[str]] = set()
    kinds: set[str] = set()
    for kind, group in templates.items():
        key = frozenset(group)
        alone = len(group) == 1 and len(_variables(group[0])) <= 1
        if kind == FILE or (key not in seen and not alone):
            kinds.add(kind)
        seen.add(key)
    return [claim for claim in CLAIMS if claim.kind in kinds]


# Pairs of roles E310 reports when one name plays both (a service named like the gateway or like an
# external entry): not reported again here.
_E310 = (frozenset({"service", "gateway"}), frozenset({"service", "external"}))


def _same_entity(a: _Use, b: _Use) -> bool:
    """One name reported by a check of its own: in two roles (E310), or written twice (two routes of one
    path and methods, two custom resources of one plural and group: E303)."""
    if len(a.names) != 1 or len(b.names) != 1:
        return False
    x, y = a.names[0], b.names[0]
    if x.family == y.family:
        return x.who == y.who
    return x.value == y.value and frozenset({x.family, y.family}) in _E310


def _position(use: _Use) -> tuple[int, int]:
    subject = use.subject
    return (subject.where.line, subject.where.col) if subject is not None else (0, 0)


def _diagnostic(kind: str, value: str, a: _Use, b: _Use) -> Diagnostic:
    """Blamed on the name declared last (a fixed name of mpc's is never to blame)."""
    first, later = sorted((a, b), key=_position)
    subject = later.subject
    assert subject is not None, "two fixed names never collide"
    what = f"the file {value}" if kind == FILE else f"the {kind} {value!r}"
    if first.subject is None:
        return Diagnostic(
            Code.RESERVED_NAME,
            f"{later.describe()} would give {what}, which mpc makes itself ({first.claim.purpose})",
            subject.where,
            f"rename the {_NOUNS[subject.family]}: mpc reserves {value!r} for {first.claim.purpose}",
        )
    other = first.subject
    return Diagnostic(
        Code.RESERVED_NAME,
        f"{later.describe()} would give {what}, as {first.describe()} does",
        subject.where,
        "rename one of them: mpc names objects and files after both",
        notes=((other.where, f"{other.who} is declared here"),),
    )


def check_reserved(c: Context) -> Iterable[Diagnostic]:
    names = _names(c)
    taken: dict[str, dict[str, tuple[Claim, _Name | tuple[_Name, ...]]]] = {}
    reported: set[Location] = set()  # one diagnostic per name: the first collision found
    for claim in _claims():
        seen = taken.setdefault(claim.kind, {})
        for value, filling in _uses(claim, names):
            first = seen.get(value)
            if first is None:
                seen[value] = (claim, filling)
                continue
            earlier, use = _Use(first[0], _tuple(first[1])), _Use(claim, _tuple(filling))
            if _same_entity(earlier, use):
                continue
            found = _diagnostic(claim.kind, value, earlier, use)
            if found.location not in reported:
                reported.add(found.location)
                yield found


def _tuple(filling: _Name | tuple[_Name, ...]) -> tuple[_Name, ...]:
    return filling if isinstance(filling, tuple) else (filling,)
