"""Names: DNS-1123 labels for everything mpc names after, and the names Kubernetes derives from them."""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import (
    DNS_SUBDOMAIN,
    ENV_NAME,
    LABEL_PART,
    MAX_K8S_NAME,
    NAMESPACE,
    SECRET_KEY,
    Context,
)
from mpc.graph.reserved import reserved_label, system_namespace
from mpc.lang.names import name_problem, named, suggest_label


def check_names(c: Context) -> Iterable[Diagnostic]:
    m = c.mesh
    for what, name, path, is_key in named(c.doc.data):
        problem = name_problem(name)
        if problem:
            yield Diagnostic(
                Code.BAD_NAME,
                f"{what} name {name!r} {problem}",
                c.at(*path, key=is_key),
                suggest_label(name),
            )
    for i, cr in enumerate(m.custom_resources):
        for j, inst in enumerate(cr.instances):
            if not DNS_SUBDOMAIN.match(inst.name) or len(inst.name) > 253:
                yield Diagnostic(
                    Code.BAD_NAME,
                    f"instance name {inst.name!r} is not a DNS-1123 subdomain",
                    c.at("customResources", i, "instances", j, "name"),
                    suggest_label(inst.name),
                )
    yield from _kubernetes_names(c)
    for name in m.external:
        if name in m.services:
            yield Diagnostic(
                Code.NAME_TAKEN,
                f"{name!r} is both a service and an external entry",
                c.at("external", name, key=True),
                "services and external entries share one namespace of names; rename one",
                notes=((c.at("services", name, key=True), "the service is defined here"),),
            )
    if m.gateway.name in m.services:
        yield Diagnostic(
            Code.NAME_TAKEN,
            f"the gateway and a service are both named {m.gateway.name!r}",
            c.at("gateway", "name"),
            "their Kubernetes objects would collide; rename one",
        )


def _kubernetes_names(c: Context) -> Iterable[Diagnostic]:
    """Values that become Kubernetes names, labels or variables must be valid there, or apply fails."""
    yield from _namespaces(c)
    yield from _labels(c)
    yield from _variables_and_secrets(c)


def _namespaces(c: Context) -> Iterable[Diagnostic]:
    """Each environment's namespace: a DNS-1123 label, and not one of the platform's."""
    m = c.mesh
    namespaces: list[tuple[str, tuple[str | int, ...], str]] = []
    if m.defaults.namespace is not None:
        namespaces.append((m.defaults.namespace, ("defaults", "namespace"), ""))
    base = m.defaults.namespace
    base_ok = base is None or (NAMESPACE.match(base) and not system_namespace(base))
    for env_name, env in c.model.environments.items():
        if env.implicit:
            continue
        if m.environments[env_name].namespace is not None:
            namespaces.append((env.namespace, ("environments", env_name, "namespace"), ""))
        elif base_ok:  # a bad defaults.namespace is reported once, not again in every environment
            namespaces.append(
                (env.namespace, ("environments", env_name), f"set environments.{env_name}.namespace")
            )
    implicit = next((e for e in c.model.environments.values() if e.implicit), None)
    if implicit is not None and m.defaults.namespace is None and system_namespace(implicit.namespace):
        # The mesh's name is its namespace (its form is checked with the name).
        namespaces.append((implicit.namespace, ("metadata", "name"), "set defaults.namespace"))
    for ns, path, hint in namespaces:
        if system_namespace(ns):
            yield Diagnostic(
                Code.RESERVED_NAME,
                f"namespace {ns!r} belongs to the platform (Kubernetes, Istio, monitoring or GitOps)",
                c.at(*path, key=path[-1] not in ("namespace", "name")),
                hint
                or "give the mesh a namespace of its own: mpc labels it for sidecars and denies all "
                "traffic there but for the graph's edges",
            )
            continue
        if len(ns) > MAX_K8S_NAME or not NAMESPACE.match(ns):
            too_long = len(ns) > MAX_K8S_NAME
            why = f"longer than {MAX_K8S_NAME} characters" if too_long else "not a DNS-1123 label"
            yield Diagnostic(
                Code.BAD_NAME,
                f"namespace {ns!r} is {why}",
                c.at(*path, key=path[-1] != "namespace"),
                hint or suggest_label(ns),
            )


