"""The master proxy in a cluster: its Target (addresses, mounted paths) and its Kubernetes objects.

Both live here because they must agree: the paths the bootstrap reads are the paths the Deployment
mounts, and the ports the bootstrap listens on are the ports the Service, the probes and the
NetworkPolicy name.
"""

from __future__ import annotations

import hashlib
from typing import Any

from mpc.lang.hosts import place
from mpc.lang.model import Environment, Model, Service
from mpc.render import k8s

from .bootstrap import (
    Jwks,
    ListenerTls,
    Target,
    Upstream,
    required_issuers,
    routed_services,
)

ENVOY_VERSION = "1.40.0"
ENVOY_IMAGE = f"envoyproxy/envoy:v{ENVOY_VERSION}"
LISTEN_ADDRESS = "0.0.0.0"
ADMIN_PORT = 9901
HEALTH_PORT = 9902
CONFIG_DIR = "/etc/envoy/config"  # the ConfigMap: bootstrap.yaml, sds-tls.yaml
TLS_DIR = "/etc/envoy/tls"  # the Kubernetes TLS secret: tls.crt, tls.key
BOOTSTRAP_KEY = "bootstrap.yaml"
SDS_KEY = "sds-tls.yaml"
CA_FILE = "/etc/ssl/certs/ca-certificates.crt"  # present in the official Envoy image
RUN_AS = 10101  # checkov (CKV_K8S_40) wants a UID >= 10000, clear of any host user
# Istio's sidecar: pilot-agent (rewritten probes, merged metrics) and its Envoy's own stats.
SIDECAR_PORTS = (15020, 15090)
ISTIOD_XDS_PORT = 15012
CHECKOV_SKIPS = {
    "checkov.io/skip1": (
        "CKV_K8S_43=pinned to the exact Envoy release tag the bootstrap is validated against; "
        "pin its digest with a kustomize images entry where registry policy asks for digests"
    )
}


def _route_port(svc: Service) -> int:
    """The Service port the proxy dials: the service's first HTTP or gRPC port."""
    port = svc.route_port
    assert port is not None, "a routed service has an HTTP or gRPC port (E305)"
    return port.port


def cluster_target(model: Model, env: Environment) -> Target:
    tracing = model.observability.tracing
    return Target(
        name=env.name,
        listen_address=LISTEN_ADDRESS,
        port=model.gateway.listen_port,
        admin_port=ADMIN_PORT,
        health_port=HEALTH_PORT,
        upstreams={
            svc.name: Upstream(k8s.service_fqdn(svc.name, env.namespace), _route_port(svc), svc.health_port)
            for svc in routed_services(model)
            if env.name in svc.environments
        },
        jwks={i.name: Jwks.from_uri(i.jwks_uri) for i in required_issuers(model)},
        # The collector's endpoint may use Kubernetes' short form (`jaeger.observability`): dialled in full.
        tracing=Upstream(place(tracing.host, short_form=True).dial(env.namespace), tracing.port)
        if tracing
        else None,
        tls=ListenerTls(model.gateway.tls_secret, f"{CONFIG_DIR}/{SDS_KEY}", CONFIG_DIR, TLS_DIR)
        if model.gateway.tls_secret
        else None,
        ca_file=CA_FILE,
    )


# --- objects -----------------------------------------------------------------------------------------


