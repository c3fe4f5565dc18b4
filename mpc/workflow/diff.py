"""diff: what changes between two versions of a mesh, in the graph, in security and in the output.

Both versions are compiled in memory with the same pipeline as `mpc build`. The report is plain data
(frozen dataclasses); mpc.workflow.report renders it as markdown or JSON. Nothing here prints or exits.
"""

from __future__ import annotations

import dataclasses
import difflib
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mpc.errors import Code, Diagnostic, Location, MpcError, Severity
from mpc.graph import draw
from mpc.graph.front import Front
from mpc.graph.mesh import MeshGraph, edge_narrowing, node_id, split_id
from mpc.lang.model import Narrowing
from mpc.render.plugins import Installed

Change = Literal["added", "removed", "changed"]

# Node kinds in the order reports list them.
KINDS = ("gateway", "route", "service", "external", "issuer", "cluster", "environment")
# "serves" (gateway -> route) is implied by the route itself.
EDGE_KINDS = ("calls", "routes", "authenticates", "places", "runs")
# Model fields that say where something is written, not what it is.
_SKIPPED_FIELDS = frozenset({"source", "dependency_sources", "index", "name"})


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str  # dotted, in mesh terms: image, resources.cpu, placements.prod.replicas
    old: Any  # JSON-able; None when absent
    new: Any


@dataclass(frozen=True, slots=True)
class NodeChange:
    id: str  # graph node id, "<kind>:<name>"
    kind: str
    name: str
    change: Change
    source: str  # where it is written (the new file; the old one for a removed node)
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True, slots=True)
class EdgeChange:
    source: str
    target: str
    kind: str
    change: Literal["added", "removed"]


@dataclass(frozen=True, slots=True)
class Call:
    """One allowed call: caller is a service name or "gateway:<name>"; callee a service name."""

    caller: str
    callee: str


@dataclass(frozen=True, slots=True)
class AuthChange:
    route: str  # the route's prefix
    service: str
    old: str | None  # issuer name, None when the route was public (or did not exist)
    new: str | None
    change: Literal["added", "dropped", "changed"]


@dataclass(frozen=True, slots=True)
class ScopeChange:
    """A call allowed in both versions whose ports, methods or paths changed (its dependsOn entry)."""

    caller: str
    callee: str
    old: str  # what it allowed, in words ("every request", "methods POST; paths /a")
    new: str
    change: Literal["narrowed", "widened", "changed"]


@dataclass(frozen=True, slots=True)
class WeightChange:
    """A version's share of a service's traffic; None where the version does not exist."""

    service: str
    version: str
    old: int | None
    new: int | None


@dataclass(frozen=True, slots=True)
class Security:
    calls_added: tuple[Call, ...]
    calls_removed: tuple[Call, ...]
    auth: tuple[AuthChange, ...]
    scopes: tuple[ScopeChange, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.calls_added or self.calls_removed or self.auth or self.scopes)


@dataclass(frozen=True, slots=True)
class Blast:
    """The services and routes that transitively depend on a changed node."""

    node: str
    services: tuple[str, ...]
    routes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FileChange:
    path: str
    change: Change
    additions: int
    deletions: int
    diff: str  # unified diff; empty when redacted
    redacted: bool = False  # the file holds a Secret object: its content is never shown


@dataclass(frozen=True, slots=True)
class BackendChange:
    backend: str
    files: tuple[FileChange, ...]

    def count(self, change: Change) -> int:
        return sum(1 for f in self.files if f.change == change)


@dataclass(frozen=True, slots=True)
class Picture:
    """The Mermaid picture of a change, within the cap GitHub renders (mpc.graph.draw), and a sentence
    saying what it leaves out or why there is none."""

    mermaid: str = ""  # "" when there is no picture
    note: str = ""


@dataclass(frozen=True, slots=True)
class Invalid:
    """One side that could not be compared: its label and every diagnostic it got."""

    side: Literal["old", "new"]
    label: str
    diagnostics: tuple[Diagnostic, ...]
    omitted: int = 0  # diagnostics beyond the cap (MpcError.omitted)
    omitted_errors: int = 0

    @property
    def errors(self) -> int:
        """How many errors this side has, those beyond the report's cap included (MpcError.errors)."""
        return sum(1 for d in self.diagnostics if d.severity is Severity.ERROR) + self.omitted_errors


