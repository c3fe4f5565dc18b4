"""The kustomize backend: a base per service, overlays per environment and cluster, CRDs, policies.

Output (under `kustomize/`):
  base/<service>/        the service's objects, shaped by its archetype, one file per object
  crds/                  CustomResourceDefinitions (and cluster-scoped instances), when declared
  overlays/<env>/<cluster>/kustomization.yaml   the cluster's whole desired state (no namespace transformer)
  overlays/<env>/<cluster>/app/                 the environment's namespace, bases, policies, monitoring
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from mpc.build import memo
from mpc.errors import Diagnostic
from mpc.graph.mesh import MeshGraph
from mpc.lang.model import Model
from mpc.render.api import Artifact

from . import crds, overlays, workloads


class Shaped(Mapping[str, list[dict[str, Any]]]):
    """Each service's base objects after its archetype's shaping, built when first asked for: a rebuild
    asks only for the services whose units are rendered again (mpc.build.memo)."""

    def __init__(self, model: Model, waves: Mapping[str, int]) -> None:
        self._model = model
        self._waves = waves
        self._done: dict[str, list[dict[str, Any]]] = {}

    def __getitem__(self, name: str) -> list[dict[str, Any]]:
        found = self._done.get(name)
        if found is None:
            svc = self._model.services[name]
            found = self._done[name] = workloads.shaped_objects(self._model, svc, self._waves.get(name, 0))
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._model.services)

    def __len__(self) -> int:
        return len(self._model.services)


def _base(model: Model, shaped: Shaped, name: str) -> Callable[[], list[Artifact]]:
    return lambda: workloads.base(model.services[name], shaped[name])


class KustomizeBackend:
    name = "kustomize"

    def render(self, model: Model, graph: MeshGraph) -> Iterable[Artifact]:
        waves = graph.wave_of()
        shaped = Shaped(model, waves)
        for name in model.services:
            yield from memo.files("kustomize/base", name, _base(model, shaped, name))
        yield from crds.artifacts(model)
        yield from overlays.artifacts(model, graph, waves, shaped)

    def validate(self, root: Path, artifacts: Sequence[Artifact]) -> list[Diagnostic]:
        from . import validate  # jsonschema and the schemas cost ~50 ms: only `--validate` pays for them

        return validate.validate_tree(root, artifacts)


backend = KustomizeBackend()
