"""Clusters: what each provider requires of a cluster and its node pools."""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import (
    Context,
)
from mpc.lang import spec


def check_clusters(c: Context) -> Iterable[Diagnostic]:
    for cname, cluster in c.mesh.clusters.items():
        if isinstance(cluster, spec.DoCluster):
            for pname, pool in cluster.node_pools.items():
                where = c.at("clusters", cname, "nodePools", pname, key=True)
                if pool.count is None and (pool.min is None or pool.max is None):
                    yield Diagnostic(
                        Code.MISSING_KEY,
                        f"clusters.{cname}.nodePools.{pname} needs count, or min and max",
                        where,
                        "count: 3 for a fixed size, or min: 1 and max: 5 to autoscale",
                    )
                elif pool.count is not None and (pool.min is not None or pool.max is not None):
                    yield Diagnostic(
                        Code.BAD_VALUE,
                        f"clusters.{cname}.nodePools.{pname} sets both count and min/max",
                        where,
                        "a pool is either fixed (count) or autoscaled (min, max)",
                    )
                elif pool.min is not None and pool.max is not None and pool.min > pool.max:
                    yield Diagnostic(
                        Code.BAD_VALUE, f"clusters.{cname}.nodePools.{pname}: min is above max", where
                    )
        else:
            for pname, gpool in cluster.node_pools.items():
                if gpool.min > gpool.max:
                    yield Diagnostic(
                        Code.BAD_VALUE,
                        f"clusters.{cname}.nodePools.{pname}: min is above max",
                        c.at("clusters", cname, "nodePools", pname, key=True),
                    )
