"""Tracing and metrics: a namespace Telemetry resource, and the mesh-config snippet defining its providers.

A Telemetry resource names providers; the providers themselves (where the collector is, which protocol)
live in istiod's mesh config, which no namespaced object can set. The snippet is therefore written as a
file for the platform's Istio installation, beside the Telemetry that refers to it.
"""

from __future__ import annotations

from typing import Any

from mpc.graph.reserved import TELEMETRY_DEFAULT
from mpc.render import yamlwriter

from .common import TELEMETRY, Generated, InEnvironment

ZIPKIN_PORT = 9411  # Jaeger's and Zipkin's Zipkin-protocol port; anything else is spoken to as OTLP/gRPC


def _collector(scope: InEnvironment) -> tuple[str, str | None, int] | None:
    """(fully qualified host, its namespace when it is a cluster service, port) of the trace collector."""
    tracing = scope.model.observability.tracing
    if tracing is None:
        return None
    host = tracing.host
    labels = host.split(".")
    if host.endswith(".svc.cluster.local"):
        return host, labels[1], tracing.port
    if len(labels) == 1:
        return f"{host}.{scope.namespace}.svc.cluster.local", scope.namespace, tracing.port
    if len(labels) == 2:  # "<service>.<namespace>", the usual in-cluster short form
        return f"{host}.svc.cluster.local", labels[1], tracing.port
    return host, None, tracing.port


def collector_egress_host(scope: InEnvironment) -> str | None:
    """The Sidecar egress entry that lets a proxy reach the trace collector."""
    found = _collector(scope)
    if found is None:
        return None
    host, namespace, _ = found
    if namespace == scope.namespace:
        return f"./{host}"
    return f"{namespace}/{host}" if namespace is not None else f"*/{host}"


def extension_providers(scope: InEnvironment) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    tracing = scope.model.observability.tracing
    found = _collector(scope)
    if tracing is not None and found is not None:
        host, _, port = found
        kind = "zipkin" if port == ZIPKIN_PORT else "opentelemetry"
        out.append({"name": tracing.provider, kind: {"service": host, "port": port}})
    if scope.model.observability.metrics is not None:
        out.append({"name": scope.model.observability.metrics, "prometheus": {}})
    return out


def mesh_config(scope: InEnvironment) -> dict[str, Any]:
    """The meshConfig every cluster of this environment needs: REGISTRY_ONLY and the telemetry providers."""
    config: dict[str, Any] = {"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}
    providers = extension_providers(scope)
    if providers:
        config["extensionProviders"] = providers
    return config


def mesh_config_file(scope: InEnvironment) -> str:
    header = (
        "# Istio mesh configuration for the clusters of this environment. Not a Kubernetes object and not\n"
        "# part of the kustomization: merge it into istiod's configuration, i.e. `spec.meshConfig` of the\n"
        "# IstioOperator (istioctl install -f) or `meshConfig` of the istiod Helm chart's values.\n"
        "# The Telemetry resource beside it names these providers.\n"
    )
    return header + yamlwriter.dump({"meshConfig": mesh_config(scope)})


def telemetry(scope: InEnvironment) -> Generated | None:
    obs = scope.model.observability
    spec: dict[str, Any] = {}
    if obs.tracing is not None:
        spec["tracing"] = [
            {"providers": [{"name": obs.tracing.provider}], "randomSamplingPercentage": obs.tracing.sampling}
        ]
    if obs.metrics is not None:
        spec["metrics"] = [{"providers": [{"name": obs.metrics}]}]
    if not spec:
        return None
    return scope.obj(TELEMETRY, "Telemetry", TELEMETRY_DEFAULT, scope.env.source, spec)
