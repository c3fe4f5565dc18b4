"""The istio backend: least-privilege policy derived from the dependency graph, federation across clusters.

Output, per environment (namespace = Environment.namespace):

    istio/<env>/kustomization.yaml         included by every overlay of the environment
    istio/<env>/namespace-policy.yaml      STRICT mTLS, allow-nothing
    istio/<env>/gateway.yaml               the master proxy's listener exception, its policy and Sidecar
    istio/<env>/services/<service>.yaml    AuthorizationPolicy, RequestAuthentication, VirtualService,
                                           DestinationRule, Sidecar of one service
    istio/<env>/external/<name>.yaml       a ServiceEntry
    istio/<env>/telemetry.yaml             Telemetry; mesh-config.yaml beside it is for istiod
    istio/<env>/<cluster>/...              federation objects of a cluster of a federated environment

Every object is analysed (mpc.backends.istio.analyze) before anything is rendered. A service's file is
a memo unit (mpc.build.memo): a rebuild analyses the files it renders again; the others were analysed, with
the same inputs, by the build that wrote them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from pathlib import Path

from mpc.build import memo
from mpc.errors import Diagnostic, MpcError
from mpc.graph.mesh import MeshGraph, node_id
from mpc.lang.model import Model, Service
from mpc.render.api import Artifact

from . import federation, security, telemetry, traffic
from .analyze import Inventory, analyze, check_objects
from .common import Generated, Links, Scope, kustomization
from .external import service_entries


class _Folder:
    """The files of one kustomization folder, collected in order."""

    def __init__(self, path: str, overlays: tuple[str, ...]) -> None:
        self.path = path
        self.overlays = overlays
        self.files: list[tuple[str, list[Generated], str | None]] = []
        self.texts: list[tuple[str, str]] = []
        self.units: list[Artifact] = []  # files of memo units, rendered and analysed on their own

    def add(self, name: str, objects: Sequence[Generated | None], node: str | None = None) -> None:
        kept = [g for g in objects if g is not None]
        if kept:
            self.files.append((name, kept, node))

    def objects(self) -> list[Generated]:
        return [g for _, objs, _ in self.files for g in objs]

    def artifacts(self) -> Iterator[Artifact]:
        for name, objs, node in self.files:
            yield Artifact(f"{self.path}/{name}", [g.obj for g in objs], node=node)
        yield from self.units
        for name, text in self.texts:
            yield Artifact(f"{self.path}/{name}", text)
        resources = [name for name, _, _ in self.files]
        resources += [art.path[len(self.path) + 1 :] for art in self.units]
        yield Artifact(f"{self.path}/kustomization.yaml", kustomization(resources), overlays=self.overlays)


def service_objects(scope: Scope, svc: Service) -> list[Generated]:
    """The objects of one service's policy file."""
    made = (
        security.service_policy(scope, svc),
        *security.request_authentications(scope, svc),
        traffic.virtual_service(scope, svc),
        traffic.destination_rule(scope, svc),
        traffic.service_sidecar(scope, svc),
    )
    return [g for g in made if g is not None]


def service_file(
    scope: Scope, inventory: Inventory, svc: Service, findings: list[Diagnostic]
) -> list[Artifact]:
    """One service's policy file, its objects analysed (findings are collected, not raised)."""
    objects = service_objects(scope, svc)
    findings.extend(check_objects(objects, inventory))
    if not objects:
        return []
    return [Artifact(f"{scope.folder}/services/{svc.name}.yaml", [g.obj for g in objects])]


def environment_folder(scope: Scope, findings: list[Diagnostic] | None = None) -> _Folder:
    """The environment's folder; the findings of its services' files are added to `findings`."""
    findings = [] if findings is None else findings
    model = scope.model
    overlays = tuple(o.path for o in model.overlays_of(scope.env.name))
    folder = _Folder(scope.folder, overlays)
    folder.add(
        "namespace-policy.yaml", [*security.peer_authentications(scope)[:1], security.allow_nothing(scope)]
    )
    gw = model.gateway
    folder.add(
        "gateway.yaml",
        [
            security.peer_authentications(scope)[1],
            security.gateway_policy(scope),
            traffic.gateway_sidecar(scope),
        ],
        node_id("gateway", gw.name),
    )
    entries = service_entries(scope)
    inventory = Inventory.of(scope, entries)
    for svc in scope.services:
        make = partial(service_file, scope, inventory, svc, findings)
        folder.units.extend(memo.files("istio/service", svc.name, make, scope=scope.env.name, wave=False))
    for entry in entries:
        kind = "external" if entry.name in model.external else "issuer"
        folder.add(f"external/{entry.name}.yaml", [entry], node_id(kind, entry.name.removeprefix("jwks-")))
    folder.add("telemetry.yaml", [telemetry.telemetry(scope)])
    folder.texts.append(("mesh-config.yaml", telemetry.mesh_config_file(scope)))
    return folder


def cluster_folders(scope: Scope) -> list[_Folder]:
    if not scope.env.federated:
        return []
    out = []
    for name in scope.env.clusters:
        cluster = scope.model.clusters.get(name)
        if cluster is None:
            continue
        overlays = tuple(o.path for o in scope.model.overlays_of(scope.env.name) if o.cluster == name)
        folder = _Folder(federation.folder(scope, name), overlays)
        objs = federation.federation_objects(scope, cluster)
        folder.add("network.yaml", objs[:1], node_id("cluster", name))
        folder.add("eastwest-gateway.yaml", objs[1:], node_id("cluster", name))
        folder.texts.extend(sorted(federation.install_files(scope, cluster).items()))
        out.append(folder)
    return out


class IstioBackend:
    name = "istio"

    def render(self, model: Model, graph: MeshGraph) -> Iterable[Artifact]:
        artifacts: list[Artifact] = []
        findings: list[Diagnostic] = []
        links = Links.of(model, graph)
        for env in model.environments.values():
            scope = Scope.of(model, graph, env, links)
            folders = [environment_folder(scope, findings), *cluster_folders(scope)]
            findings.extend(analyze(scope, [g for f in folders for g in f.objects()]))
            for folder in folders:
                artifacts.extend(folder.artifacts())
        if findings:
            raise MpcError(findings)
        return artifacts

    def validate(self, root: Path, artifacts: Sequence[Artifact]) -> list[Diagnostic]:
        from .validate import validate_artifacts

        return validate_artifacts(artifacts)


backend = IstioBackend()
