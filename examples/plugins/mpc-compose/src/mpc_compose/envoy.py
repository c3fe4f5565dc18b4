"""A small Envoy bootstrap for the master proxy on a developer's machine.

Same routes as the mesh's gateway (path-segment prefixes, rewrites, timeouts, retries), but the
upstreams are the compose services, found by their compose names through Docker's DNS. No Istio, no
TLS and no JWT checks: the stack listens on the loopback address of one machine.
"""

from __future__ import annotations

import re
from typing import Any

from mpc.lang.model import Model, Route, Service
from mpc.lang.quantities import envoy_duration

ADMIN_PORT = 9901
_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_STDOUT_LOG = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
_HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def _match(prefix: str) -> dict[str, Any]:
    # path_separated_prefix matches /data and /data/... but not /database; it cannot be "/" itself.
    if prefix == "/":
        return {"prefix": "/"}
    return {"path_separated_prefix": prefix.rstrip("/")}


def _route(route: Route) -> dict[str, Any]:
    action: dict[str, Any] = {"cluster": route.service, "timeout": envoy_duration(route.timeout_ms)}
    if route.rewrite is not None and route.prefix != "/":
        # A plain prefix_rewrite of /data to / would turn /data/x into //x: rewrite the whole segment.
        action["regex_rewrite"] = {
            "pattern": {"regex": f"^{re.escape(route.prefix.rstrip('/'))}/?"},
            "substitution": route.rewrite.rstrip("/") + "/",
        }
    if route.retries > 0:
        action["retry_policy"] = {
            "retry_on": "connect-failure,refused-stream,reset",
            "num_retries": route.retries,
        }
    return {"match": _match(route.prefix), "route": action}


def _cluster(service: Service) -> dict[str, Any]:
    assert service.port is not None, "only services with a port are routed"
    cluster: dict[str, Any] = {
        "name": service.name,
        "type": "STRICT_DNS",
        "connect_timeout": "2s",
        "dns_lookup_family": "V4_ONLY",
        "load_assignment": {
            "cluster_name": service.name,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": service.name, "port_value": service.port}
                                }
                            }
                        }
                    ]
                }
            ],
        },
    }
    if service.protocol == "grpc":
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": _HTTP_OPTIONS,
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return cluster


def bootstrap(model: Model, running: set[str]) -> dict[str, Any]:
    """The bootstrap for the gateway's routes to the services in `running` (the others are left out)."""
    gateway = model.gateway
    routes = [r for r in gateway.routes if r.service in running]
    routed = sorted({r.service for r in routes})
    manager = {
        "@type": _HCM,
        "stat_prefix": gateway.name,
        "access_log": [{"name": "envoy.access_loggers.stdout", "typed_config": {"@type": _STDOUT_LOG}}],
        "route_config": {
            "name": gateway.name,
            "virtual_hosts": [
                {"name": gateway.name, "domains": ["*"], "routes": [_route(r) for r in routes]}
            ],
        },
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}}],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ADMIN_PORT}}},
        "static_resources": {
            "listeners": [
                {
                    "name": gateway.name,
                    "address": {"socket_address": {"address": "0.0.0.0", "port_value": gateway.port}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": manager,
                                }
                            ]
                        }
                    ],
                }
            ],
            "clusters": [_cluster(model.services[name]) for name in routed],
        },
    }
