"""Dependency cycles: a mesh whose calls loop has no rollout order."""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import (
    Context,
)


def check_cycles(c: Context) -> Iterable[Diagnostic]:
    for cycle in c.graph.cycles():
        if len(cycle) == 1:
            continue  # a service that depends on itself: E312, reported by check_references
        path = " -> ".join([u for u, _, _ in cycle] + [cycle[0][0]])
        notes = tuple((loc, f"{u} depends on {v}") for u, v, loc in cycle)
        yield Diagnostic(
            Code.CYCLE,
            f"dependency cycle: {path}",
            cycle[0][2],
            "a cycle has no rollout order; remove one of these dependsOn entries",
            notes=notes,
        )
