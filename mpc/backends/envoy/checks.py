"""mpc's own analysis of a bootstrap, for what `envoy --mode validate` lets through.

Envoy validates each message, not the references between them: an OpenTelemetry tracer naming a
missing cluster passes validation and even starts; a per-route config for a filter that is not in the
chain is silently ignored (a route meant to require a JWT would not). These checks read the bootstrap
as data, so they hold for any bootstrap this backend builds, local or in-cluster.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mpc.errors import Code, Diagnostic, Location

from .bootstrap import JWT_FILTER

Locate = Callable[[str | None], Location]  # a route name (or None for the gateway) -> where the mesh says it


def _connection_managers(bootstrap: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for listener in bootstrap.get("static_resources", {}).get("listeners", []):
        for chain in listener.get("filter_chains", []):
            for network_filter in chain.get("filters", []):
                config = network_filter.get("typed_config", {})
                if "route_config" in config:
                    yield listener.get("name", "?"), config


def check_bootstrap(bootstrap: Mapping[str, Any], locate: Locate, where: str) -> list[Diagnostic]:
    """Every named cluster exists, no two routes collide, every required JWT provider is configured."""
    found: list[Diagnostic] = []

    def problem(message: str, route: str | None = None) -> None:
        found.append(
            Diagnostic(
                Code.GENERATED_OBJECT,
                f"{where}: {message}",
                locate(route),
                "this is a bug in mpc; please report it",
            )
        )

    clusters: set[str] = set()
    for cluster in bootstrap.get("static_resources", {}).get("clusters", []):
        if cluster["name"] in clusters:
            problem(f"cluster {cluster['name']!r} is defined twice")
        clusters.add(cluster["name"])

    def need_cluster(name: str | None, what: str, route: str | None = None) -> None:
        if name is not None and name not in clusters:
            problem(f"{what} names cluster {name!r}, which is not defined", route)

    for listener, hcm in _connection_managers(bootstrap):
        filters = {f["name"]: f.get("typed_config", {}) for f in hcm.get("http_filters", [])}
        jwt = filters.get(JWT_FILTER, {})
        providers = jwt.get("providers", {})
        requirements = jwt.get("requirement_map", {})
        for provider_name, provider in providers.items():
            uri = provider.get("remote_jwks", {}).get("http_uri", {})
            need_cluster(uri.get("cluster"), f"JWT provider {provider_name!r}")
        for requirement, spec in requirements.items():
            if spec.get("provider_name") not in providers:
                problem(
                    f"JWT requirement {requirement!r} names provider {spec.get('provider_name')!r}, "
                    "which is not configured"
                )

        tracer = hcm.get("tracing", {}).get("provider", {}).get("typed_config", {})
        grpc = tracer.get("grpc_service", {}).get("envoy_grpc", {})
        need_cluster(grpc.get("cluster_name"), f"listener {listener!r}: the tracer")

        names: set[str] = set()
        for vhost in hcm["route_config"].get("virtual_hosts", []):
            matches: dict[str, str] = {}
            for route in vhost.get("routes", []):
                name = route.get("name")
                if name in names:
                    problem(f"route name {name!r} is used twice", name)
                names.add(name)
                match = json.dumps(route.get("match", {}), sort_keys=True)
                if match in matches:
                    problem(f"routes {matches[match]!r} and {name!r} match the same requests {match}", name)
                matches.setdefault(match, name)
                need_cluster(route.get("route", {}).get("cluster"), f"route {name!r}", name)
                for filter_name, config in route.get("typed_per_filter_config", {}).items():
                    if filter_name not in filters:
                        problem(
                            f"route {name!r} configures filter {filter_name!r}, which is not in the chain",
                            name,
                        )
                    if filter_name == JWT_FILTER and config.get("requirement_name") not in requirements:
                        problem(
                            f"route {name!r} requires JWT requirement {config.get('requirement_name')!r}, "
                            "which is not configured",
                            name,
                        )
    return found
