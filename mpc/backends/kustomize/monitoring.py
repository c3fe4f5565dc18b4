"""PodMonitors and SLO alerting rules (prometheus-operator objects) for one environment.

Prometheus scrapes each workload's Istio sidecar (`http-envoy-prom`, port 15090, /stats/prometheus), the
way Istio documents it for the Prometheus operator: under STRICT mTLS a scrape of the application's own
port from outside the mesh is refused, while the sidecar's stats port is served in plain text. Those
stats carry the standard metrics the SLO rules below are written over.

SLIs come from Istio's standard metrics, reported by the destination's sidecar, so every service is
measured the same way without instrumenting it:
  availability: the ratio of 5xx responses in istio_requests_total;
  latency:      the 99th percentile of istio_request_duration_milliseconds_bucket.
Availability alerts are the multi-window, multi-burn-rate alerts of the Google SRE workbook (chapter
"Alerting on SLOs"): a page when 2% of a 30-day budget burns in an hour (14.4x, over 1h and 5m) or 5%
in six hours (6x, over 6h and 30m); a ticket for 10% in three days (1x over 3d and 6h) or 3x over 1d
and 2h. The short window makes an alert stop soon after the burning stops.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mpc.lang.model import Environment, MeshSettings, Service, ServiceContext, Slo
from mpc.render import k8s

from .common import component, scraped, wave

API = "monitoring.coreos.com/v1"
METRICS_PATH = "/stats/prometheus"
SIDECAR_STATS_PORT_NAME = "http-envoy-prom"  # the container port Istio's injector declares (15090)
SIDECAR_STATS_PORT = 15090
# With a port marked `scrape`, the pod carries prometheus.io annotations and Istio's agent merges the
# application's metrics with Envoy's on its own port: one endpoint, still plain text under STRICT mTLS.
MERGED_STATS_PORT = 15020
APP_METRICS_PATH = "/metrics"
SCRAPE_INTERVAL = "30s"
WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
ERROR_RATIO = "slo:sli_error:ratio_rate"
# (severity, for, ((burn rate, long window, short window), ...))
BURN_ALERTS: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    ("page", "2m", (("14.4", "1h", "5m"), ("6", "6h", "30m"))),
    ("ticket", "15m", (("3", "1d", "2h"), ("1", "3d", "6h"))),
)


def _meta(
    model: MeshSettings, svc: Service, name: str, wave_no: int, source: Slo | None = None
) -> dict[str, Any]:
    return k8s.metadata(
        model,
        name,
        source.source if source is not None else svc.source,
        labels_=k8s.labels(model, svc.name, component(svc)),
        annotations_=wave(wave_no),
    )


def scrape_ports(svc: Service) -> list[int]:
    return [p.target_port for p in svc.ports if p.scrape]


def scrape_port(svc: Service) -> int:
    """The sidecar port Prometheus scrapes: the merged one when the application has metrics of its own."""
    return MERGED_STATS_PORT if scrape_ports(svc) else SIDECAR_STATS_PORT


def scrape_annotations(svc: Service) -> dict[str, str]:
    """Istio's metrics merging reads these from the pod (the first port marked scrape)."""
    ports = scrape_ports(svc)
    if not ports:
        return {}
    return {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(ports[0]),
        "prometheus.io/path": APP_METRICS_PATH,
    }


def pod_monitor(model: MeshSettings, svc: Service, wave_no: int) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"port": SIDECAR_STATS_PORT_NAME}
    if scrape_ports(svc):
        endpoint = {"portNumber": MERGED_STATS_PORT}
    spec = {
        "selector": {"matchLabels": k8s.selector(svc.name)},
        "podMetricsEndpoints": [{**endpoint, "path": METRICS_PATH, "interval": SCRAPE_INTERVAL}],
    }
    return k8s.obj(API, "PodMonitor", _meta(model, svc, svc.name, wave_no), spec=spec)


def _selector(svc: str, namespace: str, extra: str = "") -> str:
    return (
        f'{{reporter="destination",destination_service_name="{svc}",'
        f'destination_service_namespace="{namespace}"{extra}}}'
    )


