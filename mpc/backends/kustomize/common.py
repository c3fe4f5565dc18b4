"""Helpers shared by the kustomize backend's modules: paths, kustomizations, waves, checkov skips."""

from __future__ import annotations

from collections.abc import Mapping

from mpc.lang.model import MeshSettings, Service

ROOT = "kustomize"
BASE = f"{ROOT}/base"
CRDS = f"{ROOT}/crds"
APP = "app"  # the sub-kustomization of an overlay that sets the namespace

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
# Objects everything else needs come first: the Namespace and CRDs, then policies, then CR instances.
WAVE_FOUNDATION = -3
WAVE_POLICY = -2
WAVE_INSTANCES = -1

# The UID/GID every service runs as: non-root and above 10000, so it never maps onto a host user.
RUN_AS = 10001

PROTOCOL_K8S = {"http": "TCP", "grpc": "TCP", "tcp": "TCP", "udp": "UDP"}


def base_dir(service: str) -> str:
    return f"{BASE}/{service}"


def wave(value: int) -> dict[str, str]:
    """Argo CD applies lower waves first and waits for them to be healthy."""
    return {SYNC_WAVE: str(value)}


def checkov_skips(skips: Mapping[str, str]) -> dict[str, str]:
    """`checkov.io/skipN: CHECK=reason` annotations, one per check, in check order.

    checkov splits the value on '=', so a reason must not contain one.
    """
    out: dict[str, str] = {}
    for i, (check, reason) in enumerate(sorted(skips.items()), start=1):
        assert "=" not in reason, reason
        out[f"checkov.io/skip{i}"] = f"{check}={reason}"
    return out


def service_ports(svc: Service) -> list[tuple[str, int, str]]:
    """(name, port, protocol) of every port a service listens on: its own, then the peer port."""
    if svc.port is None:
        return []
    ports: list[tuple[str, int, str]] = [(svc.protocol, svc.port, PROTOCOL_K8S[svc.protocol])]
    if svc.peer_port is not None:
        ports.append(("p2p", svc.peer_port, "TCP"))
    return ports


def effective_replicas(svc: Service, replicas: int) -> int:
    """The least number of pods that run: the HPA's floor when autoscaled, else the replica count."""
    return svc.autoscale.min if svc.autoscale is not None else replicas


def wants_pdb(svc: Service, replicas: int) -> bool:
    return effective_replicas(svc, replicas) > 1


def component(svc: Service) -> str:
    return svc.archetype.name


def scraped(model: MeshSettings, svc: Service) -> bool:
    """A service whose sidecar Prometheus scrapes: metrics are on and the service receives traffic."""
    return model.observability.metrics is not None and svc.has_service_object
