"""graph: the typed DiGraph and its queries; cycles found without networkx agree with networkx."""

from __future__ import annotations

import networkx as nx
import pytest
from conftest import EXAMPLES, run_mpc
from hypothesis import given, settings
from hypothesis import strategies as st

from mpc.errors import Location
from mpc.graph.front import Front
from mpc.graph.mesh import MeshGraph
from mpc.workflow.front import front_file


@pytest.fixture(scope="module")
def acme() -> Front:
    return front_file(EXAMPLES / "acme" / "mesh.yaml")


def test_dependencies_and_callers(acme: Front) -> None:
    g = acme.graph
    assert g.dependencies("brain") == ["external:openai", "service:auth", "service:data"]
    assert g.callers("data") == ["auth", "billing-worker", "brain"]
    assert g.callers("brain") == []
    assert g.routes_to("brain") == ["/brain"]


def test_rollout_waves_put_dependencies_first(acme: Front) -> None:
    waves = acme.graph.rollout_waves()
    assert waves == [["data", "ledger"], ["auth", "billing-worker"], ["brain"]]
    wave = acme.graph.wave_of()
    for svc in acme.model.services.values():
        for dep in svc.depends_on:
            assert wave[dep] < wave[svc.name]


def test_blast_radius_is_everything_that_transitively_calls(acme: Front) -> None:
    radius = acme.graph.blast_radius("service:data")
    assert radius == {
        "service:auth",
        "service:brain",
        "service:billing-worker",
        "route:/auth",
        "route:/brain",
        "route:/data",
    }
    assert acme.graph.blast_radius("external:stripe") == {"service:billing-worker"}
    assert acme.graph.blast_radius("service:brain") == {"route:/brain"}


def test_services_on_a_cluster(acme: Front) -> None:
    assert acme.graph.services_on("gke-prod") == ["auth", "billing-worker", "brain", "data", "ledger"]
    assert acme.graph.services_on("do-ams") == ["auth", "billing-worker", "brain", "data", "ledger"]


def test_allowed_calls_come_from_edges_and_routes(acme: Front) -> None:
    allowed = acme.graph.allowed_calls()
    assert ("brain", "auth") in allowed and ("gateway:local-api-gateway", "brain") in allowed
    assert ("auth", "brain") not in allowed
    assert not any(callee == "stripe" for _, callee in allowed)  # external entries are egress, not calls


def test_typed_edges(acme: Front) -> None:
    kinds = {d["kind"] for _, _, d in acme.graph.edge_list()}
    assert kinds == {"serves", "routes", "calls", "authenticates", "places", "runs"}


def test_cycle_is_printed_whole_with_every_edge(tmp_path: object) -> None:
    text = (EXAMPLES / "local-api-gateway" / "mesh.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "  data:\n    image: data:0.1.0\n", "  data:\n    image: data:0.1.0\n    dependsOn: [brain]\n"
    )
    path = tmp_path / "mesh.yaml"  # type: ignore[operator]
    path.write_text(text, encoding="utf-8")
    run = run_mpc("validate", path)
    assert run.code == 2
    err = run.err.replace(f"{tmp_path}/", "")
    assert "error[E302]: dependency cycle: auth -> data -> brain -> auth" in err
    assert "note: auth depends on data" in err and "note: data depends on brain" in err
    assert "note: brain depends on auth" in err


def _graph_of(edges: list[tuple[int, int]]) -> MeshGraph:
    g = MeshGraph()
    for u, v in edges:
        g.add_node(f"service:s{u}", kind="service", name=f"s{u}")
        g.add_node(f"service:s{v}", kind="service", name=f"s{v}")
        g.add_edge(f"service:s{u}", f"service:s{v}", kind="calls", source=Location("m", u, v))
    return g


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=20))
def test_cycles_agree_with_networkx(edges: list[tuple[int, int]]) -> None:
    graph = _graph_of(edges)
    found = graph.cycles()
    calls: nx.DiGraph[str] = nx.DiGraph()
    calls.add_edges_from((u.partition(":")[2], v.partition(":")[2]) for u, v, _ in graph.edge_list())
    expected = [c for c in nx.strongly_connected_components(calls) if len(c) > 1 or calls.has_edge(*[*c] * 2)]
    assert len(found) == len(expected)
    for cycle in found:
        # a closed walk along real edges, starting at its smallest member
        assert all(calls.has_edge(u, v) for u, v, _ in cycle)
        assert all(cycle[i][1] == cycle[(i + 1) % len(cycle)][0] for i in range(len(cycle)))
        assert cycle[0][0] == min(u for u, _, _ in cycle)
    if not found:
        assert nx.is_directed_acyclic_graph(calls)


def test_validate_does_not_import_networkx_or_jsonschema() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from mpc.cli import main; main(['validate', sys.argv[1]]); "
        "print(sorted(m for m in ('networkx', 'jsonschema') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLES / "local-api-gateway" / "mesh.yaml")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip().endswith("[]"), out