@dataclass(frozen=True, slots=True)
class DiffReport:
    old: str  # what was compared, as the user named it
    new: str
    nodes: tuple[NodeChange, ...] = ()
    edges: tuple[EdgeChange, ...] = ()
    security: Security = Security((), (), ())
    blast: tuple[Blast, ...] = ()
    outputs: tuple[BackendChange, ...] = ()
    picture: Picture = Picture()
    # Settings that reach many objects (defaults, environments, metadata), as written: the cause of a
    # change that touches every service.
    causes: tuple[FieldChange, ...] = ()
    invalid: tuple[Invalid, ...] = ()  # not empty: a side is not a valid mesh and nothing was compared

    @property
    def compared(self) -> bool:
        return not self.invalid

    weights: tuple[WeightChange, ...] = ()  # versions whose share of the traffic changed

    @property
    def changed(self) -> bool:
        return bool(self.nodes or self.edges or self.security.changed or self.outputs or self.weights)

    def node_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for kind in KINDS:
            row: dict[str, int] = {
                c: sum(1 for n in self.nodes if n.kind == kind and n.change == c) for c in _CHANGES
            }
            if any(row.values()):
                counts[kind] = row
        return counts

    def file_counts(self) -> dict[str, int]:
        return {c: sum(b.count(c) for b in self.outputs) for c in _CHANGES}


_CHANGES: tuple[Change, ...] = ("added", "removed", "changed")


@dataclass(frozen=True)
class Side:
    """One version: its label, its compiled front (None when the mesh did not exist) and files."""

    label: str
    front: Front | None
    files: Mapping[str, bytes]
    owners: Mapping[str, str]  # path -> backend that wrote it

    @property
    def graph(self) -> MeshGraph:
        if self.front is None:
            return MeshGraph()
        return self.front.graph


# --- compiling one side -----------------------------------------------------------------------------


def compile_side(label: str, front: Front | None, backends: tuple[str, ...], installed: Installed) -> Side:
    """Render every selected backend once, knowing which backend wrote which file."""
    from mpc.build.cache import Cache
    from mpc.build.compile import compile_tree
    from mpc.build.identity import code_identity

    if front is None:
        return Side(label, None, {}, {})
    cache = Cache()
    try:
        compiled = compile_tree(front, installed, backends, cache, code_identity(installed.third_party()))
    finally:
        cache.finish()
    return Side(label, front, compiled.files, compiled.owners)


def _same_annotations(old: Front, new: Front) -> Front:
    """The old model, naming the new file in annotations: a renamed file is not a change of output."""
    model = dataclasses.replace(old.model, source_file=new.model.source_file)
    return Front(old.doc, old.mesh, model, old.graph, old.warnings)


def diff_fronts(
    old: Front | None,
    new: Front,
    old_label: str,
    new_label: str,
    backends: tuple[str, ...],
    installed: Installed,
) -> DiffReport:
    if old is not None:
        old = _same_annotations(old, new)
    return compare(
        compile_side(old_label, old, backends, installed), compile_side(new_label, new, backends, installed)
    )


Reader = Callable[[], Front | None]


def diff_sides(
    old: Reader,
    new: Reader,
    old_label: str,
    new_label: str,
    backends: tuple[str, ...],
    installed: Installed | None = None,
) -> DiffReport:
    """Read both sides; a side that is not a valid mesh gives a report of its diagnostics only.
    `installed`: the plugins the readers analysed with (found once per command)."""
    fronts: list[Front | None] = []
    invalid: list[Invalid] = []
    for side, label, read in (("old", old_label, old), ("new", new_label, new)):
        try:
            fronts.append(read())
        except MpcError as exc:
            fronts.append(None)
            which: Literal["old", "new"] = "old" if side == "old" else "new"
            invalid.append(Invalid(which, label, tuple(exc.diagnostics), exc.omitted, exc.omitted_errors))
    if invalid:
        return DiffReport(old_label, new_label, invalid=tuple(invalid))
    old_front, new_front = fronts
    assert new_front is not None
    return diff_fronts(old_front, new_front, old_label, new_label, backends, installed or Installed())


