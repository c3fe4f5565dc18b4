"""Helpers shared by the kustomize backend's modules: paths, kustomizations, waves, checkov skips."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mpc.lang import interpolate
from mpc.lang.interpolate import SELF, Addressable
from mpc.lang.model import MeshSettings, Service, ServiceContext
from mpc.render import k8s

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


@dataclass(frozen=True, slots=True)
class Port:
    """A port as Kubernetes objects name it: the Service port, the container's, the L4 protocol and the
    appProtocol Istio selects its protocol by."""

    name: str
    port: int
    target: int
    protocol: str  # TCP | UDP
    app_protocol: str


def service_ports(svc: Service) -> list[Port]:
    """Every port a service listens on: its declared ones, then the peer port."""
    if svc.port is None:
        return []
    ports = [
        Port(p.name, p.port, p.target_port, PROTOCOL_K8S[p.protocol], k8s.APP_PROTOCOLS[p.protocol])
        for p in svc.ports
    ]
    if svc.peer_port is not None:
        ports.append(Port("p2p", svc.peer_port, svc.peer_port, "TCP", "tcp"))
    return ports


def env_targets(context: ServiceContext, namespace: str) -> dict[str, Addressable]:
    """What `${...}` in the service's env can name, as addressed from `namespace`: itself, the services it
    calls, the external entries it calls."""
    svc = context.service
    targets = {
        SELF: Addressable(k8s.service_fqdn(svc.name, namespace), tuple((p.name, p.port) for p in svc.ports))
    }
    for peer in context.calls:
        ports = tuple((p.name, p.port) for p in peer.ports)
        targets[peer.name] = Addressable(k8s.service_fqdn(peer.name, namespace), ports)
    for name in svc.external:
        ext = context.mesh.external.get(name)
        if ext is not None:
            targets[name] = Addressable(ext.dial_host, ((ext.protocol, ext.port),))
    return targets


def env_data(context: ServiceContext, env: tuple[tuple[str, str], ...], namespace: str) -> dict[str, str]:
    """A service's (or version's) env, `${...}` resolved for one namespace, sorted by name."""
    targets = env_targets(context, namespace)
    return {k: interpolate.render(v, targets) for k, v in sorted(env)}


def base_namespace(context: ServiceContext) -> str:
    """The namespace a base's env values are written for: the service's first environment's (overlays of
    the other environments patch what differs)."""
    envs = context.service.environments
    return context.mesh.environments[envs[0]].namespace if envs else context.mesh.namespace


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
