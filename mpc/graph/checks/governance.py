"""Governance: owners, allowed registries, minimum replicas per environment, protected names."""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import (
    Context,
)
from mpc.graph.checks.placement import replicas_source


def check_governance(c: Context) -> Iterable[Diagnostic]:
    gov = c.model.governance
    for name, svc in c.model.services.items():
        if gov.require_owners and not svc.owners:
            yield Diagnostic(
                Code.NO_OWNER,
                f"service {name!r} has no owner",
                c.at("services", name, key=True),
                'add owners: ["@team"] to the service, or metadata.owners for all',
            )
        if gov.allowed_registries and not any(
            svc.image.startswith(reg.rstrip("/") + "/") for reg in gov.allowed_registries
        ):
            yield Diagnostic(
                Code.REGISTRY_NOT_ALLOWED,
                f"services.{name}.image {svc.image!r} is not from an allowed registry",
                c.at("services", name, "image"),
                "allowed: " + ", ".join(gov.allowed_registries),
            )
        for env_name, minimum in gov.min_replicas.items():
            placement = svc.placements.get(env_name)
            if placement is None:
                continue
            lowest = svc.autoscale.min if svc.autoscale else placement.replicas
            if lowest < minimum:
                where = replicas_source(c, name, env_name)
                yield Diagnostic(
                    Code.TOO_FEW_REPLICAS,
                    f"service {name!r} runs {lowest} replica(s) in {env_name}; "
                    f"governance requires at least {minimum}",
                    where,
                    f"raise replicas (or autoscale.min) to {minimum}",
                )
