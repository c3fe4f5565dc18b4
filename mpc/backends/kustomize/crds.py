"""customResources: a CustomResourceDefinition per entry, and its instances.

The CRDs are cluster-wide and the same for every overlay, so they live once in `kustomize/crds/`, which
each overlay root lists beside its `app/` folder (never under it: the namespace transformer is there).
Namespaced instances belong to an environment and go into its `app/`; cluster-scoped ones go with
their CRD. The instances were already checked against `spec_schema()` when the mesh was analysed
(E207); the CRD carries the same schema, so the API server enforces what mpc checked.
"""

from __future__ import annotations

from typing import Any

from mpc.lang.model import CrdInstance, CustomResource, Model
from mpc.render import k8s
from mpc.render.api import Artifact
from mpc.render.k8s import kustomization

from .common import CRDS, WAVE_FOUNDATION, WAVE_INSTANCES, wave

API_APPROVED = "api-approved.kubernetes.io"


def crd(model: Model, cr: CustomResource) -> dict[str, Any]:
    spec_schema = cr.spec_schema()
    root: dict[str, Any] = {"type": "object", "properties": {"spec": spec_schema}}
    if spec_schema.get("required"):
        root["required"] = ["spec"]
    spec = {
        "group": cr.group,
        "names": {
            "kind": cr.kind,
            "listKind": f"{cr.kind}List",
            "plural": cr.plural,
            "singular": cr.singular,
        },
        "scope": cr.scope,
        "versions": [
            {"name": cr.version, "served": True, "storage": True, "schema": {"openAPIV3Schema": root}}
        ],
    }
    annotations = wave(WAVE_FOUNDATION)
    if cr.api_approved is not None:
        # A group Kubernetes reserves (*.k8s.io, *.kubernetes.io): the API server refuses the CRD without it.
        annotations[API_APPROVED] = cr.api_approved
    meta = k8s.metadata(
        model, cr.crd_name, cr.source, labels_=k8s.mesh_labels(model), annotations_=annotations
    )
    return k8s.obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", meta, spec=spec)


def instance(model: Model, cr: CustomResource, inst: CrdInstance) -> dict[str, Any]:
    meta = k8s.metadata(
        model, inst.name, inst.source, labels_=k8s.mesh_labels(model), annotations_=wave(WAVE_INSTANCES)
    )
    return k8s.obj(f"{cr.group}/{cr.version}", cr.kind, meta, spec=dict(inst.spec))


def _by_name(model: Model) -> list[CustomResource]:
    """The custom resources in name order: moving an entry within mesh.yaml changes no output."""
    return sorted(model.custom_resources, key=lambda cr: cr.crd_name)


def _instances(cr: CustomResource) -> list[CrdInstance]:
    return sorted(cr.instances, key=lambda inst: inst.name)


def namespaced_instances(model: Model) -> list[dict[str, Any]]:
    return [
        instance(model, cr, inst)
        for cr in _by_name(model)
        if cr.scope == "Namespaced"
        for inst in _instances(cr)
    ]


def artifacts(model: Model) -> list[Artifact]:
    """`kustomize/crds/`: the CRDs and the cluster-scoped instances; nothing when there are none."""
    if not model.custom_resources:
        return []
    out: list[Artifact] = []
    files: list[str] = []
    for cr in _by_name(model):
        name = f"{cr.crd_name}.yaml"
        out.append(Artifact(f"{CRDS}/{name}", crd(model, cr)))
        files.append(name)
        if cr.scope == "Cluster" and cr.instances:
            name = f"{cr.crd_name}-instances.yaml"
            out.append(Artifact(f"{CRDS}/{name}", [instance(model, cr, i) for i in _instances(cr)]))
            files.append(name)
    out.append(Artifact(f"{CRDS}/kustomization.yaml", kustomization(files)))
    return out