def diff_files(old: Path, new: Path, backends: tuple[str, ...] = ()) -> DiffReport:
    """`mpc diff OLD NEW`."""
    from mpc.workflow.front import front_file

    installed = Installed()
    return diff_sides(
        lambda: front_file(old, installed=installed),
        lambda: front_file(new, installed=installed),
        str(old),
        str(new),
        backends,
        installed,
    )


def git_show(ref: str, path: Path) -> str | None:
    """The text of `path` at `ref` (git show REF:./path), None when the file does not exist there."""
    _check_ref(ref, path)
    cwd = path.parent if str(path.parent) else Path(".")
    spec = f"{ref}:./{path.name}"

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise MpcError(
                [
                    Diagnostic(
                        Code.UNREADABLE,
                        f"cannot run git: {exc}",
                        Location(str(path)),
                        "install git, or use mpc diff OLD NEW",
                    )
                ]
            ) from None

    # --end-of-options: whatever the ref says, git reads it as a revision, never as an option.
    shown = git("show", "--no-textconv", "--end-of-options", spec)
    if shown.returncode == 0:
        return shown.stdout
    if git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}").returncode == 0:
        return None  # the ref exists; the file does not exist there yet
    reason = shown.stderr.strip().splitlines()[-1] if shown.stderr.strip() else "git show failed"
    raise MpcError(
        [
            Diagnostic(
                Code.UNREADABLE,
                f"cannot read {path.name} at {ref!r}: {reason}",
                Location(str(path)),
                "name a commit, branch or tag of the repository holding the mesh "
                "(in CI, fetch it first: git fetch origin main)",
            )
        ]
    )


def _check_ref(ref: str, path: Path) -> None:
    """Refuse what git would read as something else: an empty ref (`REF:path` would name the index)
    or one that starts with `-` (an option). Git itself refuses both in a ref name."""
    problem = "is empty" if not ref.strip() else "starts with '-'" if ref.startswith("-") else ""
    if problem:
        raise MpcError(
            [
                Diagnostic(
                    Code.UNREADABLE,
                    f"the git ref {ref!r} {problem}: it names no commit",
                    Location(str(path)),
                    "name a commit, branch or tag, e.g. --base origin/main",
                )
            ]
        )


def diff_git(ref: str, mesh: Path, backends: tuple[str, ...] = ()) -> DiffReport:
    """`mpc diff --base REF MESH`: the version at REF against the file as it is now."""
    from mpc.lang.load import load_text
    from mpc.workflow.front import analyse, front_file

    label = f"{ref}:{mesh}"
    text = git_show(ref, mesh)  # a ref git cannot read is an error of the command, not a report

    installed = Installed()

    def old() -> Front | None:
        return analyse(load_text(text, label), installed) if text is not None else None

    def new() -> Front:
        return front_file(mesh, installed=installed)

    return diff_sides(old, new, label, str(mesh), backends, installed)


# --- comparing --------------------------------------------------------------------------------------


def compare(old: Side, new: Side) -> DiffReport:
    nodes = node_changes(old, new)
    edges = edge_changes(old.graph, new.graph)
    return DiffReport(
        old=old.label,
        new=new.label,
        nodes=nodes,
        edges=edges,
        security=security(old, new),
        blast=blast_radius(old, new, nodes),
        outputs=output_changes(old, new),
        picture=picture(old.graph, new.graph, nodes, edges),
        causes=causes(old.front, new.front),
        weights=weight_changes(old, new),
    )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _plain(value: Any) -> Any:
    """A model value as JSON-able data, in mesh terms; secrets by name only."""
    from mpc.lang.archetypes import Archetype
    from mpc.lang.model import SecretRef
    from mpc.lang.quantities import Quantity

    if isinstance(value, SecretRef):
        return f"{value.env} from secret {value.secret}[{value.key}]"
    if isinstance(value, Archetype):
        return value.name
    if isinstance(value, Quantity):
        return str(value)
    if isinstance(value, Location):
        return None
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            if f.name in _SKIPPED_FIELDS:
                continue
            out[_camel(f.name)] = _plain(getattr(value, f.name))
        return out
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        items = [_plain(v) for v in value]
        # env is a tuple of (key, value) pairs: show it as KEY=value.
        if items and all(isinstance(i, list) and len(i) == 2 and isinstance(i[0], str) for i in items):
            return [f"{k}={v}" for k, v in items]
        return items
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    return value


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys; lists and scalars are leaves."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else key))
        if not data and prefix:
            out[prefix] = {}
        return out
    return {prefix: data}


