"""What every check reads (the spec as written, its positions, the model, the graph) and shared patterns."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from mpc.errors import Diagnostic, Location, Suggestions
from mpc.graph.mesh import MeshGraph
from mpc.lang import spec
from mpc.lang.load import Document
from mpc.lang.model import Model

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
# Kubernetes: a namespace is an RFC 1123 label (<= 63); label values and names are <= 63 of these.
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_PART = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
# The Docker reference grammar, enough to refuse what a container runtime would refuse.
IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[\w][\w.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
MAX_K8S_NAME = 63


class Context:
    def __init__(self, mesh: spec.Mesh, doc: Document, model: Model, graph: MeshGraph) -> None:
        self.mesh = mesh
        self.doc = doc
        self.model = model
        self.graph = graph
        self.suggest = Suggestions()  # every check's "did you mean" draws on one budget

    def at(self, *path: str | int, key: bool = False) -> Location:
        return self.doc.location(tuple(path), key=key)


Check = Callable[[Context], Iterable[Diagnostic]]
