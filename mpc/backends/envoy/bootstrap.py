"""The master proxy's Envoy v3 static bootstrap, as plain data: a pure function of the model and a Target.

A Target says where one bootstrap runs (a namespace of a cluster, or a laptop): the addresses of the
upstreams, the JWKS endpoints, the tracing collector and the file paths. Everything else (routes,
policies, filters) comes from the model and is the same everywhere, so what a developer runs with
`mpc dev` is what the cluster runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mpc.graph import reserved
from mpc.lang.hosts import parse_url
from mpc.lang.model import Issuer, Model, RateLimit, Route, Service
from mpc.render.retries import IDEMPOTENT_METHODS, RETRY_ON_UNDELIVERED

# Type URLs, spelled once.
HCM_TYPE = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
)
ROUTER_TYPE = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
CORS_TYPE = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"
CORS_POLICY_TYPE = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy"
JWT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
JWT_ROUTE_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig"
RATELIMIT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
STDOUT_LOG_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
OTEL_TYPE = "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig"
HTTP_OPTIONS_TYPE = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
DOWNSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
UPSTREAM_TLS_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
CONNECTIONS_TYPE = (
    "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3"
    ".DownstreamConnectionsConfig"
)

# Filter names. The per-route rate limiter is a second instance of the local rate limit filter under its
# own name, so a route's own bucket applies in addition to the listener's (a per-route config of the same
# filter would replace the listener's bucket on that route instead).
CORS_FILTER = "envoy.filters.http.cors"
JWT_FILTER = "envoy.filters.http.jwt_authn"
LISTENER_LIMIT_FILTER = "envoy.filters.http.local_ratelimit"
ROUTE_LIMIT_FILTER = "mpc.route_local_ratelimit"
ROUTER_FILTER = "envoy.filters.http.router"

# Cluster names that are not services.
ADMIN_CLUSTER = "admin_loopback"
TRACING_CLUSTER = "tracing"

# Retries that are safe (mpc.render.retries). "503" is not a retry_on token: it is listed in
# retriable_status_codes. A route with retries is written twice: first for the idempotent methods, then
# for the rest.
RETRY_ON = "connect-failure,refused-stream,retriable-status-codes"
RETRIABLE_STATUS_CODES = (503,)
IDEMPOTENT_SUFFIX = reserved.IDEMPOTENT_SUFFIX
MAX_DOWNSTREAM_CONNECTIONS = 50_000

# One JSON object per request on stdout: what log collectors on Kubernetes pick up.
ACCESS_LOG_FORMAT: dict[str, str] = {
    "authority": "%REQ(:AUTHORITY)%",
    "bytes_received": "%BYTES_RECEIVED%",
    "bytes_sent": "%BYTES_SENT%",
    "duration_ms": "%DURATION%",
    "method": "%REQ(:METHOD)%",
    "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
    "protocol": "%PROTOCOL%",
    "request_id": "%REQ(X-REQUEST-ID)%",
    "response_flags": "%RESPONSE_FLAGS%",
    "route": "%ROUTE_NAME%",
    "start_time": "%START_TIME%",
    "status": "%RESPONSE_CODE%",
    "upstream_cluster": "%UPSTREAM_CLUSTER%",
    "upstream_host": "%UPSTREAM_HOST%",
    "user_agent": "%REQ(USER-AGENT)%",
    "x_forwarded_for": "%REQ(X-FORWARDED-FOR)%",
}


@dataclass(frozen=True, slots=True)
class Upstream:
    """Where one routed service is reached from the proxy."""

    host: str
    port: int
    health_port: int | None = None  # when health checks go to another port than traffic


@dataclass(frozen=True, slots=True)
class Jwks:
    """Where an issuer's JSON Web Key Set is fetched from."""

    uri: str
    host: str
    port: int
    tls: bool

    @classmethod
    def from_uri(cls, uri: str) -> Jwks:
        """From a URL validation accepted (mpc.lang.hosts.parse_url raises ValueError on any other)."""
        url = parse_url(uri)
        return cls(uri, url.host, url.port, url.tls)