def error_ratio(svc: str, namespace: str, window: str) -> str:
    errors = _selector(svc, namespace, ',response_code=~"5.."')
    total = _selector(svc, namespace)
    return (
        f"sum(rate(istio_requests_total{errors}[{window}]))\n"
        f"/\n"
        f"sum(rate(istio_requests_total{total}[{window}]))"
    )


def error_budget(availability: float) -> str:
    """The allowed error ratio, exactly: 99.9 -> 0.001 (Decimal, so 99.95 is 0.0005 and not 0.000499...)."""
    budget = (Decimal(100) - Decimal(str(availability))) / Decimal(100)
    return format(budget.normalize(), "f")


def availability_rules(svc: str, namespace: str, availability: float) -> list[dict[str, Any]]:
    labels = {"destination_service_name": svc, "destination_service_namespace": namespace}
    match = f'{{destination_service_name="{svc}",destination_service_namespace="{namespace}"}}'
    budget = error_budget(availability)
    rules: list[dict[str, Any]] = [
        {"record": f"{ERROR_RATIO}{w}", "expr": error_ratio(svc, namespace, w), "labels": labels}
        for w in WINDOWS
    ]
    for severity, hold, pairs in BURN_ALERTS:
        clauses = [
            f"({ERROR_RATIO}{long}{match} > ({rate} * {budget})\n"
            f" and\n"
            f" {ERROR_RATIO}{short}{match} > ({rate} * {budget}))"
            for rate, long, short in pairs
        ]
        rules.append(
            {
                "alert": "SLOErrorBudgetBurn",
                "expr": "\nor\n".join(clauses),
                "for": hold,
                "labels": {"severity": severity, "service": svc, "namespace": namespace},
                "annotations": {
                    "summary": f"{svc} is burning its {availability}% availability error budget too fast",
                    "description": (
                        f"The 5xx ratio of {svc} in {namespace} exceeds the "
                        f"{'page' if severity == 'page' else 'ticket'} burn-rate thresholds."
                    ),
                },
            }
        )
    return rules


def latency_rule(svc: str, namespace: str, p99_ms: int) -> dict[str, Any]:
    buckets = _selector(svc, namespace)
    return {
        "alert": "SLOLatencyP99",
        "expr": (
            "histogram_quantile(0.99,\n"
            f"  sum by (le) (rate(istio_request_duration_milliseconds_bucket{buckets}[5m]))\n"
            f") > {p99_ms}"
        ),
        "for": "10m",
        "labels": {"severity": "ticket", "service": svc, "namespace": namespace},
        "annotations": {
            "summary": f"{svc} p99 latency is above {p99_ms}ms",
            "description": f"The p99 duration of requests to {svc} in {namespace} exceeds {p99_ms}ms.",
        },
    }


def prometheus_rule(
    model: MeshSettings, svc: Service, slo: Slo, env: Environment, wave_no: int
) -> dict[str, Any]:
    groups: list[dict[str, Any]] = []
    if slo.availability is not None:
        groups.append(
            {
                "name": f"{svc.name}-availability",
                "rules": availability_rules(svc.name, env.namespace, slo.availability),
            }
        )
    if slo.latency_p99_ms is not None:
        groups.append(
            {
                "name": f"{svc.name}-latency",
                "rules": [latency_rule(svc.name, env.namespace, slo.latency_p99_ms)],
            }
        )
    return k8s.obj(
        API, "PrometheusRule", _meta(model, svc, f"{svc.name}-slo", wave_no, slo), spec={"groups": groups}
    )


def service_documents(context: ServiceContext, env: Environment) -> list[dict[str, Any]]:
    """The service's PodMonitor (metrics: prometheus, and the sidecar serves traffic) and SLO rules."""
    model = context.mesh
    svc = context.service
    out: list[dict[str, Any]] = []
    if model.observability.metrics == "prometheus" and scraped(model, svc):
        out.append(pod_monitor(model, svc, context.wave))
    out.extend(
        prometheus_rule(model, svc, slo, env, context.wave)
        for slo in model.observability.slos
        if slo.service == svc.name and (slo.availability is not None or slo.latency_p99_ms is not None)
    )
    return out
