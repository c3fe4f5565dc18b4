"""Governance: owners, allowed registries, minimum replicas per environment, protected names."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import (
    Context,
)
from mpc.graph.checks.images import service_images
from mpc.graph.checks.placement import replicas_source
from mpc.lang.images import Rule, full_name
from mpc.lang.load import key_path

# A CODEOWNERS owner: @user, @org/team, or an e-mail address (one token: no spaces, newlines or '#').
OWNER = re.compile(
    r"^@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,99})?$"
    r"|^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$"
)


def _owners(c: Context) -> Iterable[Diagnostic]:
    """Owners become CODEOWNERS lines: anything but one owner would add lines of its own."""
    lists: list[tuple[tuple[str, ...], list[str]]] = [(("metadata", "owners"), c.mesh.metadata.owners)]
    lists += [(("services", n, "owners"), s.owners) for n, s in c.mesh.services.items() if s.owners]
    for path, owners in lists:
        for i, owner in enumerate(owners):
            if not OWNER.match(owner):
                yield Diagnostic(
                    Code.BAD_VALUE,
                    f"{key_path((*path, i))}: {owner!r} is not a code owner",
                    c.at(*path, i),
                    "@user, @org/team or an e-mail address, one per entry (they become CODEOWNERS lines)",
                )


def check_governance(c: Context) -> Iterable[Diagnostic]:
    yield from _owners(c)
    gov = c.model.governance
    for name, svc in c.model.services.items():
        if gov.require_owners and not svc.owners:
            yield Diagnostic(
                Code.NO_OWNER,
                f"service {name!r} has no owner",
                c.at("services", name, key=True),
                'add owners: ["@team"] to the service, or metadata.owners for all',
            )
        for path, written, image in service_images(c, name):
            if gov.allowed_registries and not any(
                image.startswith(reg.rstrip("/") + "/") for reg in gov.allowed_registries
            ):
                yield _registry_not_allowed(c, path, written)
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


def _registry_not_allowed(c: Context, where: tuple[str, ...], written: str) -> Diagnostic:
    """E402, quoting the image as written and, when mpc completed it, the full name and the rule."""
    full, rule = full_name(written, c.mesh.defaults.registry)
    said = repr(written) if full == written else f"{written!r} ({full}: {rule})"
    hint = "allowed: " + ", ".join(c.model.governance.allowed_registries)
    if rule is Rule.REGISTRY:
        hint += f"; if you meant Docker Hub's image, write {full_name(written, None)[0]}"
    return Diagnostic(
        Code.REGISTRY_NOT_ALLOWED,
        f"{key_path(where)} {said} is not from an allowed registry",
        c.at(*where),
        hint,
    )
