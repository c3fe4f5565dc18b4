"""`mpc init`: a commented, valid mesh.yaml for one master proxy in front of some apps."""

from __future__ import annotations

import re
from pathlib import Path

from mpc.errors import Code, Diagnostic, EnvironmentFailure, Location, MpcError

_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _label(value: str, what: str) -> str:
    """Accept the seed's CamelCase names (LocalAPIGateway) by turning them into DNS labels."""
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", value).lower()
    name = re.sub(r"[^a-z0-9-]+", "-", name).strip("-")[:40].rstrip("-")
    if not _LABEL.match(name):
        raise MpcError(
            [
                Diagnostic(
                    Code.BAD_NAME,
                    f"{what} {value!r} cannot be made a DNS-1123 label",
                    Location("<command line>"),
                )
            ]
        )
    return name


_REGISTRY = re.compile(r"^[a-zA-Z0-9.-]+(:\d+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


def render_scaffold(*, gateway: str, port: int, apps: list[str], name: str, registry: str) -> str:
    if not _REGISTRY.match(registry):
        raise MpcError(
            [
                Diagnostic(
                    Code.BAD_VALUE,
                    f"registry {registry!r} is not an image registry prefix",
                    Location("<command line>"),
                    "e.g. ghcr.io/acme or registry.example.com:5000/team",
                )
            ]
        )
    gw = _label(gateway, "gateway name")
    app_names = [_label(a, "app name") for a in apps]
    dupes = sorted({a for a in app_names if app_names.count(a) > 1})
    if dupes:
        raise MpcError(
            [Diagnostic(Code.DUPLICATE_ROUTE, f"app {dupes[0]!r} is given twice", Location("<command line>"))]
        )
    if gw in app_names:
        raise MpcError(
            [
                Diagnostic(
                    Code.NAME_TAKEN,
                    f"the gateway and an app are both named {gw!r}",
                    Location("<command line>"),
                )
            ]
        )
    lines = [
        f"# yaml-language-server: $schema=./{SCHEMA_FILE}",
        f"# (editors check this file against {SCHEMA_FILE}; refresh it with `mpc schema > {SCHEMA_FILE}`)",
        "# A mesh for mpc: one master proxy in front of your apps.",
        "# Reference: docs/mesh-reference.md.",
        "# Check it with `mpc validate mesh.yaml`; render it with `mpc build mesh.yaml -o out/`.",
        "apiVersion: masterproxy.dev/v1alpha1",
        "kind: Mesh",
        "metadata:",
        f"  name: {name}",
        '  owners: ["@example/platform"]   # code owners of everything below (CODEOWNERS)',
        "",
        "defaults:",
        f"  registry: {registry}   # images written without a registry get this prefix",
        "  replicas: 2",
        "  resources: {cpu: 100m, memory: 128Mi}",
        "  timeout: 15s",
        "  retries: 2",
        "",
        "# The master proxy: one port that dispatches by path prefix.",
        "# Prefixes match whole path segments: /auth matches /auth and /auth/x, never /authx.",
        "gateway:",
        f"  name: {gw}",
        f"  port: {port}",
        "  routes:",
    ]
    for app in app_names:
        lines.append(f"    - {{prefix: /{app}, service: {app}}}")
    lines += [
        "",
        "# Each app: an image pinned to a version, a port, and what it calls (dependsOn).",
        "services:",
    ]
    for app in app_names:
        lines += [
            f"  {app}:",
            f"    image: {app}:0.1.0   # becomes {registry}/{app}:0.1.0",
            "    port: 8080",
            "    health: {path: /healthz}",
            "    dependsOn: []   # names of services or external entries this app calls",
        ]
    lines += [
        "",
        "# Next steps: add `environments` and `clusters` to place the apps, `auth` to require JWTs",
        "# on routes, `observability` for tracing and SLOs. examples/acme/mesh.yaml uses every section.",
    ]
    return "\n".join(lines) + "\n"


SCHEMA_FILE = "mesh.schema.json"


def write_scaffold(
    directory: Path, *, gateway: str, port: int, apps: list[str], name: str | None, registry: str, force: bool
) -> Path:
    mesh_name = _label(name or directory.resolve().name or "mesh", "mesh name")
    text = render_scaffold(gateway=gateway, port=port, apps=apps, name=mesh_name, registry=registry)
    target = directory / "mesh.yaml"
    if target.exists() and not force:
        raise MpcError(
            [
                Diagnostic(
                    Code.UNREADABLE,
                    f"{target} already exists",
                    Location(str(target)),
                    "pass --force to overwrite it",
                )
            ]
        )
    from mpc.lang.schema import schema_text

    try:
        directory.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        # The schema beside the mesh, so an editor validates without a network or a hosted copy.
        (directory / SCHEMA_FILE).write_text(schema_text(), encoding="utf-8")
    except OSError as exc:
        raise EnvironmentFailure.of(exc, str(exc.filename or directory)) from None
    return target
