"""What a backend produces, and the protocols a backend implements (built-in or third-party).

A backend renders the mesh as a whole (`render`), and may render each service on its own
(`render_service`, from the service's ServiceContext alone). The build decides when a service's earlier
output can be reused; a backend never learns whether it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from mpc.errors import Diagnostic
    from mpc.graph.mesh import MeshGraph
    from mpc.lang.model import Model, ServiceContext

Content = str | Mapping[str, Any] | Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Listing:
    """An entry a file adds to the kustomization in the folder `kustomization`: the file's path, or its
    folder for a kustomization.yaml, under `resources`; or the file's path under `patches`.

    This is how one backend's files reach another's kustomizations (the Istio policy and the master
    proxy into each cluster's overlay) and how a service's own files reach the shared ones.
    """

    kustomization: str
    field: Literal["resources", "patches"] = "resources"


@dataclass(frozen=True, slots=True)
class Artifact:
    """One file of the output tree.

    `content` is text, one document (written as YAML, or JSON when the path ends in .json), or a list of
    documents (a multi-document YAML file). `node` is the graph node the file derives from, when there is
    exactly one (diff reports use it); the build sets it for a service's own files.
    """

    path: str
    content: Content
    listed_in: tuple[Listing, ...] = ()
    node: str | None = None


@dataclass(frozen=True, slots=True)
class Section:
    """One service's documents in a multi-document file that several services share.

    The file is the documents of the mesh-wide Artifact at `path` (if any), then each service's
    sections in the order of the service names.
    """

    path: str
    documents: tuple[Mapping[str, Any], ...]
    listed_in: tuple[Listing, ...] = ()


Output = Artifact | Section


@runtime_checkable
class Backend(Protocol):
    """A pure function of the resolved model and graph to files: no file system, no clock, no network."""

    name: str

    def render(self, model: Model, graph: MeshGraph) -> Iterable[Output]: ...


@runtime_checkable
class ServiceBackend(Backend, Protocol):
    """A backend with output of each service's own (its workload, its policies).

    `render_service` may read only its argument: the type checker holds it to that, and the build reuses
    a service's earlier output while the context is unchanged. `render` then renders the rest.
    """

    def render_service(self, context: ServiceContext) -> Iterable[Output]: ...


@dataclass(frozen=True, slots=True)
class Validator:
    """A real tool a backend's `validate` runs, and whether it is installed here: a ValidatingBackend
    may list them in a `validators()` method, so that `mpc build --validate` says what ran and what was
    skipped (a backend without it counts as one validator, named after the backend, always run)."""

    name: str
    installed: bool


@runtime_checkable
class ValidatingBackend(Backend, Protocol):
    """A backend that can run its real validator on the written tree (`mpc build --validate`)."""

    def validate(self, root: Path, artifacts: Sequence[Artifact]) -> list[Diagnostic]: ...
