"""Application-plane custom resources: definitions that the API server accepts, instances that match them."""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic, did_you_mean
from mpc.graph.checks.context import (
    Context,
)


def check_custom_resources(c: Context) -> Iterable[Diagnostic]:
    seen: dict[tuple[str, str], int] = {}
    for i, cr in enumerate(c.model.custom_resources):
        key = (cr.group, cr.kind)
        if key in seen:
            yield Diagnostic(
                Code.DUPLICATE_ROUTE,
                f"customResources[{i}]: {cr.kind}.{cr.group} is declared twice",
                c.at("customResources", i),
                "merge the two entries; a kind is defined once per group",
                notes=((c.at("customResources", seen[key]), "first declared here"),),
            )
        seen[key] = i
        if not cr.instances:
            continue
        import jsonschema  # only a mesh with custom resource instances pays for it

        validator = jsonschema.Draft202012Validator(cr.spec_schema())
        declared = [f.name for f in cr.fields]
        names: set[str] = set()
        for j, inst in enumerate(cr.instances):
            if inst.name in names:
                yield Diagnostic(
                    Code.DUPLICATE_ROUTE,
                    f"customResources[{i}]: two instances named {inst.name!r}",
                    c.at("customResources", i, "instances", j, "name"),
                )
            names.add(inst.name)
            for field in inst.spec:
                if field not in declared:
                    # Kubernetes would prune it silently from a structural schema: say so now.
                    yield Diagnostic(
                        Code.CUSTOM_RESOURCE_INSTANCE,
                        f"{cr.kind} {inst.name!r}: spec has no field {field!r}",
                        c.at("customResources", i, "instances", j, "spec", field, key=True),
                        did_you_mean(field, declared) or "declare it under this entry's `fields`",
                    )
            for err in sorted(validator.iter_errors(dict(inst.spec)), key=lambda e: list(map(str, e.path))):
                path = ("customResources", i, "instances", j, "spec", *err.path)
                where = ".".join(str(p) for p in err.path) or "spec"
                yield Diagnostic(
                    Code.CUSTOM_RESOURCE_INSTANCE,
                    f"{cr.kind} {inst.name!r}: {where}: {err.message}",
                    c.at(*path) if err.path else c.at("customResources", i, "instances", j, "spec", key=True),
                    "the CRD's schema comes from this entry's `fields`",
                )
