"""A root module: its resources, variables, outputs and providers, rendered as the usual files.

Ordering: Terraform orders resources by the references between them. Where an order matters that no
reference implies (nodes must not boot before their service account holds its roles), a resource names
the addresses it must follow in `after`; `depends_on` is then written only for those that the reference
graph does not already reach, so no edge is guessed and none is redundant.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .hcl import Attribute, Block, Comment, Expr, Item, Value, render

# `google_container_cluster.this` or `data.keycloak_realm.this`, anywhere in an expression.
_ADDRESS = re.compile(r"(?<![\w.])((?:data\.)?[a-z][a-z0-9_]*\.[A-Za-z_][A-Za-z0-9_-]*)")


@dataclass(frozen=True, slots=True)
class Provider:
    name: str  # local name, e.g. google
    source: str  # registry address, e.g. hashicorp/google
    version: str  # constraint, e.g. ~> 7.9
    config: tuple[Item, ...] = ()


@dataclass(frozen=True, slots=True)
class Resource:
    mode: str  # resource | data
    type: str
    name: str
    body: tuple[Item, ...]
    after: tuple[str, ...] = ()  # addresses that must exist first though no reference says so
    skips: tuple[tuple[str, str], ...] = ()  # checkov check id -> why it does not apply

    @property
    def address(self) -> str:
        prefix = "data." if self.mode == "data" else ""
        return f"{prefix}{self.type}.{self.name}"


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    type: str  # a type expression, e.g. string, map(string)
    description: str
    default: Value = None
    has_default: bool = True
    validation: tuple[str, str] | None = None  # condition, error message
    nullable: bool | None = None


@dataclass(frozen=True, slots=True)
class Output:
    name: str
    value: Value
    description: str
    sensitive: bool = False


@dataclass(frozen=True, slots=True)
class Backend:
    """A partial backend block: the state's place inside the store; the store comes from -backend-config."""

    type: str
    settings: tuple[tuple[str, str], ...]


@dataclass
class RootModule:
    path: str  # e.g. terraform/gke-prod
    providers: list[Provider]
    backend: Backend
    required_version: str = ">= 1.6"
    resources: list[Resource] = field(default_factory=list)
    variables: list[Variable] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)

    def add(self, resource: Resource) -> Resource:
        self.resources.append(resource)
        return resource

    # --- dependencies ------------------------------------------------------------------------------

    def reference_graph(self) -> dict[str, set[str]]:
        """Each resource's address -> the addresses its expressions name (plain sets: a build does not
        import networkx for a reachability question)."""
        known = {r.address for r in self.resources}
        graph: dict[str, set[str]] = {address: set() for address in known}
        for r in self.resources:
            for target in references(r.body):
                if target in known and target != r.address:
                    graph[r.address].add(target)
        return graph

    def depends_on(self) -> dict[str, list[str]]:
        graph = self.reference_graph()
        known = set(graph)
        out: dict[str, list[str]] = {}
        for r in self.resources:
            missing = [a for a in r.after if a not in known]
            if missing:
                raise ValueError(f"{r.address} must follow {missing}, which this module does not declare")
            needed = sorted(a for a in r.after if not _reaches(graph, r.address, a))
            if needed:
                out[r.address] = needed
        return out

    # --- files -------------------------------------------------------------------------------------

    def files(self) -> dict[str, str]:
        return {
            "versions.tf": render([self._terraform_block()]),
            "providers.tf": render([Block("provider", (p.name,), p.config) for p in self.providers]),
            "main.tf": render(self._main()),
            "variables.tf": render([_variable(v) for v in self.variables]),
            "outputs.tf": render([_output(o) for o in self.outputs]),
        }

    def _terraform_block(self) -> Block:
        required = {
            p.name: {"source": p.source, "version": p.version}
            for p in sorted(self.providers, key=lambda p: p.name)
        }
        return Block(
            "terraform",
            (),
            (
                Attribute("required_version", self.required_version),
                Block("required_providers", (), tuple(Attribute(n, v) for n, v in required.items())),
                Block(
                    "backend",
                    (self.backend.type,),
                    tuple(Attribute(k, v) for k, v in self.backend.settings),
                ),
            ),
        )

    def _main(self) -> list[Item]:
        deps = self.depends_on()
        blocks: list[Item] = []
        # python-hcl2 groups blocks by type, so data sources come first and resources after them.
        for mode in ("data", "resource"):
            for r in self.resources:
                if r.mode != mode:
                    continue
                body: list[Item] = [Comment(f"checkov:skip={check}: {why}") for check, why in r.skips]
                body.extend(r.body)
                if r.address in deps:
                    body.append(Attribute("depends_on", [Expr(a) for a in deps[r.address]]))
                blocks.append(Block(mode, (r.type, r.name), tuple(body)))
        return blocks


def references(items: Iterable[Item]) -> set[str]:
    found: set[str] = set()
    for item in items:
        if isinstance(item, Block):
            found |= references(item.body)
        elif isinstance(item, Attribute):
            found |= _value_refs(item.value)
    return found


def _value_refs(value: Value) -> set[str]:
    if isinstance(value, Expr):
        return set(_ADDRESS.findall(value.text))
    if isinstance(value, dict):
        return set().union(*(_value_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(_value_refs(v) for v in value)) if value else set()
    return set()


def _variable(v: Variable) -> Block:
    body: list[Item] = [Attribute("description", v.description), Attribute("type", Expr(v.type))]
    if v.has_default:
        body.append(Attribute("default", v.default))
    if v.nullable is not None:
        body.append(Attribute("nullable", v.nullable))
    if v.validation is not None:
        condition, message = v.validation
        body.append(
            Block(
                "validation",
                (),
                (Attribute("condition", Expr(condition)), Attribute("error_message", message)),
            )
        )
    return Block("variable", (v.name,), tuple(body))


def _output(o: Output) -> Block:
    body: list[Item] = [Attribute("description", o.description), Attribute("value", o.value)]
    if o.sensitive:
        body.append(Attribute("sensitive", True))
    return Block("output", (o.name,), tuple(body))


def resource(
    type_: str,
    name: str,
    *body: Item,
    after: Sequence[str] = (),
    skips: Sequence[tuple[str, str]] = (),
) -> Resource:
    return Resource("resource", type_, name, tuple(body), tuple(after), tuple(skips))


def data(type_: str, name: str, *body: Item) -> Resource:
    return Resource("data", type_, name, tuple(body))


def _reaches(graph: dict[str, set[str]], source: str, target: str) -> bool:
    """Whether a path of references leads from source to target (a node reaches itself)."""
    seen = {source}
    todo = [source]
    while todo:
        node = todo.pop()
        if node == target:
            return True
        for nxt in graph.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False