@dataclass(frozen=True, slots=True)
class ListenerTls:
    """TLS on the listener: the certificate comes from a file-based SDS secret (rotated without restart)."""

    secret_name: str
    sds_path: str  # the SDS file (a DiscoveryResponse holding one Secret)
    sds_dir: str  # watched for the atomic symlink swap a Kubernetes volume update does
    cert_dir: str  # where the Kubernetes TLS secret is mounted (tls.crt, tls.key)


@dataclass(frozen=True, slots=True)
class Target:
    """Where one bootstrap runs: the addresses and paths that differ between a cluster and a laptop."""

    name: str  # environment name, or "local"
    listen_address: str
    port: int
    admin_port: int
    health_port: int | None  # a listener proxying /ready and /stats/prometheus to the loopback admin
    upstreams: Mapping[str, Upstream]  # routed service -> address; a service missing here does not run
    jwks: Mapping[str, Jwks]  # issuer -> where its keys are
    tracing: Upstream | None
    tls: ListenerTls | None
    ca_file: str  # trusted CAs for TLS to issuers
    health_no_traffic_interval_ms: int | None = None  # faster health checks before traffic (local)


def duration(ms: int) -> str:
    """Milliseconds as a protobuf Duration string ("15s", "0.250s")."""
    seconds, rest = divmod(ms, 1000)
    return f"{seconds}s" if rest == 0 else f"{seconds}.{rest:03d}s"


def cluster_name(service: str) -> str:
    return f"svc_{service}"


def jwks_cluster_name(issuer: str) -> str:
    return f"jwks_{issuer}"


def route_name(route: Route) -> str:
    """route_auth for /auth, route_exact_login_post for POST /login (mpc.graph.reserved.route_name)."""
    return reserved.route_name(route.match, route.path is not None, route.methods)


def _percent(value: int) -> dict[str, Any]:
    return {"numerator": value, "denominator": "HUNDRED"}


