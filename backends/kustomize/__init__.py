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

from mpc.artifact import Artifact
from mpc.diagnostics import Diagnostic
from mpc.graph import MeshGraph
from mpc.model import Model

from . import crds, overlays, workloads


class KustomizeBackend:
    name = "kustomize"

    def render(self, model: Model, graph: MeshGraph) -> Iterable[Artifact]:
        waves = graph.wave_of()
        shaped = {
            name: workloads.shaped_objects(model, svc, waves.get(name, 0))
            for name, svc in model.services.items()
        }
        for name, svc in model.services.items():
            yield from workloads.base(svc, shaped[name])
        yield from crds.artifacts(model)
        yield from overlays.artifacts(model, graph, waves, shaped)

    def validate(self, root: Path, artifacts: Sequence[Artifact]) -> list[Diagnostic]:
        from . import validate  # jsonschema and the schemas cost ~50 ms: only `--validate` pays for them

        return validate.validate_tree(root, artifacts)


backend = KustomizeBackend()