def _model_object(front: Front, kind: str, name: str) -> Any:
    m = front.model
    table: dict[str, Mapping[str, Any]] = {
        "service": m.services,
        "external": m.external,
        "issuer": m.issuers,
        "cluster": m.clusters,
        "environment": m.environments,
        "route": {r.key: r for r in m.gateway.routes},
        "gateway": {m.gateway.name: dataclasses.replace(m.gateway, routes=())},
    }
    return table[kind].get(name)


def node_fields(front: Front, node: str) -> dict[str, Any]:
    kind, name = split_id(node)
    obj = _model_object(front, kind, name)
    if obj is None:
        return {}
    plain = _plain(obj)
    if kind == "gateway":
        plain.pop("routes", None)  # each route is a node of its own
    return _flatten(plain)


def _source(graph: MeshGraph, node: str) -> str:
    return str(graph.node(node)["source"])


def _node_order(node: str) -> tuple[int, str]:
    kind, name = split_id(node)
    return (KINDS.index(kind) if kind in KINDS else len(KINDS), name)


def node_changes(old: Side, new: Side) -> tuple[NodeChange, ...]:
    before, after = set(old.graph.node_ids()), set(new.graph.node_ids())
    out: list[NodeChange] = []
    for node in sorted(before | after, key=_node_order):
        kind, name = split_id(node)
        if node not in before:
            out.append(NodeChange(node, kind, name, "added", _source(new.graph, node)))
        elif node not in after:
            out.append(NodeChange(node, kind, name, "removed", _source(old.graph, node)))
        else:
            assert old.front is not None and new.front is not None
            a, b = node_fields(old.front, node), node_fields(new.front, node)
            fields = tuple(
                FieldChange(key, a.get(key), b.get(key))
                for key in sorted(a.keys() | b.keys())
                if a.get(key) != b.get(key)
            )
            if fields:
                out.append(NodeChange(node, kind, name, "changed", _source(new.graph, node), fields))
    return tuple(out)


def _edge_set(graph: MeshGraph) -> set[tuple[str, str, str]]:
    return {(u, v, d["kind"]) for u, v, d in graph.edge_list() if d["kind"] in EDGE_KINDS}


def edge_changes(old: MeshGraph, new: MeshGraph) -> tuple[EdgeChange, ...]:
    a, b = _edge_set(old), _edge_set(new)
    out = [EdgeChange(u, v, k, "added") for u, v, k in b - a]
    out += [EdgeChange(u, v, k, "removed") for u, v, k in a - b]
    return tuple(sorted(out, key=lambda e: (EDGE_KINDS.index(e.kind), e.source, e.target, e.change)))


def _allowed(graph: MeshGraph) -> set[tuple[str, str]]:
    return graph.allowed_calls() if graph.nodes("gateway") else set()


def _route_auth(side: Side) -> dict[str, tuple[str, str | None]]:
    if side.front is None:
        return {}
    return {r.key: (r.service, r.auth) for r in side.front.model.gateway.routes}


def _scopes(graph: MeshGraph) -> dict[tuple[str, str], Narrowing]:
    return {
        (split_id(u)[1], split_id(v)[1]): edge_narrowing(d)
        for u, v, d in graph.edge_list()
        if d["kind"] == "calls" and split_id(v)[0] == "service"
    }


def _within(inner: tuple[str, ...], outer: tuple[str, ...]) -> bool:
    """Whether one dimension of a call allows no more than another (empty: everything)."""
    return not outer or (bool(inner) and set(inner) <= set(outer))