def _socket(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _token_bucket(limit: RateLimit) -> dict[str, Any]:
    return {
        "max_tokens": limit.requests,
        "tokens_per_fill": limit.requests,
        "fill_interval": duration(limit.per_ms),
    }


def _rate_limit(stat_prefix: str, limit: RateLimit | None, type_url: str = RATELIMIT_TYPE) -> dict[str, Any]:
    config: dict[str, Any] = {"@type": type_url, "stat_prefix": stat_prefix}
    if limit is not None:
        config["token_bucket"] = _token_bucket(limit)
        config["filter_enabled"] = {"runtime_key": f"{stat_prefix}_enabled", "default_value": _percent(100)}
        config["filter_enforced"] = {"runtime_key": f"{stat_prefix}_enforced", "default_value": _percent(100)}
        config["response_headers_to_add"] = [
            {
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                "header": {"key": "x-local-rate-limit", "value": "true"},
            }
        ]
    return config


# --- routes ------------------------------------------------------------------------------------------


def _methods(methods: tuple[str, ...]) -> list[dict[str, Any]]:
    """A `:method` header match: a route limited to some methods lets the others fall through to later
    routes (and to a 404 when none matches), which is Envoy's way rather than a 405."""
    if len(methods) == 1:
        return [{"name": ":method", "string_match": {"exact": methods[0]}}]
    pattern = "^(" + "|".join(re.escape(m) for m in methods) + ")$"
    return [{"name": ":method", "string_match": {"safe_regex": {"regex": pattern}}}]


def _match(route: Route) -> dict[str, Any]:
    # The catch-all cannot be a path_separated_prefix (which must not end in '/'); every other prefix
    # matches whole segments: /auth serves /auth and /auth/..., never /authx. An exact path is `path`.
    # Both in any case: a server that reads /ADMIN as /admin must not receive it through another route
    # than /admin's, without its token.
    match: dict[str, Any]
    if route.path is not None:
        match = {"path": route.path, "case_sensitive": False}
    elif route.match == "/":
        match = {"prefix": "/"}
    else:
        match = {"path_separated_prefix": route.match, "case_sensitive": False}
    if route.methods:
        match["headers"] = _methods(route.methods)
    return match


# Servers such as Tomcat and Spring drop `;` path parameters (`/admin;x/secret` is /admin/secret to them,
# `/public/..;/admin` is /admin), and servers with Windows path rules (IIS) drop the dots and spaces that
# end a segment (`/admin./secret`, `/admin%20/secret`); Envoy's path normalisation keeps both, so such a
# path would reach a protected prefix by an open route. Where a route requires a token, they are refused.
PATH_PARAMETERS_ROUTE = reserved.PATH_PARAMETERS_ROUTE
PATH_PARAMETERS = r"(?i).*(;|%3b).*|.*[^/](\.|%20)+(/.*)?"


def _path_parameters_route() -> dict[str, Any]:
    return {
        "name": PATH_PARAMETERS_ROUTE,
        "match": {"safe_regex": {"regex": PATH_PARAMETERS}},
        "direct_response": {
            "status": 400,
            "body": {
                "inline_string": "path parameters (;) and segments ending in a dot or space are refused\n"
            },
        },
    }


def _rewrite(route: Route) -> dict[str, Any]:
    if route.rewrite is None:
        return {}
    if route.path is None and route.match != "/" and route.rewrite.endswith("/"):
        # A plain prefix_rewrite of /data to / would turn /data/x into //x: eat the separator too (in the
        # case the route matched).
        return {
            "regex_rewrite": {
                "pattern": {"regex": f"(?i)^{re.escape(route.match)}/?"},
                "substitution": route.rewrite,
            }
        }
    return {"prefix_rewrite": route.rewrite}


def _method_match(methods: tuple[str, ...]) -> dict[str, Any]:
    regex = "|".join(methods)
    return {"name": ":method", "string_match": {"safe_regex": {"regex": regex}}}


def _routes(route: Route, target: Target) -> list[dict[str, Any]]:
    """The route, preceded by its idempotent twin when it retries (the only one that retries a 503)."""
    if route.retries <= 0 or route.service not in target.upstreams:
        return [_route(route, target)]
    general = _route(route, target, undelivered_only=True)
    # A route limited to some methods: its twin takes the idempotent ones among them (the method match
    # replaces the route's own, being narrower); none idempotent, no twin.
    methods = tuple(m for m in IDEMPOTENT_METHODS if not route.methods or m in route.methods)
    if not methods:
        return [general]
    twin = _route(route, target)
    idempotent = {
        **twin,
        "name": twin["name"] + IDEMPOTENT_SUFFIX,
        "match": {**twin["match"], "headers": [_method_match(methods)]},
    }
    return [idempotent, general]


def _route(route: Route, target: Target, undelivered_only: bool = False) -> dict[str, Any]:
    """One route; with retries, every retriable failure, or (`undelivered_only`) only what never reached
    the service."""
    out: dict[str, Any] = {"name": route_name(route), "match": _match(route)}
    if route.service not in target.upstreams:
        # The service does not run where this bootstrap runs: say so instead of a DNS failure.
        out["direct_response"] = {
            "status": 503,
            "body": {"inline_string": f"{route.service} is not deployed in {target.name}\n"},
        }
    else:
        action: dict[str, Any] = {
            "cluster": cluster_name(route.service),
            "timeout": duration(route.timeout_ms),
        }
        action.update(_rewrite(route))
        if route.retries > 0 and undelivered_only:
            action["retry_policy"] = {"retry_on": RETRY_ON_UNDELIVERED, "num_retries": route.retries}
        elif route.retries > 0:
            action["retry_policy"] = {
                "retry_on": RETRY_ON,
                "retriable_status_codes": list(RETRIABLE_STATUS_CODES),
                "num_retries": route.retries,
            }
        out["route"] = action
    per_filter: dict[str, Any] = {}
    if route.auth is not None:
        per_filter[JWT_FILTER] = {"@type": JWT_ROUTE_TYPE, "requirement_name": route.auth}
    if route.rate_limit is not None:
        per_filter[ROUTE_LIMIT_FILTER] = _rate_limit(
            f"route_rate_limit_{route_name(route)}", route.rate_limit
        )
    if per_filter:
        out["typed_per_filter_config"] = per_filter
    return out


def _virtual_host(model: Model, target: Target) -> dict[str, Any]:
    gw = model.gateway
    routes = [out for r in gw.routes for out in _routes(r, target)]
    if any(r.auth is not None for r in gw.routes):
        routes.insert(0, _path_parameters_route())
    vhost: dict[str, Any] = {"name": gw.name, "domains": list(gw.hosts), "routes": routes}
    if gw.cors is not None:
        cors = gw.cors
        vhost["typed_per_filter_config"] = {
            CORS_FILTER: {
                "@type": CORS_POLICY_TYPE,
                "allow_origin_string_match": [{"exact": origin} for origin in cors.origins],
                "allow_methods": ",".join(cors.methods),
                "allow_headers": ",".join(cors.headers),
                "max_age": str(cors.max_age_ms // 1000),
            }
        }
    return vhost


# --- filters -----------------------------------------------------------------------------------------


def required_issuers(model: Model) -> list[Issuer]:
    """Issuers some route requires, in the mesh's order. Others are not configured (nothing to fetch)."""
    used = {r.auth for r in model.gateway.routes if r.auth is not None}
    return [issuer for name, issuer in model.issuers.items() if name in used]


def _jwt_filter(model: Model, target: Target) -> dict[str, Any]:
    providers: dict[str, Any] = {}
    requirements: dict[str, Any] = {}
    for issuer in required_issuers(model):
        jwks = target.jwks[issuer.name]
        provider: dict[str, Any] = {"issuer": issuer.issuer}
        if issuer.audiences:
            provider["audiences"] = list(issuer.audiences)
        provider["remote_jwks"] = {
            "http_uri": {"uri": jwks.uri, "cluster": jwks_cluster_name(issuer.name), "timeout": "5s"},
            "cache_duration": "600s",
            "async_fetch": {},
            "retry_policy": {"num_retries": 3},
        }
        provider["forward"] = True  # services may read the claims; Envoy has verified them
        providers[issuer.name] = provider
        requirements[issuer.name] = {"provider_name": issuer.name}
    return {
        "name": JWT_FILTER,
        "typed_config": {"@type": JWT_TYPE, "providers": providers, "requirement_map": requirements},
    }


def _http_filters(model: Model, target: Target) -> list[dict[str, Any]]:
    gw = model.gateway
    filters: list[dict[str, Any]] = []
    # CORS first, so a preflight is answered before authentication asks for a token.
    if gw.cors is not None:
        filters.append({"name": CORS_FILTER, "typed_config": {"@type": CORS_TYPE}})
    if gw.rate_limit is not None:
        filters.append(
            {"name": LISTENER_LIMIT_FILTER, "typed_config": _rate_limit("rate_limit", gw.rate_limit)}
        )
    if any(r.rate_limit is not None for r in gw.routes):
        # Disabled here; each limited route brings its own bucket through typed_per_filter_config.
        filters.append({"name": ROUTE_LIMIT_FILTER, "typed_config": _rate_limit("route_rate_limit", None)})
    if required_issuers(model):
        filters.append(_jwt_filter(model, target))
    filters.append({"name": ROUTER_FILTER, "typed_config": {"@type": ROUTER_TYPE}})
    return filters


def _access_log() -> list[dict[str, Any]]:
    return [
        {
            "name": "envoy.access_loggers.stdout",
            "typed_config": {
                "@type": STDOUT_LOG_TYPE,
                "log_format": {"json_format": dict(ACCESS_LOG_FORMAT)},
            },
        }
    ]


def _tracing(model: Model) -> dict[str, Any]:
    tracing = model.observability.tracing
    assert tracing is not None
    return {
        "random_sampling": {"value": tracing.sampling},
        "provider": {
            "name": "envoy.tracers.opentelemetry",
            "typed_config": {
                "@type": OTEL_TYPE,
                "grpc_service": {"envoy_grpc": {"cluster_name": TRACING_CLUSTER}, "timeout": "1s"},
                "service_name": model.gateway.name,
            },
        },
    }


def _connection_manager(model: Model, target: Target) -> dict[str, Any]:
    gw = model.gateway
    hcm: dict[str, Any] = {
        "@type": HCM_TYPE,
        "stat_prefix": "ingress_http",
        "codec_type": "AUTO",
        # Edge hardening (Envoy's "configuring Envoy as an edge proxy"): trust no client-sent XFF, route
        # and authenticate on the normalised path so /auth/../brain cannot dodge /brain's JWT.
        "use_remote_address": True,
        "normalize_path": True,
        "merge_slashes": True,
        "path_with_escaped_slashes_action": "UNESCAPE_AND_REDIRECT",
        "strip_any_host_port": True,
        "common_http_protocol_options": {
            "idle_timeout": "3600s",
            "headers_with_underscores_action": "REJECT_REQUEST",
        },
        "http2_protocol_options": {
            "max_concurrent_streams": 100,
            "initial_stream_window_size": 65536,
            "initial_connection_window_size": 1048576,
        },
        "stream_idle_timeout": "300s",
        "request_headers_timeout": "10s",
        "access_log": _access_log(),
    }
    if model.observability.tracing is not None and target.tracing is not None:
        hcm["tracing"] = _tracing(model)
    hcm["route_config"] = {"name": f"routes_{gw.name}", "virtual_hosts": [_virtual_host(model, target)]}
    hcm["http_filters"] = _http_filters(model, target)
    return hcm


def _listener(model: Model, target: Target) -> dict[str, Any]:
    chain: dict[str, Any] = {
        "filters": [
            {
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": _connection_manager(model, target),
            }
        ]
    }
    if target.tls is not None:
        chain["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": DOWNSTREAM_TLS_TYPE,
                "common_tls_context": {
                    "alpn_protocols": ["h2", "http/1.1"],
                    "tls_certificate_sds_secret_configs": [
                        {
                            "name": target.tls.secret_name,
                            "sds_config": {
                                "path_config_source": {
                                    "path": target.tls.sds_path,
                                    "watched_directory": {"path": target.tls.sds_dir},
                                },
                                "resource_api_version": "V3",
                            },
                        }
                    ],
                },
            },
        }
    return {
        "name": f"listener_{model.gateway.name}",
        "address": _socket(target.listen_address, target.port),
        "per_connection_buffer_limit_bytes": 32768,
        "filter_chains": [chain],
    }


def _health_listener(target: Target) -> dict[str, Any]:
    """Admin binds 127.0.0.1 only; this listener exposes exactly /ready and /stats/prometheus from it.

    Kubernetes probes and Prometheus cannot reach a loopback port and the image has no shell for an exec
    probe, so a second listener proxies those two read-only paths; everything else admin offers
    (config_dump, quitquitquit, runtime_modify) stays unreachable from outside the pod.
    """
    assert target.health_port is not None
    routes: list[dict[str, Any]] = [
        {"name": "ready", "match": {"path": "/ready"}, "route": {"cluster": ADMIN_CLUSTER, "timeout": "2s"}},
        {
            "name": "stats",
            "match": {"path": "/stats/prometheus"},
            "route": {"cluster": ADMIN_CLUSTER, "timeout": "5s"},
        },
        # Liveness: answered by a worker thread, independent of readiness (which drains return 503 for).
        {"name": "live", "match": {"path": "/live"}, "direct_response": {"status": 200}},
    ]
    hcm = {
        "@type": HCM_TYPE,
        "stat_prefix": "health",
        "codec_type": "AUTO",
        "route_config": {
            "name": "health",
            "virtual_hosts": [{"name": "health", "domains": ["*"], "routes": routes}],
        },
        "http_filters": [{"name": ROUTER_FILTER, "typed_config": {"@type": ROUTER_TYPE}}],
    }
    return {
        "name": "health",
        "address": _socket(target.listen_address, target.health_port),
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
        ],
    }


