"""What a backend produces, and the protocol a backend implements (built-in or third-party)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from mpc.errors import Diagnostic
    from mpc.graph.mesh import MeshGraph
    from mpc.lang.model import Model

Content = str | Mapping[str, Any] | Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Stored:
    """A file of the previous tree that has the sha256 its lock records (mpc.build.memo: the inputs of the
    unit that wrote it are unchanged): its bytes, or None when a check vouched for it without this
    process reading it (it is linked into the new tree as it is)."""

    data: bytes | None


@dataclass(frozen=True, slots=True)
class Part:
    """Consecutive documents of a multi-document file: rendered (`docs`) or read back (`data`).

    `key` is the memo key of the unit that rendered them (mpc.build.memo), None for documents rendered anew
    by every build.
    """

    key: str | None
    docs: Sequence[Mapping[str, Any]] | None = None
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Pieces:
    """A multi-document YAML file assembled from parts (mpc.build.memo.multi_document during `mpc build`)."""

    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class Artifact:
    """One file of the output tree.

    `content` is text, one document (written as YAML, or JSON when the path ends in .json), or a list of
    documents (a multi-document YAML file). `overlays` names kustomize overlay folders (Overlay.path)
    whose kustomization must include this artifact's folder; set it on a kustomization.yaml that other
    backends contribute to a cluster's desired state (the Istio policy, the master proxy). `node` is the
    graph node the file derives from, when there is exactly one (used by diff reports). `key` is the
    memo key of the unit that rendered the file (mpc.build.memo), when one did.

    During `mpc build` a file may hold `Stored` bytes or `Pieces` instead (mpc.build.memo); `mpc.build.memo.plain`
    turns an artifact back into plain content where its documents were rendered.
    """

    path: str
    content: Content | Stored | Pieces
    overlays: tuple[str, ...] = ()
    node: str | None = None
    key: str | None = None


@runtime_checkable
class Backend(Protocol):
    """A pure function of the resolved model and graph to artifacts: no file system, no clock, no network."""

    name: str

    def render(self, model: Model, graph: MeshGraph) -> Iterable[Artifact]: ...


@runtime_checkable
class ValidatingBackend(Backend, Protocol):
    """A backend that can run its real validator on the written tree (`mpc build --validate`)."""

    def validate(self, root: Path, artifacts: Sequence[Artifact]) -> list[Diagnostic]: ...
