"""Placement: where each service runs, and whether the clusters there can run it."""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic, Location, Severity
from mpc.graph.checks.context import (
    Context,
)


def replicas_source(c: Context, service: str, env: str) -> Location:
    """Where the replica count of a service in an environment comes from: service, environment or defaults."""
    for path in (
        ("services", service, "autoscale", "min"),
        ("services", service, "replicas"),
        ("environments", env, "replicas"),
        ("defaults", "replicas"),
    ):
        if c.doc.has(path):
            return c.at(*path)
    return c.at("services", service, key=True)


def check_placement(c: Context) -> Iterable[Diagnostic]:
    """Warn where a GPU service is placed on a cluster that has no GPU node pool: its pods never schedule."""
    for svc in c.model.services.values():
        if not svc.archetype.gpu:
            continue
        for env_name in svc.environments:
            if not svc.placements[env_name].resources.gpu:
                continue
            for cluster_name in c.model.environments[env_name].clusters:
                cluster = c.model.clusters.get(cluster_name)
                if cluster is None or any(pool.gpu_count for pool in cluster.node_pools):
                    continue
                yield Diagnostic(
                    Code.GPU_WITHOUT_POOL,
                    f"service {svc.name!r} requests GPUs, but cluster {cluster_name!r} (environment "
                    f"{env_name!r}) has no GPU node pool: its pods will not schedule there",
                    c.at("services", svc.name, key=True),
                    "add a node pool with gpu to that cluster, or limit the service's environments",
                    severity=Severity.WARNING,
                )