def _labels(c: Context) -> Iterable[Diagnostic]:
    """metadata.labels go on every object: valid keys and values, none of the keys mpc sets itself."""
    for key, value in c.mesh.metadata.labels.items():
        if reserved_label(key):
            yield Diagnostic(
                Code.RESERVED_NAME,
                f"metadata.labels: {key!r} is a label mpc, Kubernetes or Istio sets (it changes what a "
                "label on every object means)",
                c.at("metadata", "labels", key, key=True),
                "choose a key of your own, e.g. acme.dev/team; mpc sets its labels itself "
                "(istio-injection, app.kubernetes.io/*)",
            )
            continue
        prefix, _, name = key.rpartition("/")
        bad_key = (
            not name
            or len(name) > MAX_K8S_NAME
            or not LABEL_PART.match(name)
            or (prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)))
        )
        if bad_key:
            yield Diagnostic(
                Code.BAD_VALUE,
                f"metadata.labels: {key!r} is not a valid Kubernetes label key",
                c.at("metadata", "labels", key, key=True),
                "a name of letters, digits, '-', '_' and '.' (<= 63), optionally after a DNS prefix and '/'",
            )
        if len(value) > MAX_K8S_NAME or not LABEL_PART.match(value):
            yield Diagnostic(
                Code.BAD_VALUE,
                f"metadata.labels.{key}: {value!r} is not a valid Kubernetes label value",
                c.at("metadata", "labels", key),
                "letters, digits, '-', '_' and '.', at most 63, starting and ending alphanumeric",
            )


def _variables_and_secrets(c: Context) -> Iterable[Diagnostic]:
    """Environment variable names, Secret names and keys, and the gateway's TLS Secret."""
    m = c.mesh
    for name, svc in m.services.items():
        for var in svc.env:
            if not ENV_NAME.match(var):
                yield Diagnostic(
                    Code.BAD_VALUE,
                    f"services.{name}.env: {var!r} is not a valid environment variable name",
                    c.at("services", name, "env", var, key=True),
                    "letters, digits, '_', '-' and '.', not starting with a digit",
                )
        for var, ref in svc.secrets.items():
            where = ("services", name, "secrets", var)
            if not ENV_NAME.match(var):
                yield Diagnostic(
                    Code.BAD_VALUE,
                    f"services.{name}.secrets: {var!r} is not a valid environment variable name",
                    c.at(*where, key=True),
                    "letters, digits, '_', '-' and '.', not starting with a digit",
                )
            if len(ref.secret) > 253 or not DNS_SUBDOMAIN.match(ref.secret):
                yield Diagnostic(
                    Code.BAD_NAME,
                    f"services.{name}.secrets.{var}.secret: {ref.secret!r} is not a valid Secret name",
                    c.at(*where, "secret"),
                    suggest_label(ref.secret),
                )
            if not SECRET_KEY.match(ref.key):
                yield Diagnostic(
                    Code.BAD_VALUE,
                    f"services.{name}.secrets.{var}.key: {ref.key!r} is not a valid Secret key",
                    c.at(*where, "key"),
                    "letters, digits, '-', '_' and '.'",
                )
    tls = m.gateway.tls
    if tls is not None and (len(tls.secret) > 253 or not DNS_SUBDOMAIN.match(tls.secret)):
        yield Diagnostic(
            Code.BAD_NAME,
            f"gateway.tls.secret: {tls.secret!r} is not a valid Secret name",
            c.at("gateway", "tls", "secret"),
            suggest_label(tls.secret),
        )
