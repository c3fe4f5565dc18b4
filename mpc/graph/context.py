"""Per-service contexts: what each service's own files may depend on, read off the model and its graph."""

from __future__ import annotations

import dataclasses

from mpc.graph.mesh import MeshGraph, edge_narrowing, split_id
from mpc.lang.model import WHOLE_CALL, Model, Narrowing, Peer, Route, Service, ServiceContext


def peer(svc: Service, narrowing: Narrowing = WHOLE_CALL) -> Peer:
    serves = svc.has_service_object
    return Peer(
        name=svc.name,
        port=svc.port if serves else None,
        protocol=svc.protocol,
        headless=svc.headless,
        environments=svc.environments,
        ports=svc.ports if serves else (),
        narrowing=narrowing,
    )


def service_contexts(model: Model, graph: MeshGraph) -> dict[str, ServiceContext]:
    """Every service's context, by name. The call edges are read once for all services.

    A peer in `calls` carries what this service may send it; a peer in `callers` what it may send this
    service (the narrowing of the caller's dependsOn entry)."""
    calls: dict[str, dict[str, Narrowing]] = {}
    callers: dict[str, dict[str, Narrowing]] = {}
    for u, v, data in graph.edge_list():
        if data["kind"] != "calls":
            continue
        kind, callee = split_id(v)
        if kind == "service":
            caller = split_id(u)[1]
            narrowing = edge_narrowing(data)
            calls.setdefault(caller, {})[callee] = narrowing
            callers.setdefault(callee, {})[caller] = narrowing
    routes: dict[str, list[Route]] = {}
    for route in model.gateway.routes:
        routes.setdefault(route.service, []).append(route)
    waves = graph.wave_of()
    peers = {name: peer(svc) for name, svc in model.services.items()}

    def with_call(name: str, narrowing: Narrowing) -> Peer:
        found = peers[name]
        return found if narrowing == WHOLE_CALL else dataclasses.replace(found, narrowing=narrowing)

    return {
        name: ServiceContext(
            mesh=model,
            service=svc,
            wave=waves.get(name, 0),
            calls=tuple(with_call(n, c) for n, c in sorted(calls.get(name, {}).items())),
            callers=tuple(with_call(n, c) for n, c in sorted(callers.get(name, {}).items())),
            routes=tuple(routes.get(name, ())),
        )
        for name, svc in model.services.items()
    }
