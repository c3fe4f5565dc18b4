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

Every object is analysed (mpc.backends.istio.analyze) before anything is written: a service's own file
when it is rendered (render_service), the mesh-wide files together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from mpc.errors import Diagnostic, MpcError
from mpc.graph.mesh import MeshGraph, node_id
from mpc.lang.model import Model, ServiceContext
from mpc.render.api import Artifact, Listing, Output, Validator
from mpc.render.k8s import kustomization

from . import federation, security, telemetry, traffic
from .analyze import Inventory, analyze, check_objects
from .common import Generated, Scope, ServiceScope
from .external import entry_hosts, service_entries


class _Folder:
    """The files of one kustomization folder, collected in order."""

    def __init__(self, path: str, overlays: tuple[str, ...]) -> None:
        self.path = path
        self.overlays = overlays
        self.files: list[tuple[str, list[Generated], str | None]] = []
        self.texts: list[tuple[str, str]] = []

    def add(self, name: str, objects: Sequence[Generated | None], node: str | None = None) -> None:
        kept = [g for g in objects if g is not None]
        if kept:
            self.files.append((name, kept, node))

    def objects(self) -> list[Generated]:
        return [g for _, objs, _ in self.files for g in objs]

    def artifacts(self) -> Iterator[Artifact]:
        for name, objs, node in self.files:
            yield Artifact(f"{self.path}/{name}", [g.obj for g in objs], node=node)
        for name, text in self.texts:
            yield Artifact(f"{self.path}/{name}", text)
        resources = sorted(name for name, _, _ in self.files)
        listed = tuple(Listing(overlay) for overlay in self.overlays)
        yield Artifact(f"{self.path}/kustomization.yaml", kustomization(resources), listed)


def service_objects(scope: ServiceScope) -> list[Generated]:
    """The objects of one service's policy file in one environment."""
    made = (
        security.service_policy(scope),
        *security.request_authentications(scope),
        traffic.virtual_service(scope),
        traffic.destination_rule(scope),
        traffic.service_sidecar(scope),
    )
    return [g for g in made if g is not None]


def service_files(context: ServiceContext) -> list[Artifact]:
    """The service's policy file in each environment it runs in, its objects analysed."""
    out = []
    findings: list[Diagnostic] = []
    for name in context.service.environments:
        scope = ServiceScope(context.mesh, context.mesh.environments[name], context)
        objects = service_objects(scope)
        findings.extend(check_objects(objects, Inventory.for_service(scope, entry_hosts(scope))))
        if objects:
            path = f"{scope.folder}/services/{context.service.name}.yaml"
            out.append(Artifact(path, [g.obj for g in objects], (Listing(scope.folder),)))
    if findings:
        raise MpcError(findings)
    return out


def environment_folder(scope: Scope) -> _Folder:
    """The environment's folder, but for the services' own files (service_files)."""
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
    for entry in service_entries(scope):
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

    def render(self, model: Model, graph: MeshGraph) -> Iterable[Output]:
        artifacts: list[Artifact] = []
        findings: list[Diagnostic] = []
        for env in model.environments.values():
            scope = Scope(model, graph, env)
            folders = [environment_folder(scope), *cluster_folders(scope)]
            findings.extend(analyze(scope, [g for f in folders for g in f.objects()]))
            for folder in folders:
                artifacts.extend(folder.artifacts())
        if findings:
            raise MpcError(findings)
        return artifacts

    def render_service(self, context: ServiceContext) -> Iterable[Output]:
        return service_files(context)

    def validators(self) -> list[Validator]:
        from .validate import available

        return [Validator("cloudcoil Istio models (extra=forbid)", available())]

    def validate(self, root: Path, artifacts: Sequence[Artifact]) -> list[Diagnostic]:
        from .validate import validate_artifacts

        return validate_artifacts(artifacts)


backend = IstioBackend()