def scope_change(old: Narrowing, new: Narrowing) -> Literal["narrowed", "widened", "changed"] | None:
    if old == new:
        return None
    pairs = [(getattr(old, d), getattr(new, d)) for d in ("ports", "methods", "paths")]
    if all(_within(n, o) for o, n in pairs):
        return "narrowed"
    if all(_within(o, n) for o, n in pairs):
        return "widened"
    return "changed"


def scope_changes(old: MeshGraph, new: MeshGraph) -> tuple[ScopeChange, ...]:
    before, after = _scopes(old), _scopes(new)
    out = []
    for pair in sorted(before.keys() & after.keys()):
        change = scope_change(before[pair], after[pair])
        if change is not None:
            out.append(ScopeChange(*pair, before[pair].describe(), after[pair].describe(), change))
    return tuple(out)


def _weights(side: Side) -> dict[tuple[str, str], int]:
    if side.front is None:
        return {}
    return {(s.name, v.name): v.weight for s in side.front.model.services.values() for v in s.versions}


def weight_changes(old: Side, new: Side) -> tuple[WeightChange, ...]:
    """Versions whose weight changed, appeared or went, of services in both versions of the mesh."""
    a, b = _weights(old), _weights(new)
    both = {s for s, _ in a} & {s for s, _ in b}
    keys = sorted(k for k in a.keys() | b.keys() if k[0] in both and a.get(k) != b.get(k))
    return tuple(WeightChange(s, v, a.get((s, v)), b.get((s, v))) for s, v in keys)


def security(old: Side, new: Side) -> Security:
    a, b = _allowed(old.graph), _allowed(new.graph)
    added = tuple(Call(u, v) for u, v in sorted(b - a))
    removed = tuple(Call(u, v) for u, v in sorted(a - b))
    auth: list[AuthChange] = []
    before, after = _route_auth(old), _route_auth(new)
    for prefix in sorted(before.keys() & after.keys()):
        (_, was), (service, now) = before[prefix], after[prefix]
        if was == now:
            continue
        kind: Literal["added", "dropped", "changed"] = (
            "added" if was is None else "dropped" if now is None else "changed"
        )
        auth.append(AuthChange(prefix, service, was, now, kind))
    return Security(added, removed, tuple(auth), scope_changes(old.graph, new.graph))


def blast_radius(old: Side, new: Side, nodes: Iterable[NodeChange]) -> tuple[Blast, ...]:
    out: list[Blast] = []
    for change in nodes:
        graph = old.graph if change.change == "removed" else new.graph
        found = set(graph.blast_radius(change.id))
        if change.kind == "cluster":
            found |= {node_id("service", s) for s in graph.services_on(change.name)}
        elif change.kind == "environment" and change.id in graph:
            found |= {v for _, v, d in graph.out_edges(change.id) if d["kind"] == "runs"}
        services = tuple(sorted(split_id(n)[1] for n in found if split_id(n)[0] == "service"))
        routes = tuple(sorted(split_id(n)[1] for n in found if split_id(n)[0] == "route"))
        out.append(Blast(change.id, services, routes))
    return tuple(out)


def _is_secret(text: str) -> bool:
    return any(line.strip() == "kind: Secret" for line in text.splitlines())


