"""Per-service contexts: what each service's own files may depend on, read off the model and its graph."""

from __future__ import annotations

from mpc.graph.mesh import MeshGraph, split_id
from mpc.lang.model import Model, Peer, Route, Service, ServiceContext


def peer(svc: Service) -> Peer:
    return Peer(
        name=svc.name,
        port=svc.port if svc.has_service_object else None,
        protocol=svc.protocol,
        headless=svc.headless,
        environments=svc.environments,
    )


def service_contexts(model: Model, graph: MeshGraph) -> dict[str, ServiceContext]:
    """Every service's context, by name. The call edges are read once for all services."""
    calls: dict[str, set[str]] = {}
    callers: dict[str, set[str]] = {}
    for u, v, data in graph.edge_list():
        if data["kind"] != "calls":
            continue
        kind, callee = split_id(v)
        if kind == "service":
            caller = split_id(u)[1]
            calls.setdefault(caller, set()).add(callee)
            callers.setdefault(callee, set()).add(caller)
    routes: dict[str, list[Route]] = {}
    for route in model.gateway.routes:
        routes.setdefault(route.service, []).append(route)
    waves = graph.wave_of()
    peers = {name: peer(svc) for name, svc in model.services.items()}
    return {
        name: ServiceContext(
            mesh=model,
            service=svc,
            wave=waves.get(name, 0),
            calls=tuple(peers[n] for n in sorted(calls.get(name, ()))),
            callers=tuple(peers[n] for n in sorted(callers.get(name, ()))),
            routes=tuple(routes.get(name, ())),
        )
        for name, svc in model.services.items()
    }
