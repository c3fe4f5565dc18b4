"""Checks that need the whole mesh: references, the graph, archetypes and governance, one module per family.

Every check returns diagnostics (all of them, not the first); mpc.graph.front raises when any is an error.
They read the spec (as written, for exact positions) and the resolved model and graph. A new check is a
function of Context in the module of its family, listed in CHECKS.
"""

from __future__ import annotations

from mpc.errors import Diagnostic
from mpc.graph.checks.archetypes import check_archetypes, check_unreplicated_state
from mpc.graph.checks.calls import check_calls
from mpc.graph.checks.clusters import check_clusters
from mpc.graph.checks.context import Check, Context
from mpc.graph.checks.custom_resources import check_custom_resources
from mpc.graph.checks.cycles import check_cycles
from mpc.graph.checks.gitops import check_gitops
from mpc.graph.checks.governance import check_governance
from mpc.graph.checks.hosts import check_hosts
from mpc.graph.checks.images import check_images
from mpc.graph.checks.names import check_names
from mpc.graph.checks.placement import check_placement
from mpc.graph.checks.references import check_references
from mpc.graph.checks.reserved import check_reserved
from mpc.graph.checks.routes import check_routes
from mpc.graph.checks.workloads import check_workloads
from mpc.graph.mesh import MeshGraph
from mpc.lang import spec
from mpc.lang.load import Document
from mpc.lang.model import Model

CHECKS: tuple[Check, ...] = (
    check_names,
    check_reserved,
    check_references,
    check_cycles,
    check_routes,
    check_hosts,
    check_images,
    check_archetypes,
    check_unreplicated_state,
    check_workloads,
    check_calls,
    check_clusters,
    check_gitops,
    check_custom_resources,
    check_governance,
    check_placement,
)


def run_checks(mesh: spec.Mesh, doc: Document, model: Model, graph: MeshGraph) -> list[Diagnostic]:
    ctx = Context(mesh, doc, model, graph)
    found: list[Diagnostic] = []
    for check in CHECKS:
        found.extend(check(ctx))
    return found