# --- clusters ----------------------------------------------------------------------------------------


def _endpoint(cluster: str, upstream: Upstream) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"address": _socket(upstream.host, upstream.port)}
    if upstream.health_port is not None and upstream.health_port != upstream.port:
        endpoint["health_check_config"] = {"port_value": upstream.health_port}
    return {"cluster_name": cluster, "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}]}


def _dns_type(host: str) -> str:
    # A literal address needs no resolver (and STRICT_DNS on one is fine too, but STATIC says what it is).
    return "STATIC" if re.fullmatch(r"[0-9.]+", host) else "STRICT_DNS"


def _http2() -> dict[str, Any]:
    # Keyed by the extension's name (the type URL without its prefix).
    key = HTTP_OPTIONS_TYPE.removeprefix("type.googleapis.com/")
    return {key: {"@type": HTTP_OPTIONS_TYPE, "explicit_http_config": {"http2_protocol_options": {}}}}


def _service_cluster(service: Service, upstream: Upstream, target: Target) -> dict[str, Any]:
    name = cluster_name(service.name)
    cluster: dict[str, Any] = {
        "name": name,
        "type": _dns_type(upstream.host),
        "connect_timeout": "5s",
        "lb_policy": "ROUND_ROBIN",
    }
    if cluster["type"] == "STRICT_DNS":
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    cluster["load_assignment"] = _endpoint(name, upstream)
    if service.protocol == "grpc":
        cluster["typed_extension_protocol_options"] = _http2()
    cluster["circuit_breakers"] = {
        "thresholds": [
            {
                "priority": "DEFAULT",
                "max_connections": 1024,
                "max_pending_requests": 1024,
                "max_requests": 1024,
                "max_retries": 3,
            }
        ]
    }
    cluster["outlier_detection"] = {
        "consecutive_5xx": 5,
        "interval": "10s",
        "base_ejection_time": "30s",
        "max_ejection_percent": 50,
    }
    health = _health_check(service)
    if health is not None:
        check: dict[str, Any] = {
            "timeout": "2s",
            "interval": "5s",
            "unhealthy_threshold": 3,
            "healthy_threshold": 1,
        }
        if target.health_no_traffic_interval_ms is not None:
            check["no_traffic_interval"] = duration(target.health_no_traffic_interval_ms)
        cluster["health_checks"] = [check | health]
    return cluster


def _health_check(service: Service) -> dict[str, Any] | None:
    """The proxy checks an upstream the way its own probe does: an HTTP GET of the health path (with the
    probe's headers), or the gRPC health protocol (grpc.health.v1, the server's overall status, as the
    kubelet asks) for a gRPC probe, stated or derived from a gRPC port. A TCP probe proves no more than
    the connection the proxy makes anyway: no active check."""
    probe = service.effective_probe
    if probe is not None and probe.kind == "grpc":
        return {"grpc_health_check": {}}
    if probe is None or probe.kind != "http" or probe.path is None:
        return None
    http_check: dict[str, Any] = {"path": probe.path}
    if probe.headers:
        # The headers the service's own probe sends (e.g. a cookie that keeps checks out of sessions).
        http_check["request_headers_to_add"] = [
            {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for k, v in probe.headers
        ]
    return {"http_health_check": http_check}


def _upstream_tls(sni: str, ca_file: str) -> dict[str, Any]:
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": UPSTREAM_TLS_TYPE,
            "sni": sni,
            "common_tls_context": {
                "validation_context": {
                    "trusted_ca": {"filename": ca_file},
                    "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": sni}}],
                }
            },
        },
    }


