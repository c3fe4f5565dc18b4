"""The kustomize backend: a base per service, overlays per environment and cluster, CRDs, policies.

Output (under `kustomize/`):
  base/<service>/        the service's objects, shaped by its archetype, one file per object
  crds/                  CustomResourceDefinitions (and cluster-scoped instances), when declared
  overlays/<env>/<cluster>/kustomization.yaml   the cluster's whole desired state (no namespace transformer)
  overlays/<env>/<cluster>/app/                 the environment's namespace, bases, policies, monitoring
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from mpc.errors import Diagnostic
from mpc.graph.mesh import MeshGraph
from mpc.lang.model import Model, ServiceContext
from mpc.render.api import Artifact, Output, Validator

from . import crds, overlays, workloads


class KustomizeBackend:
    name = "kustomize"

    def render(self, model: Model, graph: MeshGraph) -> Iterable[Output]:
        yield from crds.artifacts(model)
        yield from overlays.artifacts(model, graph)

    def render_service(self, context: ServiceContext) -> Iterable[Output]:
        svc = context.service
        shaped = workloads.shaped_objects(context)
        yield from workloads.base(svc, shaped)
        for environment in svc.environments:
            for overlay in context.mesh.overlays_of(environment):
                yield from overlays.service_files(context, overlay, shaped)

    def validators(self) -> list[Validator]:
        from .validate import tools

        kubectl, strict = tools()
        return [
            Validator("kubectl kustomize", kubectl is not None),
            Validator("kubernetes-validate --strict", kubectl is not None and strict),
        ]

    def validate(self, root: Path, artifacts: Sequence[Artifact]) -> list[Diagnostic]:
        from . import validate  # jsonschema and the schemas take a while to load: only `--validate` pays

        return validate.validate_tree(root, artifacts)


backend = KustomizeBackend()
