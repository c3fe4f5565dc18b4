"""Application-plane custom resources: definitions that the API server accepts, instances that match them.

The API server's own rules for a CustomResourceDefinition (apiextensions validation): a group Kubernetes
reserves needs the `api-approved.kubernetes.io` annotation, `plural` and the lower-cased kind and list
kind are DNS-1035 labels, the CRD's name `<plural>.<group>` is a DNS subdomain, and every `pattern`
compiles with Go's regexp (RE2). Instances are matched as the API server matches them: with RE2.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import (
    Context,
)
from mpc.lang import patterns
from mpc.lang.model import CustomResource
from mpc.lang.names import DNS_LABEL

PROTECTED_GROUPS = ("k8s.io", "kubernetes.io")
# What the API server takes as approval: a URL with a scheme and a host, or a reason starting so.
APPROVAL_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#]+\S*$")
UNAPPROVED = "unapproved"
MAX_LABEL = 63
MAX_SUBDOMAIN = 253
MAX_FILE_NAME = 240  # kustomize/crds/<name>-instances.yaml within a file name's 255 bytes


def check_custom_resources(c: Context) -> Iterable[Diagnostic]:
    kinds: dict[str, int] = {}
    crds: dict[str, int] = {}
    for i, cr in enumerate(c.model.custom_resources):
        key = f"{cr.kind}.{cr.group}"
        if key in kinds:
            yield Diagnostic(
                Code.DUPLICATE_ROUTE,
                f"customResources[{i}]: {key} is declared twice",
                c.at("customResources", i),
                "merge the two entries; a kind is defined once per group",
                notes=((c.at("customResources", kinds[key]), "first declared here"),),
            )
        elif cr.crd_name in crds:
            yield Diagnostic(
                Code.DUPLICATE_ROUTE,
                f"customResources[{i}]: {cr.kind} has the plural {cr.plural!r}, like another kind of "
                f"{cr.group}: both would be the CRD {cr.crd_name}",
                c.at("customResources", i),
                "give one of them another plural",
                notes=((c.at("customResources", crds[cr.crd_name]), "the other kind"),),
            )
        kinds.setdefault(key, i)
        crds.setdefault(cr.crd_name, i)
        yield from _approval(c, i, cr)
        yield from _names(c, i, cr)
        bad_patterns = list(_patterns(c, i, cr))
        yield from bad_patterns
        if cr.instances and not bad_patterns:
            yield from _instances(c, i, cr)


def protected(group: str) -> bool:
    """A group Kubernetes reserves for APIs its community reviewed (KEP 1111)."""
    return any(group == g or group.endswith(f".{g}") for g in PROTECTED_GROUPS)


def _approval(c: Context, i: int, cr: CustomResource) -> Iterable[Diagnostic]:
    if not protected(cr.group):
        if cr.api_approved is not None:
            yield Diagnostic(
                Code.CRD_PROTECTED_GROUP,
                f"customResources[{i}].apiApproved is set, but {cr.group!r} is not a group Kubernetes "
                "reserves (*.k8s.io, *.kubernetes.io)",
                c.at("customResources", i, "apiApproved", key=True),
                "remove apiApproved: only a CRD in a reserved group carries the approval annotation",
            )
        return
    if cr.api_approved is None:
        yield Diagnostic(
            Code.CRD_PROTECTED_GROUP,
            f"customResources[{i}].group {cr.group!r} is reserved by Kubernetes (*.k8s.io, *.kubernetes.io): "
            "the API server refuses its CRD without the api-approved.kubernetes.io annotation",
            c.at("customResources", i, "group"),
            "use a group under a domain you own (e.g. sensors.example.com), or set apiApproved to the URL "
            'where the API was approved, or to a reason starting with "unapproved"',
        )
    elif not (cr.api_approved.startswith(UNAPPROVED) or APPROVAL_URL.match(cr.api_approved)):
        yield Diagnostic(
            Code.CRD_PROTECTED_GROUP,
            f"customResources[{i}].apiApproved {cr.api_approved!r} is neither a URL nor a reason starting "
            'with "unapproved"',
            c.at("customResources", i, "apiApproved"),
            'the API server takes the URL of the approving review (https://github.com/...), or "unapproved, '
            'experimental-only"',
        )


def _names(c: Context, i: int, cr: CustomResource) -> Iterable[Diagnostic]:
    written = c.mesh.custom_resources[i].plural
    if written is not None and not (DNS_LABEL.match(written) and len(written) <= MAX_LABEL):
        hint = re.sub(r"[^a-z0-9-]+", "-", written.lower()).strip("-")
        yield Diagnostic(
            Code.CRD_NAME,
            f"customResources[{i}].plural {written!r} is not a DNS-1035 label (lower-case letters, digits "
            f"and '-', starting with a letter, at most {MAX_LABEL} characters)",
            c.at("customResources", i, "plural"),
            f"try {hint!r}" if DNS_LABEL.match(hint) and len(hint) <= MAX_LABEL else "",
        )
    list_kind = f"{cr.kind}List"
    if len(list_kind) > MAX_LABEL:
        yield Diagnostic(
            Code.CRD_NAME,
            f"customResources[{i}].kind {cr.kind!r} is too long: its list kind {list_kind!r} has "
            f"{len(list_kind)} characters, and the API server takes at most {MAX_LABEL}",
            c.at("customResources", i, "kind"),
            f"shorten the kind to at most {MAX_LABEL - len('List')} characters",
        )
    long_label = next((label for label in cr.group.split(".") if len(label) > MAX_LABEL), None)
    if long_label is not None:
        yield Diagnostic(
            Code.CRD_NAME,
            f"customResources[{i}].group: the label {long_label[:20]}... has {len(long_label)} characters; a "
            f"DNS name's labels have at most {MAX_LABEL}",
            c.at("customResources", i, "group"),
            "a domain you own, e.g. group: acme.dev",
        )
    if len(cr.crd_name) > MAX_SUBDOMAIN:
        yield Diagnostic(
            Code.CRD_NAME,
            f"customResources[{i}]: the CRD's name {cr.plural}.{cr.group} has {len(cr.crd_name)} characters; "
            f"a Kubernetes object name has at most {MAX_SUBDOMAIN}",
            c.at("customResources", i, "group"),
            "shorten the group or the plural",
        )
    elif len(cr.crd_name) > MAX_FILE_NAME:
        yield Diagnostic(
            Code.CRD_NAME,
            f"customResources[{i}]: the CRD's name {cr.plural}.{cr.group} has {len(cr.crd_name)} characters; "
            f"mpc names a file <name>-instances.yaml after it, and a file name holds 255 bytes",
            c.at("customResources", i, "group"),
            f"shorten the group or the plural to a name of at most {MAX_FILE_NAME} characters",
        )


def _patterns(c: Context, i: int, cr: CustomResource) -> Iterable[Diagnostic]:
    for field in cr.fields:
        if field.pattern is None:
            continue
        reason = patterns.syntax_error(field.pattern)
        if reason is not None:
            yield Diagnostic(
                Code.CRD_PATTERN,
                f"customResources[{i}].fields.{field.name}.pattern {field.pattern!r} is not RE2 syntax: "
                + reason,
                c.at("customResources", i, "fields", field.name, "pattern"),
                "the API server compiles patterns with Go's regexp (RE2): no lookahead or lookbehind, no "
                "backreferences, no possessive quantifiers",
            )


def _instances(c: Context, i: int, cr: CustomResource) -> Iterable[Diagnostic]:
    validator = patterns.schema_validator(cr.spec_schema())
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
                    c.suggest(field, declared) or "declare it under this entry's `fields`",
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