def _jwks_cluster(issuer: Issuer, jwks: Jwks, target: Target) -> dict[str, Any]:
    name = jwks_cluster_name(issuer.name)
    cluster: dict[str, Any] = {
        "name": name,
        "type": _dns_type(jwks.host),
        "connect_timeout": "5s",
    }
    if cluster["type"] == "STRICT_DNS":
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    cluster["load_assignment"] = _endpoint(name, Upstream(jwks.host, jwks.port))
    if jwks.tls:
        cluster["transport_socket"] = _upstream_tls(jwks.host, target.ca_file)
    return cluster


def _tracing_cluster(collector: Upstream) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "name": TRACING_CLUSTER,
        "type": _dns_type(collector.host),
        "connect_timeout": "5s",
    }
    if cluster["type"] == "STRICT_DNS":
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    cluster["load_assignment"] = _endpoint(TRACING_CLUSTER, collector)
    cluster["typed_extension_protocol_options"] = _http2()  # OTLP over gRPC
    return cluster


def _admin_cluster(target: Target) -> dict[str, Any]:
    return {
        "name": ADMIN_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": _endpoint(ADMIN_CLUSTER, Upstream("127.0.0.1", target.admin_port)),
    }


def routed_services(model: Model) -> list[Service]:
    """Services some route names, once each, in route order."""
    names = dict.fromkeys(r.service for r in model.gateway.routes)
    return [model.services[n] for n in names if n in model.services]


