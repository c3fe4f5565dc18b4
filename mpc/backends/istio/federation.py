"""Federation: an environment on two or more clusters is one multi-primary, multi-network Istio mesh.

This follows Istio's documented pattern (install "Multi-Primary on different networks"): every cluster
runs its own istiod, knows its cluster and network name, labels istio-system with its network, and
exposes its services to the other networks through an east-west gateway on 15443 in AUTO_PASSTHROUGH
mode, so mTLS stays end to end and a caller keeps its principal across clusters. All clusters share one
mesh ID and the trust domain `cluster.local`, which is why the authorization policies (written with
`cluster.local/ns/<ns>/sa/<sa>` principals) hold whichever cluster the caller runs in.

What needs cluster credentials or installs the control plane cannot be rendered into a GitOps tree: the
istiod and east-west gateway installation (written here as IstioOperator files to install once per
cluster) and the remote secrets (`istioctl create-remote-secret`), which the README describes.
"""

from __future__ import annotations

from typing import Any

from mpc.lang.model import Cluster
from mpc.render import k8s, yamlwriter

from .common import ISTIO_SYSTEM, NETWORKING, TRUST_DOMAIN, Generated, Scope
from .telemetry import mesh_config

NETWORK_LABEL = "topology.istio.io/network"
EASTWEST_LABELS = {"istio": "eastwestgateway", "app": "istio-eastwestgateway"}
EASTWEST_NAME = "istio-eastwestgateway"
CROSS_NETWORK_PORT = 15443


def network(cluster: str) -> str:
    return f"{cluster}-network"


def mesh_id(scope: Scope) -> str:
    return scope.model.name


def folder(scope: Scope, cluster: str) -> str:
    return f"{scope.folder}/{cluster}"


def network_namespace(scope: Scope, cluster: Cluster) -> Generated:
    """istio-system labelled with the cluster's network: istiod reads the default network of its pods here."""
    labels = dict(k8s.mesh_labels(scope.model))
    labels[NETWORK_LABEL] = network(cluster.name)
    meta = k8s.metadata(scope.model, ISTIO_SYSTEM, cluster.source, labels_=labels)
    return Generated(k8s.obj("v1", "Namespace", meta), cluster.source)


def eastwest_gateway(scope: Scope, cluster: Cluster) -> Generated:
    """Istio's `cross-network-gateway`: every `*.local` service, passed through by SNI, mTLS intact."""
    spec = {
        "selector": {"istio": EASTWEST_LABELS["istio"]},
        "servers": [
            {
                "port": {"number": CROSS_NETWORK_PORT, "name": "tls", "protocol": "TLS"},
                "tls": {"mode": "AUTO_PASSTHROUGH"},
                "hosts": ["*.local"],
            }
        ],
    }
    meta = scope.meta("cross-network-gateway", cluster.source, namespace=ISTIO_SYSTEM)
    return Generated(k8s.obj(NETWORKING, "Gateway", meta, spec=spec), cluster.source)


def _values(scope: Scope, cluster: Cluster) -> dict[str, Any]:
    return {
        "global": {
            "meshID": mesh_id(scope),
            "multiCluster": {"clusterName": cluster.name},
            "network": network(cluster.name),
        }
    }


def istiod_operator(scope: Scope, cluster: Cluster) -> str:
    config = {"trustDomain": TRUST_DOMAIN, **mesh_config(scope)}
    doc = {
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {"name": "istiod", "namespace": ISTIO_SYSTEM},
        "spec": {"meshConfig": config, "values": _values(scope, cluster)},
    }
    header = (
        f"# istiod for cluster {cluster.name} (environment {scope.env.name}): install once per cluster,\n"
        "# before the overlay is applied, with `istioctl install -f istiod.yaml` (or the same values\n"
        "# through the istiod Helm chart). Not part of the kustomization.\n"
    )
    return header + yamlwriter.dump(doc)


def eastwest_operator(scope: Scope, cluster: Cluster) -> str:
    """The east-west gateway deployment, as Istio's samples/multicluster/gen-eastwest-gateway.sh writes it."""
    net = network(cluster.name)
    doc = {
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "metadata": {"name": "eastwest", "namespace": ISTIO_SYSTEM},
        "spec": {
            "profile": "empty",
            "components": {
                "ingressGateways": [
                    {
                        "name": EASTWEST_NAME,
                        "label": {**EASTWEST_LABELS, NETWORK_LABEL: net},
                        "enabled": True,
                        "k8s": {
                            "env": [
                                # sni-dnat adds the clusters AUTO_PASSTHROUGH needs.
                                {"name": "ISTIO_META_ROUTER_MODE", "value": "sni-dnat"},
                                # Traffic through this gateway is routed inside its own network.
                                {"name": "ISTIO_META_REQUESTED_NETWORK_VIEW", "value": net},
                            ],
                            "service": {
                                "ports": [
                                    {"name": "status-port", "port": 15021, "targetPort": 15021},
                                    {
                                        "name": "tls",
                                        "port": CROSS_NETWORK_PORT,
                                        "targetPort": CROSS_NETWORK_PORT,
                                    },
                                    {"name": "tls-istiod", "port": 15012, "targetPort": 15012},
                                    {"name": "tls-webhook", "port": 15017, "targetPort": 15017},
                                ]
                            },
                        },
                    }
                ]
            },
            "values": _values(scope, cluster),
        },
    }
    header = (
        f"# The east-west gateway of cluster {cluster.name}: install once per cluster with\n"
        "# `istioctl install -f eastwest-gateway.yaml`; its load balancer must be reachable from the other\n"
        "# clusters of the environment. The Gateway resource in the kustomization exposes services on it.\n"
    )
    return header + yamlwriter.dump(doc)


def federation_objects(scope: Scope, cluster: Cluster) -> list[Generated]:
    return [network_namespace(scope, cluster), eastwest_gateway(scope, cluster)]


def install_files(scope: Scope, cluster: Cluster) -> dict[str, str]:
    """Relative to the cluster folder: what the platform installs once per cluster."""
    return {
        "install/istiod.yaml": istiod_operator(scope, cluster),
        "install/eastwest-gateway.yaml": eastwest_operator(scope, cluster),
    }