def _meta(model: Model, namespace: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    gw = model.gateway
    labels = k8s.labels(model, gw.name, k8s.GATEWAY_COMPONENT, f"v{ENVOY_VERSION}")
    return k8s.metadata(model, gw.name, gw.source, labels_=labels, namespace=namespace, annotations_=extra)


def config_map(model: Model, namespace: str, files: dict[str, str]) -> dict[str, Any]:
    return k8s.obj("v1", "ConfigMap", _meta(model, namespace), data=dict(sorted(files.items())))


def config_hash(files: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for key, text in sorted(files.items()):
        digest.update(key.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def service_account(model: Model, namespace: str) -> dict[str, Any]:
    return k8s.obj("v1", "ServiceAccount", _meta(model, namespace), automountServiceAccountToken=False)


def _port_name(model: Model) -> str:
    return "https" if model.gateway.tls_secret else "http"


def _probe(path: str) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "health"},
        "periodSeconds": 5,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }


def deployment(model: Model, env: Environment, files: dict[str, str]) -> dict[str, Any]:
    gw = model.gateway
    pod_labels = k8s.labels(model, gw.name, k8s.GATEWAY_COMPONENT, f"v{ENVOY_VERSION}")
    pod_labels["sidecar.istio.io/inject"] = "true"  # its calls to the services are mTLS through the mesh
    pod_annotations = {
        k8s.CONFIG_HASH_ANNOTATION: config_hash(files),  # a new bootstrap rolls the pods
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(HEALTH_PORT),
        "prometheus.io/path": "/stats/prometheus",
    }
    mounts = [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}]
    volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": gw.name}}]
    if gw.tls_secret:
        mounts.append({"name": "tls", "mountPath": TLS_DIR, "readOnly": True})
        volumes.append({"name": "tls", "secret": {"secretName": gw.tls_secret}})
    container = {
        "name": "envoy",
        "image": ENVOY_IMAGE,
        "imagePullPolicy": "Always",
        "command": ["envoy"],
        "args": [
            "--config-path",
            f"{CONFIG_DIR}/{BOOTSTRAP_KEY}",
            "--disable-hot-restart",  # one Envoy per pod; no shared memory on a read-only root
            "--log-level",
            "info",
        ],
        "ports": [
            {"name": _port_name(model), "containerPort": gw.listen_port, "protocol": "TCP"},
            {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": _probe("/ready"),
        "livenessProbe": {**_probe("/live"), "initialDelaySeconds": 5, "periodSeconds": 10},
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": k8s.container_security_context(RUN_AS),
        "volumeMounts": mounts,
    }
    pod_spec: dict[str, Any] = {
        "serviceAccountName": gw.name,
        "automountServiceAccountToken": False,
        "securityContext": k8s.pod_security_context(RUN_AS, [gw.listen_port]),
        "containers": [container],
        "volumes": volumes,
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": k8s.selector(gw.name)},
            }
        ],
    }
    return k8s.obj(
        "apps/v1",
        "Deployment",
        _meta(model, env.namespace, CHECKOV_SKIPS),
        spec={
            "replicas": 2,
            "selector": {"matchLabels": k8s.selector(gw.name)},
            # Never below the current capacity while a new bootstrap rolls out.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": pod_annotations},
                "spec": pod_spec,
            },
        },
    )


def service(model: Model, namespace: str) -> dict[str, Any]:
    gw = model.gateway
    name = _port_name(model)
    return k8s.obj(
        "v1",
        "Service",
        _meta(model, namespace),
        spec={
            # The one entry point from outside; Local keeps the client address for use_remote_address.
            "type": "LoadBalancer",
            "externalTrafficPolicy": "Local",
            "selector": k8s.selector(gw.name),
            "ports": [
                {"name": name, "port": gw.port, "targetPort": name, "protocol": "TCP", "appProtocol": name}
            ],
        },
    )


def pod_disruption_budget(model: Model, namespace: str) -> dict[str, Any]:
    return k8s.obj(
        "policy/v1",
        "PodDisruptionBudget",
        _meta(model, namespace),
        spec={"minAvailable": 1, "selector": {"matchLabels": k8s.selector(model.gateway.name)}},
    )


def _tcp(*ports: int) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": p} for p in sorted(set(ports))]


def network_policy(model: Model, env: Environment) -> dict[str, Any]:
    gw = model.gateway
    target = cluster_target(model, env)
    egress: list[dict[str, Any]] = []
    for svc in routed_services(model):
        route_port = svc.route_port
        if svc.name not in target.upstreams or route_port is None:
            continue
        # A NetworkPolicy sees the pod's ports (after the Service): the target ports.
        ports = [route_port.target_port] + ([svc.probe.port] if svc.probe is not None else [])
        egress.append(
            {"to": [{"podSelector": {"matchLabels": k8s.selector(svc.name)}}], "ports": _tcp(*ports)}
        )
    # Where the bootstrap fetches keys and sends traces, read by the same classifier that chose the
    # addresses the bootstrap dials (a JWKS URL's host as written, the collector in Kubernetes' short form).
    for issuer in required_issuers(model):
        jwks = target.jwks[issuer.name]
        to = k8s.egress_peer(place(jwks.host, short_form=False), env.namespace)
        egress.append({"to": [to], "ports": _tcp(jwks.port)})
    if target.tracing is not None:
        to = k8s.egress_peer(place(target.tracing.host, short_form=True), env.namespace)
        egress.append({"to": [to], "ports": _tcp(target.tracing.port)})
    egress.append(
        {
            "to": [
                {
                    **k8s.namespace_selector("kube-system"),
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    )
    # The sidecar fetches its configuration and certificates from istiod.
    egress.append(
        {
            "to": [
                {
                    **k8s.namespace_selector(k8s.ISTIO_SYSTEM),
                    "podSelector": {"matchLabels": {"app": "istiod"}},
                }
            ],
            "ports": _tcp(ISTIOD_XDS_PORT),
        }
    )
    return k8s.obj(
        "networking.k8s.io/v1",
        "NetworkPolicy",
        _meta(model, env.namespace),
        spec={
            "podSelector": {"matchLabels": k8s.selector(gw.name)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"ports": _tcp(gw.listen_port)},  # the entry point: from anywhere
                {"ports": _tcp(HEALTH_PORT, *SIDECAR_PORTS)},  # probes and metrics scrapes
            ],
            "egress": egress,
        },
    )