def _clusters(model: Model, target: Target) -> list[dict[str, Any]]:
    clusters = [
        _service_cluster(svc, target.upstreams[svc.name], target)
        for svc in routed_services(model)
        if svc.name in target.upstreams
    ]
    for issuer in required_issuers(model):
        clusters.append(_jwks_cluster(issuer, target.jwks[issuer.name], target))
    if model.observability.tracing is not None and target.tracing is not None:
        clusters.append(_tracing_cluster(target.tracing))
    if target.health_port is not None:
        clusters.append(_admin_cluster(target))
    return clusters


# --- the whole bootstrap -----------------------------------------------------------------------------


def build_bootstrap(model: Model, target: Target) -> dict[str, Any]:
    listeners = [_listener(model, target)]
    if target.health_port is not None:
        listeners.append(_health_listener(target))
    return {
        "node": {"id": model.gateway.name, "cluster": model.gateway.name},
        "admin": {"address": _socket("127.0.0.1", target.admin_port)},
        "static_resources": {"listeners": listeners, "clusters": _clusters(model, target)},
        # Without a global connection limit Envoy warns at start-up and an edge proxy can be exhausted.
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": CONNECTIONS_TYPE,
                        "max_active_downstream_connections": MAX_DOWNSTREAM_CONNECTIONS,
                    },
                }
            ]
        },
    }


def sds_secret(tls: ListenerTls) -> dict[str, Any]:
    """The file-based SDS resource the listener's TLS reads: the mounted Kubernetes TLS secret's files."""
    return {
        "resources": [
            {
                "@type": SECRET_TYPE,
                "name": tls.secret_name,
                "tls_certificate": {
                    "certificate_chain": {"filename": f"{tls.cert_dir}/tls.crt"},
                    "private_key": {"filename": f"{tls.cert_dir}/tls.key"},
                    "watched_directory": {"path": tls.cert_dir},
                },
            }
        ]
    }
