"""Archetypes: presets that shape what a service compiles into.

The built-in ones are registered through the `mpc.archetypes` entry-point group, exactly as a
third-party archetype is. An archetype sets defaults (read by resolve) and may reshape the Kubernetes
objects the kustomize backend builds for a service (`shape`), e.g. turn a Deployment into a CronJob.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mpc.lang.model import ServiceContext


@dataclass(frozen=True)
class Archetype:
    name: str
    description: str
    workload: str = "Deployment"  # the main workload kind: Deployment or StatefulSet
    serves: bool = True  # has a port and a Service; a worker has neither
    stateful: bool = False  # StatefulSet with a volume claim of `storage`, headless Service
    gpu: bool = False  # GPU request and GPU node selection
    model_cache: bool = False  # an emptyDir model-cache volume
    default_timeout_ms: int | None = None
    protocols: frozenset[str] = frozenset({"http", "grpc", "tcp"})
    anti_affinity: bool = False  # spread replicas over nodes (required, not preferred)
    pdb_max_unavailable: int | None = None  # None: minAvailable 1 when replicas > 1
    peer_port: int | None = None  # a second, peer-to-peer port
    # Its members replicate with each other (a ledger's p2p network) without `clustering` saying so.
    replicates: bool = False
    route_rate_limit: tuple[int, int] | None = None  # (requests, per_ms) per route at the gateway
    # Extension point for plugins: JSON Schema of the service's `extensions.<name>` block, if any.
    extension_schema: dict[str, Any] | None = field(default=None, compare=False)

    def shape(self, context: ServiceContext, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Adjust the Kubernetes objects built for one service (`context.service`); read nothing but
        `context`, which holds everything the service's output may depend on. The built-ins need no change."""
        return objects


WEB = Archetype(
    name="web",
    description="Deployment, Service, HPA when autoscale is set, PodDisruptionBudget when replicas > 1",
)
WORKER = Archetype(
    name="worker",
    description="Deployment with no port and no Service",
    serves=False,
    protocols=frozenset(),
)
STATEFUL = Archetype(
    name="stateful",
    description="StatefulSet with a volume claim of `storage`, headless Service",
    workload="StatefulSet",
    stateful=True,
)
AI_INFERENCE = Archetype(
    name="ai-inference",
    description="web with a GPU request (resources.gpu), a 60s default timeout and a model-cache volume",
    gpu=True,
    model_cache=True,
    default_timeout_ms=60_000,
)
IOT_INGEST = Archetype(
    name="iot-ingest",
    description="web with TCP/UDP (MQTT) ports allowed and a generous per-route rate limit",
    protocols=frozenset({"http", "grpc", "tcp", "udp"}),
    route_rate_limit=(1000, 1000),
)
LEDGER_NODE = Archetype(
    name="ledger-node",
    description="stateful with a peer-to-peer port, required pod anti-affinity and a PDB of maxUnavailable 1",
    workload="StatefulSet",
    stateful=True,
    anti_affinity=True,
    pdb_max_unavailable=1,
    peer_port=26656,
    replicates=True,
)

BUILTIN: tuple[Archetype, ...] = (WEB, WORKER, STATEFUL, AI_INFERENCE, IOT_INGEST, LEDGER_NODE)
