"""Workloads: ports, probes, limits, the pod's own settings, volumes and versions.

Each rule is one a generated object would otherwise break at apply time (two ports of one name, a limit
below its request, a sub-second grace period the API cannot hold) or one the design forbids (a key that
excludes another, annotations in mpc's own prefix).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import Context
from mpc.lang import spec
from mpc.lang.load import key_path

# Kubernetes: a container port name is an IANA service name (<= 15, letters/digits/'-', one letter).
PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_PORT_NAME = 15
RESERVED_ANNOTATIONS = "masterproxy.dev/"
WEIGHTS = 100


def _exclusive(c: Context, where: tuple[str | int, ...], keys: list[str], why: str) -> Iterable[Diagnostic]:
    written = [k for k in keys if c.doc.has((*where, k))]
    if len(written) > 1:
        yield Diagnostic(
            Code.EXCLUSIVE_KEYS,
            f"{key_path(where)} sets both {written[0]!r} and {written[1]!r}",
            c.at(*where, written[1], key=True),
            why,
        )


def _one_of(
    c: Context,
    where: tuple[str | int, ...],
    keys: tuple[str, ...],
    written: list[str],
    hints: tuple[str, str],
) -> Iterable[Diagnostic]:
    """A block that takes exactly one of `keys` (`written`: those it sets): none is reported as the first
    key missing (hints[0]), two or more as exclusive (hints[1])."""
    if not written:
        yield Diagnostic(
            Code.MISSING_KEY,
            f"{key_path(where)} is missing the required key {keys[0]!r}",
            c.at(*where, key=True),
            hints[0],
        )
    yield from _exclusive(c, where, written, hints[1])


def _ports(c: Context, name: str, svc: spec.Service) -> Iterable[Diagnostic]:
    at = ("services", name)
    yield from _exclusive(
        c,
        at,
        ["port", "ports"],
        "one port: port (and protocol, targetPort); several: ports, each with a name",
    )
    yield from _exclusive(c, at, ["protocol", "ports"], "with ports, each port names its protocol")
    yield from _exclusive(c, at, ["targetPort", "ports"], "with ports, each port names its targetPort")
    if svc.target_port is not None and svc.port is None and svc.ports is None:
        yield Diagnostic(
            Code.MISSING_KEY,
            f"services.{name} sets targetPort without port",
            c.at(*at, "targetPort", key=True),
            "targetPort is the container port behind port",
        )
    seen: dict[tuple[str, str | int], int] = {}
    for i, port in enumerate(svc.ports or ()):
        if len(port.name) > MAX_PORT_NAME or not PORT_NAME.match(port.name):
            yield Diagnostic(
                Code.BAD_NAME,
                f"services.{name}.ports[{i}].name {port.name!r} is not a valid port name",
                c.at(*at, "ports", i, "name"),
                f"lower-case letters, digits and '-', at most {MAX_PORT_NAME}, with at least one letter",
            )
        for what, value in (("name", port.name), ("port", port.port)):
            if (what, value) in seen:
                yield Diagnostic(
                    Code.BAD_VALUE,
                    f"services.{name}.ports[{i}]: {what} {value!r} is already used by "
                    f"ports[{seen[(what, value)]}]",
                    c.at(*at, "ports", i, what),
                    f"each port of a service has its own {what}",
                )
            seen.setdefault((what, value), i)


def _health(c: Context, name: str, svc: spec.Service) -> Iterable[Diagnostic]:
    health = svc.health
    if health is None:
        return
    at = ("services", name, "health")
    kinds = ("path", "grpc", "tcp")
    yield from _one_of(
        c,
        at,
        kinds,
        [k for k in kinds if getattr(health, k)],
        (
            "an HTTP path (path: /healthz), grpc: true for the gRPC health protocol, or tcp: true",
            "a probe is one of: an HTTP path, grpc: true, tcp: true",
        ),
    )
    if health.headers and health.path is None:
        yield Diagnostic(
            Code.BAD_VALUE,
            f"services.{name}.health.headers: headers are sent by HTTP probes only",
            c.at(*at, "headers", key=True),
            "give a path, or drop headers",
        )
    if isinstance(health.port, str):
        known = [port_name for port_name, _, _ in svc.named_ports()]
        if health.port not in known:
            yield Diagnostic(
                Code.UNKNOWN_REFERENCE,
                f"services.{name}.health.port: no port named {health.port!r}",
                c.at(*at, "port"),
                c.suggest(health.port, known) or "name a declared port, or give a number",
            )
    for key, value in (("initialDelay", health.initial_delay), ("period", health.period)):
        yield from _whole_seconds(c, (*at, key), value)
    if health.startup is not None:
        yield from _whole_seconds(c, (*at, "startup", "period"), health.startup.period)


def _whole_seconds(c: Context, where: tuple[str | int, ...], ms: int | None) -> Iterable[Diagnostic]:
    if ms is not None and (ms % 1000 or ms == 0):
        yield Diagnostic(
            Code.BAD_VALUE,
            f"{key_path(where)}: Kubernetes counts this in whole seconds, at least 1",
            c.at(*where),
            f"write {max(1, round(ms / 1000))}s",
        )


def _limits(c: Context, where: tuple[str | int, ...], res: spec.Resources | None) -> Iterable[Diagnostic]:
    if res is None or res.limits is None:
        return
    for key in ("cpu", "memory"):
        request, limit = getattr(res, key), getattr(res.limits, key)
        if request is not None and limit is not None and limit.value < request.value:
            yield Diagnostic(
                Code.BAD_VALUE,
                f"{key_path(where)}.limits.{key}: {limit} is below the request {request}",
                c.at(*where, "limits", key),
                "a limit is at least the request",
            )


def _pod(c: Context, name: str, svc: spec.Service) -> Iterable[Diagnostic]:
    at = ("services", name)
    for key in svc.annotations:
        if key.startswith(RESERVED_ANNOTATIONS):
            yield Diagnostic(
                Code.BAD_VALUE,
                f"services.{name}.annotations: {key!r} is in mpc's reserved prefix {RESERVED_ANNOTATIONS!r}",
                c.at(*at, "annotations", key, key=True),
                "mpc writes annotations under masterproxy.dev/; use a prefix of your own",
            )
    yield from _whole_seconds(c, (*at, "terminationGracePeriod"), svc.termination_grace_period)
    seen: dict[str, int] = {}
    paths: dict[str, int] = {}
    for i, volume in enumerate(svc.volumes):
        where = (*at, "volumes", i)
        kinds = ("emptyDir", "files", "secret")
        yield from _one_of(
            c,
            where,
            kinds,
            [k for k in kinds if c.doc.has((*where, k))],
            (
                "a volume is one of: emptyDir: {}, files: {NAME: CONTENT}, secret: SECRET-NAME",
                "a volume is one of emptyDir, files, secret",
            ),
        )
        for table, value, what in ((seen, volume.name, "name"), (paths, volume.mount_path, "mountPath")):
            if value in table:
                yield Diagnostic(
                    Code.BAD_VALUE,
                    f"services.{name}.volumes[{i}]: {what} {value!r} is already used by "
                    f"volumes[{table[value]}]",
                    c.at(*where, what),
                    f"each volume has its own {what}",
                )
            table.setdefault(value, i)
        if volume.name in ("tmp", "storage", "model-cache"):
            yield Diagnostic(
                Code.NAME_TAKEN,
                f"services.{name}.volumes[{i}]: {volume.name!r} is a volume mpc adds itself",
                c.at(*where, "name"),
                "choose another name",
            )


def _versions(c: Context, name: str, svc: spec.Service) -> Iterable[Diagnostic]:
    at = ("services", name)
    yield from _exclusive(c, at, ["image", "versions"], "each version names its own image")
    if not svc.versions:
        return
    weights = [v.weight for v in svc.versions.values() if v.weight is not None]
    open_ = [v for v in svc.versions.values() if v.weight is None]
    total = sum(weights)
    if total > WEIGHTS or (not open_ and total != WEIGHTS):
        yield Diagnostic(
            Code.BAD_VALUE,
            f"services.{name}.versions: the weights add up to {total}, not {WEIGHTS}",
            c.at(*at, "versions", key=True),
            "weights are percentages of one split; leave one version without a weight to take the rest",
        )
    arch = c.model.services.get(name)
    if arch is not None and arch.archetype.stateful:
        yield Diagnostic(
            Code.ARCHETYPE_REQUIREMENT,
            f"services.{name}: versions are not offered for archetype {arch.archetype.name!r}",
            c.at(*at, "versions", key=True),
            "a stateful service's members share one image; roll it forward instead",
        )
    if svc.autoscale is not None:
        yield Diagnostic(
            Code.ARCHETYPE_REQUIREMENT,
            f"services.{name}: autoscale is not offered with versions",
            c.at(*at, "autoscale", key=True),
            "a weighted split needs replica counts it can rely on; set replicas per version",
        )
    for vname, version in svc.versions.items():
        yield from _limits(c, (*at, "versions", vname, "resources"), version.resources)


def check_workloads(c: Context) -> Iterable[Diagnostic]:
    for name, svc in c.mesh.services.items():
        yield from _ports(c, name, svc)
        yield from _health(c, name, svc)
        yield from _limits(c, ("services", name, "resources"), svc.resources)
        yield from _pod(c, name, svc)
        yield from _versions(c, name, svc)
    yield from _limits(c, ("defaults", "resources"), c.mesh.defaults.resources)
    for env_name, env in c.mesh.environments.items():
        yield from _limits(c, ("environments", env_name, "resources"), env.resources)