def file_change(path: str, old: bytes | None, new: bytes | None) -> FileChange:
    a = old.decode("utf-8") if old is not None else ""
    b = new.decode("utf-8") if new is not None else ""
    change: Change = "added" if old is None else "removed" if new is None else "changed"
    lines = list(
        difflib.unified_diff(
            a.splitlines(keepends=True),
            b.splitlines(keepends=True),
            fromfile="/dev/null" if old is None else f"a/{path}",
            tofile="/dev/null" if new is None else f"b/{path}",
        )
    )
    additions = sum(1 for ln in lines if ln.startswith("+") and not ln.startswith("+++"))
    deletions = sum(1 for ln in lines if ln.startswith("-") and not ln.startswith("---"))
    if _is_secret(a) or _is_secret(b):
        return FileChange(path, change, additions, deletions, "", redacted=True)
    text = "".join(ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n" for ln in lines)
    return FileChange(path, change, additions, deletions, text)


def output_changes(old: Side, new: Side) -> tuple[BackendChange, ...]:
    per_backend: dict[str, list[FileChange]] = {}
    for path in sorted(old.files.keys() | new.files.keys()):
        a, b = old.files.get(path), new.files.get(path)
        if a == b:
            continue
        backend = new.owners.get(path) or old.owners.get(path) or "other"
        per_backend.setdefault(backend, []).append(file_change(path, a, b))
    return tuple(BackendChange(name, tuple(files)) for name, files in sorted(per_backend.items()))


# --- causes -----------------------------------------------------------------------------------------

# Sections whose settings every service (or every object) inherits: a change there is the likely cause
# of a change to many nodes and files, named as written in the file.
CAUSE_SECTIONS = ("defaults", "environments", "metadata")


def causes(old: Front | None, new: Front | None) -> tuple[FieldChange, ...]:
    if old is None or new is None:
        return ()
    out: list[FieldChange] = []
    for section in CAUSE_SECTIONS:
        a, b = old.doc.data.get(section), new.doc.data.get(section)
        if section == "environments":  # an added or removed environment is a node change, not a setting
            a, b = _common(a, b), _common(b, a)
        before, after = _flatten(_as_json(a), section), _flatten(_as_json(b), section)
        for key in sorted(before.keys() | after.keys()):
            if before.get(key) != after.get(key) and key != section:
                out.append(FieldChange(key, before.get(key), after.get(key)))
    return tuple(out)


def _common(mine: Any, other: Any) -> Any:
    if not isinstance(mine, Mapping) or not isinstance(other, Mapping):
        return {}
    return {k: v for k, v in mine.items() if k in other}


def _as_json(value: Any) -> Any:
    """Document data (ruamel's mappings and sequences) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(v) for v in value]
    return value


# --- the picture ------------------------------------------------------------------------------------


def _changed_edges(old: MeshGraph, new: MeshGraph) -> list[draw.Edge]:
    """Every edge of either version, with its change: the picture draws a removed edge as removed."""
    before = {(u, v): d["kind"] for u, v, d in old.edge_list()}
    after = {(u, v): d["kind"] for u, v, d in new.edge_list()}
    out = []
    for key in sorted(before.keys() | after.keys()):
        if key in after and key in before and after[key] == before[key]:
            out.append(draw.Edge(*key, after[key]))
        else:
            if key in before:
                out.append(draw.Edge(*key, before[key], "removed"))
            if key in after:
                out.append(draw.Edge(*key, after[key], "added"))
    return out


def picture(
    old: MeshGraph, new: MeshGraph, nodes: Iterable[NodeChange], edges: Iterable[EdgeChange]
) -> Picture:
    """The change itself: changed nodes and the ends of changed edges, with their neighbours, styled by
    change. Past the cap, the changed nodes alone; past it still, a sentence instead of a picture."""
    styles: dict[str, draw.NodeChange] = {n.id: n.change for n in nodes}
    touched = set(styles) | {e.source for e in edges} | {e.target for e in edges}
    if not touched:
        return Picture()
    all_edges = _changed_edges(old, new)
    context = set(touched)
    for e in all_edges:
        # (every service runs in every environment: following `runs` would draw everything)
        if (e.source in touched or e.target in touched) and e.kind != "runs":
            context.update((e.source, e.target))
    kinds = {n: (old.node(n) if n in old else new.node(n)) for n in context}

    def draw_of(shown: set[str]) -> tuple[str, int]:
        order = sorted(shown)
        drawn = [draw.Node(n, kinds[n]["kind"], kinds[n]["name"], styles.get(n)) for n in order]
        return draw.flowchart(drawn, all_edges, legend=True), len(drawn)

    text, count = draw_of(context)
    if draw.fits(text, count):
        return Picture(text)
    text, count = draw_of(touched)
    if draw.fits(text, count):
        note = (
            f"Only the {count} changed nodes are drawn: with their neighbours the picture would have "
            f"{len(context):,} nodes, past mpc's cap of {draw.CAP} for a picture GitHub renders."
        )
        return Picture(text, note)
    return Picture(
        "",
        f"No picture: the change touches {len(touched):,} nodes, more than the {draw.MAX_NODES} one "
        f"picture can show (mpc caps pictures at {draw.CAP} so that GitHub renders them). "
        "The sections below count every change; `--format json` lists them all.",
    )
