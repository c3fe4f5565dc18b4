"""The dependency graph of a resolved model: nodes and edges, with the queries backends and reports need.

Node ids are "<kind>:<name>" (kinds: gateway, route, service, external, issuer, cluster, environment;
a route's name is its prefix). Edge kinds:
  serves        gateway -> route
  routes        route -> service
  calls         service -> service | external   (dependsOn)
  authenticates route -> issuer
  places        environment -> cluster
  runs          environment -> service
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mpc.errors import Location
from mpc.graph import draw
from mpc.lang.model import WHOLE_CALL, Narrowing

if TYPE_CHECKING:
    import networkx as nx

    from mpc.lang.model import Model


def node_id(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def split_id(node: str) -> tuple[str, str]:
    kind, _, name = node.partition(":")
    return kind, name


class MeshGraph:
    """Nodes and edges as plain data, in insertion order (the mesh file's), with the queries backends and
    reports need. Only blast_radius uses networkx (imported then): `mpc validate` and a build never do."""

    def __init__(self) -> None:
        self._nodes: dict[str, dict[str, Any]] = {}
        self._edges: dict[tuple[str, str], dict[str, Any]] = {}
        self._waves: dict[str, int] | None = None

    def add_node(self, node: str, **attrs: Any) -> None:
        self._nodes.setdefault(node, {}).update(attrs)

    def add_edge(self, u: str, v: str, **attrs: Any) -> None:
        self._nodes.setdefault(u, {})
        self._nodes.setdefault(v, {})
        self._edges.setdefault((u, v), {}).update(attrs)

    @classmethod
    def build(cls, model: Model) -> MeshGraph:
        g = cls()
        gw = node_id("gateway", model.gateway.name)
        g.add_node(gw, kind="gateway", name=model.gateway.name, source=model.gateway.source)
        for name, issuer in model.issuers.items():
            g.add_node(node_id("issuer", name), kind="issuer", name=name, source=issuer.source)
        for name, ext in model.external.items():
            g.add_node(node_id("external", name), kind="external", name=name, source=ext.source)
        for name, svc in model.services.items():
            # The pods of a service that replicates talk to each other (replication, peer discovery, a
            # ledger's p2p port) where it runs more than one: the one call no dependsOn entry states.
            peers = tuple(env for env in svc.environments if svc.peers_in(env))
            g.add_node(node_id("service", name), kind="service", name=name, source=svc.source, peers=peers)
        for name, cluster in model.clusters.items():
            g.add_node(node_id("cluster", name), kind="cluster", name=name, source=cluster.source)
        for name, env in model.environments.items():
            g.add_node(node_id("environment", name), kind="environment", name=name, source=env.source)
        for route in model.gateway.routes:
            rid = node_id("route", route.key)
            g.add_node(rid, kind="route", name=route.key, source=route.source)
            g.add_edge(gw, rid, kind="serves", source=route.source)
            if route.service in model.services:
                g.add_edge(rid, node_id("service", route.service), kind="routes", source=route.source)
            if route.auth is not None and route.auth in model.issuers:
                g.add_edge(rid, node_id("issuer", route.auth), kind="authenticates", source=route.source)
        for name, svc in model.services.items():
            for dep in (*svc.depends_on, *svc.external):
                kind = "service" if dep in model.services else "external"
                # The narrowing of a call (ports, methods, paths) is data on its edge: one edge per pair.
                narrowing = svc.narrowing.get(dep)
                extra = {"narrowing": narrowing} if narrowing is not None else {}
                g.add_edge(
                    node_id("service", name),
                    node_id(kind, dep),
                    kind="calls",
                    source=svc.dependency_sources[dep],
                    **extra,
                )
            for env_name in svc.environments:
                g.add_edge(
                    node_id("environment", env_name), node_id("service", name), kind="runs", source=svc.source
                )
        for name, environment in model.environments.items():
            for cluster_name in environment.clusters:
                if cluster_name in model.clusters:
                    g.add_edge(
                        node_id("environment", name),
                        node_id("cluster", cluster_name),
                        kind="places",
                        source=environment.source,
                    )
        return g

    # --- queries -----------------------------------------------------------------------------------

    def __contains__(self, node: object) -> bool:
        return node in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, node: str) -> Mapping[str, Any]:
        """A node's data (kind, name, source, ...)."""
        return self._nodes[node]

    def node_ids(self) -> list[str]:
        return list(self._nodes)

    def edge_list(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Every edge with its data: by source node in insertion order, then as added."""
        by_source: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        for (u, v), d in self._edges.items():
            by_source.setdefault(u, []).append((u, v, d))
        return [edge for node in self._nodes for edge in by_source.get(node, ())]

    def out_edges(self, node: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [(u, v, d) for (u, v), d in self._edges.items() if u == node]

    def _call_edges(self) -> list[tuple[str, str, Location]]:
        """(caller, callee, where) for every service-to-service dependsOn edge, in file order."""
        return [
            (split_id(u)[1], split_id(v)[1], d["source"])
            for (u, v), d in self._edges.items()
            if d["kind"] == "calls" and split_id(v)[0] == "service"
        ]

    def nodes(self, kind: str) -> list[str]:
        """Names of the nodes of one kind, in insertion (mesh file) order."""
        return [data["name"] for data in self._nodes.values() if data["kind"] == kind]

    def _sorted_nodes(self) -> list[tuple[str, dict[str, Any]]]:
        return sorted(self._nodes.items(), key=lambda item: item[0])

    def _sorted_edges(self) -> list[tuple[str, str, dict[str, Any]]]:
        return sorted(self.edge_list(), key=lambda e: (e[0], e[1]))

    def _edges_of(self, kind: str) -> Iterable[tuple[str, str, dict[str, Any]]]:
        return ((u, v, d) for (u, v), d in self._edges.items() if d["kind"] == kind)

    def dependencies(self, service: str) -> list[str]:
        """Node ids a service calls (services and external entries)."""
        nid = node_id("service", service)
        return sorted(v for u, v, _ in self._edges_of("calls") if u == nid)

    def callers(self, service: str) -> list[str]:
        """Services that call this one (not the gateway)."""
        nid = node_id("service", service)
        return sorted(split_id(u)[1] for u, v, _ in self._edges_of("calls") if v == nid)

    def routes_to(self, service: str) -> list[str]:
        nid = node_id("service", service)
        return [split_id(u)[1] for u, v, _ in self._edges_of("routes") if v == nid]

    def allowed_calls(self, environment: str | None = None) -> set[tuple[str, str]]:
        """Every (caller, callee) the policies must allow: 'gateway:<name>' or a service, to a service.

        The dependsOn edges, the gateway routes, and each service whose pods are peers to itself
        (peer_services), in one environment or in any.
        """
        allowed: set[tuple[str, str]] = set()
        for u, v, _ in self._edges_of("calls"):
            if split_id(v)[0] == "service":
                allowed.add((split_id(u)[1], split_id(v)[1]))
        gw = self.nodes("gateway")[0]
        for _, v, _ in self._edges_of("routes"):
            allowed.add((node_id("gateway", gw), split_id(v)[1]))
        allowed.update((name, name) for name in self.peer_services(environment))
        return allowed

    def peer_services(self, environment: str | None = None) -> list[str]:
        """Services whose pods call each other (Service.peers_in), in one environment or in any."""
        nodes = self._sorted_nodes()
        return [
            data["name"]
            for _, data in nodes
            if data["kind"] == "service"
            and data["peers"]
            and (environment is None or environment in data["peers"])
        ]

    def cycles(self) -> list[list[tuple[str, str, Location]]]:
        """Each dependency cycle once, as its edges with the location of the dependsOn entry.

        Plain Python (strongly connected components, then the shortest cycle inside each) so that
        validation does not pay for importing networkx.
        """
        succ: dict[str, list[str]] = {}
        where: dict[tuple[str, str], Location] = {}
        for u, v, loc in self._call_edges():
            succ.setdefault(u, [])
            if (u, v) not in where:
                succ[u].append(v)
            where[(u, v)] = loc
        found = []
        for component in _strongly_connected(succ):
            members = sorted(component)
            if len(members) == 1 and (members[0], members[0]) not in where:
                continue
            nodes = _cycle_in(succ, set(members), members[0])
            pairs = zip(nodes, nodes[1:] + nodes[:1], strict=True)
            edges = [(u, v, where[(u, v)]) for u, v in pairs]
            # Start the cycle at its alphabetically first service so the report is stable.
            start = min(range(len(edges)), key=lambda i: edges[i][0])
            found.append(edges[start:] + edges[:start])
        return sorted(found, key=lambda c: c[0][0])

    def rollout_waves(self) -> list[list[str]]:
        """Services grouped so that each wave depends only on earlier waves (dependencies first).

        networkx's topological generations of the reversed call graph, in plain Python: a wave is every
        service whose callees are all in earlier waves.
        """
        callees: dict[str, set[str]] = {name: set() for name in self.nodes("service")}
        callers: dict[str, list[str]] = {}
        for u, v, _ in self._edges_of("calls"):
            kind, callee = split_id(v)
            if kind == "service":
                caller = split_id(u)[1]
                if callee not in callees[caller]:
                    callees[caller].add(callee)
                    callers.setdefault(callee, []).append(caller)
        waiting = {name: len(deps) for name, deps in callees.items()}
        wave = [name for name, count in waiting.items() if count == 0]
        waves: list[list[str]] = []
        placed = 0
        while wave:
            waves.append(sorted(wave))
            placed += len(wave)
            following = []
            for callee in wave:
                for caller in callers.get(callee, ()):
                    waiting[caller] -= 1
                    if waiting[caller] == 0:
                        following.append(caller)
            wave = following
        if placed != len(waiting):
            raise ValueError("the call graph has a cycle: no rollout order")  # checks reject cycles first
        return waves

    def wave_of(self) -> dict[str, int]:
        """Service -> its rollout wave; computed once (the graph does not change), a copy each call."""
        if self._waves is None:
            self._waves = {svc: i for i, wave in enumerate(self.rollout_waves()) for svc in wave}
        return dict(self._waves)

    def blast_radius(self, node: str) -> set[str]:
        """Every node that transitively depends on `node` (its callers, their callers, the routes to them)."""
        import networkx as nx

        upstream: nx.DiGraph[str] = nx.DiGraph()
        for (u, v), d in self._edges.items():
            if d["kind"] in ("calls", "routes", "authenticates"):
                upstream.add_edge(u, v)
        if node not in upstream:
            return set()
        return set(nx.ancestors(upstream, node))

    def services_on(self, cluster: str) -> list[str]:
        """Services placed on a cluster by any environment."""
        out: set[str] = set()
        cid = node_id("cluster", cluster)
        edges = self.edge_list()
        envs = {u for u, v, d in edges if v == cid and d["kind"] == "places"}
        out.update(split_id(v)[1] for u, v, d in edges if u in envs and d["kind"] == "runs")
        return sorted(out)

    # --- export ------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        nodes = [
            {"id": n, "kind": d["kind"], "name": d["name"], "source": str(d["source"])}
            for n, d in self._sorted_nodes()
        ]
        edges = [
            {"from": u, "to": v, "kind": d["kind"], "source": str(d["source"]), **_narrowing_json(d)}
            for u, v, d in self._sorted_edges()
        ]
        return {
            "nodes": nodes,
            "edges": edges,
            "rolloutWaves": self.rollout_waves() if not self.cycles() else [],
        }

    def to_dot(self) -> str:
        return draw.dot(self._draw_nodes(), self._draw_edges())

    def to_mermaid(self) -> str:
        """A Mermaid flowchart of the whole graph; whether it fits a picture is the caller's to decide
        (draw.fits; `mpc graph` shows too_large_sentence() in a chart of its own past the cap)."""
        return draw.flowchart(self._draw_nodes(), self._draw_edges())

    def too_large_sentence(self) -> str:
        return draw.too_large(len(self._nodes)) + (
            " Draw part of it: mpc graph MESH --format mermaid --only calls, or --around NAME --depth 1."
        )

    def _draw_nodes(self) -> list[draw.Node]:
        return [draw.Node(n, d["kind"], d["name"]) for n, d in self._sorted_nodes()]

    def _draw_edges(self) -> list[draw.Edge]:
        return [draw.Edge(u, v, d["kind"]) for u, v, d in self._sorted_edges()]

    # --- parts of the graph -----------------------------------------------------------------------

    def subgraph(self, nodes: Iterable[str], edge_kinds: Iterable[str] | None = None) -> MeshGraph:
        """The given nodes and the edges between them (of the given kinds; default all), data shared."""
        keep = set(nodes)
        kinds = set(edge_kinds) if edge_kinds is not None else None
        out = MeshGraph()
        for node, data in self._nodes.items():
            if node in keep:
                out._nodes[node] = data
        for (u, v), data in self._edges.items():
            if u in keep and v in keep and (kinds is None or data["kind"] in kinds):
                out._edges[(u, v)] = data
        return out

    def only(self, edge_kinds: Iterable[str]) -> MeshGraph:
        """The edges of these kinds, with every node of the kinds they join (a service that calls
        nothing stays in a picture of calls)."""
        kinds = set(edge_kinds)
        ends = {k for kind in kinds for k in EDGE_ENDS[kind]}
        return self.subgraph((n for n, d in self._nodes.items() if d["kind"] in ends), kinds)

    def find(self, name: str) -> str | None:
        """The node a user names: a node id (`service:cart`), else a name, services first."""
        if name in self._nodes:
            return name
        for kind in NODE_KINDS:
            if node_id(kind, name) in self._nodes:
                return node_id(kind, name)
        return None

    def around(self, node: str, depth: int) -> MeshGraph:
        """The nodes within `depth` edges of `node`, in either direction, and the edges between them."""
        neighbours: dict[str, set[str]] = {}
        for u, v in self._edges:
            neighbours.setdefault(u, set()).add(v)
            neighbours.setdefault(v, set()).add(u)
        seen = {node}
        frontier = {node}
        for _ in range(depth):
            frontier = {m for n in frontier for m in neighbours.get(n, ())} - seen
            seen |= frontier
        return self.subgraph(seen)


# Node kinds in the order a bare name is looked up (`mpc graph --around NAME`).
NODE_KINDS = ("service", "external", "route", "gateway", "issuer", "cluster", "environment")
# The node kinds each edge kind joins.
EDGE_ENDS: dict[str, tuple[str, ...]] = {
    "serves": ("gateway", "route"),
    "routes": ("route", "service"),
    "calls": ("service", "external"),
    "authenticates": ("route", "issuer"),
    "places": ("environment", "cluster"),
    "runs": ("environment", "service"),
}


def _narrowing_json(data: Mapping[str, Any]) -> dict[str, list[str]]:
    """A narrowed call's ports, methods and paths; nothing for a whole call."""
    narrowing: Narrowing | None = data.get("narrowing")
    if narrowing is None:
        return {}
    fields = (("ports", narrowing.ports), ("methods", narrowing.methods), ("paths", narrowing.paths))
    return {key: list(values) for key, values in fields if values}


def edge_narrowing(data: Mapping[str, Any]) -> Narrowing:
    """What a `calls` edge allows (a whole call when its dependsOn entry is a name)."""
    found: Narrowing | None = data.get("narrowing")
    return found if found is not None else WHOLE_CALL


def _strongly_connected(succ: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: a long dependency chain must not hit the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(succ):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            children = succ.get(node, [])
            if i < len(children):
                work.append((node, i + 1))
                child = children[i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
    return out


def _cycle_in(succ: dict[str, list[str]], members: set[str], start: str) -> list[str]:
    """The shortest cycle through `start` inside a strongly connected component, as its nodes in order."""
    parent: dict[str, str] = {}
    queue = [start]
    seen = {start}
    while queue:
        nxt: list[str] = []
        for node in queue:
            for child in succ.get(node, []):
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return path[::-1]
                if child not in seen:
                    seen.add(child)
                    parent[child] = node
                    nxt.append(child)
        queue = nxt
    raise AssertionError("a strongly connected component without a cycle")
