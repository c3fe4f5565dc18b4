"""Overlays: one environment on one cluster, `kustomize/overlays/<env>/<cluster>/`.

The overlay root sets no namespace (other backends contribute istio-system objects to it); it lists
`app/`, which sets the environment's namespace and holds the Namespace, the service bases placed in
that environment, the environment's NetworkPolicies, monitoring objects and custom resource instances,
and the patches that apply the environment's replicas and resources (Service.placements).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from mpc.build import memo
from mpc.graph.mesh import MeshGraph
from mpc.lang.model import Cluster, Environment, Model, Overlay, Service
from mpc.render import k8s
from mpc.render.api import Artifact, Part

from . import crds, monitoring, network
from .common import APP, CRDS, WAVE_FOUNDATION, base_dir, kustomization, relative, wants_pdb, wave
from .workloads import pdb, resources

GKE_ACCELERATOR = "cloud.google.com/gke-accelerator"


def namespace(model: Model, env: Environment) -> dict[str, Any]:
    labels = {"istio-injection": "enabled", **k8s.mesh_labels(model)}
    meta = k8s.metadata(model, env.namespace, env.source, labels_=labels, annotations_=wave(WAVE_FOUNDATION))
    return k8s.obj("v1", "Namespace", meta)


def gpu_node_selector(cluster: Cluster | None) -> dict[str, str] | None:
    """Pin GPU pods to the cluster's accelerator type where the cluster declares one (GKE's node label)."""
    if cluster is None or cluster.provider != "gke":
        return None
    for pool in cluster.node_pools:
        if pool.gpu_type is not None and pool.gpu_count > 0:
            return {GKE_ACCELERATOR: pool.gpu_type}
    return None


# Where each workload kind keeps its pod template, and whether it has replicas to patch.
_POD_TEMPLATE: dict[str, tuple[tuple[str, ...], bool]] = {
    "Deployment": (("spec", "template"), True),
    "StatefulSet": (("spec", "template"), True),
    "DaemonSet": (("spec", "template"), False),
    "Job": (("spec", "template"), False),
    "CronJob": (("spec", "jobTemplate", "spec", "template"), False),
}


def main_workload(svc: Service, shaped: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The object that runs the service's pods in its (archetype-shaped) base."""
    for obj in shaped:
        if obj.get("kind") in _POD_TEMPLATE and obj.get("metadata", {}).get("name") == svc.name:
            return obj
    return None


def workload_patch(
    model: Model, svc: Service, overlay: Overlay, workload: Mapping[str, Any]
) -> dict[str, Any]:
    """A strategic-merge patch: the environment's replicas and resources, and GPU node selection."""
    placement = svc.placements[overlay.environment]
    pod: dict[str, Any] = {"containers": [{"name": svc.name, "resources": resources(placement.resources)}]}
    if svc.archetype.gpu and placement.resources.gpu:
        selector = gpu_node_selector(model.clusters.get(overlay.cluster or ""))
        if selector is not None:
            pod["nodeSelector"] = selector
    path, has_replicas = _POD_TEMPLATE[workload["kind"]]
    body: dict[str, Any] = {"spec": pod}
    for key in reversed(path[1:]):
        body = {key: body}
    spec: dict[str, Any] = {}
    if has_replicas and svc.autoscale is None:
        spec["replicas"] = placement.replicas
    spec.update(body)
    return {
        "apiVersion": workload["apiVersion"],
        "kind": workload["kind"],
        "metadata": {"name": svc.name},
        "spec": spec,
    }


def pdb_delete_patch(svc: Service) -> dict[str, Any]:
    """Drop the base's PDB where one replica runs: a PDB over a single pod would block every node drain."""
    return {
        "$patch": "delete",
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": svc.name},
    }


@dataclass(frozen=True)
class Shared:
    """The documents every overlay of one environment has in common, built once per environment."""

    namespace: dict[str, Any]
    policies: list[Part | list[dict[str, Any]]]
    monitoring: list[Part | list[dict[str, Any]]]
    instances: list[dict[str, Any]]

    @classmethod
    def of(cls, model: Model, edges: network.Edges, env: Environment, waves: Mapping[str, int]) -> Shared:
        return cls(
            namespace(model, env),
            network.policy_parts(model, edges, env),
            monitoring.parts(model, env, waves),
            crds.namespaced_instances(model),
        )


def _patches(
    model: Model,
    svc: Service,
    overlay: Overlay,
    waves: Mapping[str, int],
    shaped: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[Artifact]:
    """The files that size one service in one overlay: its workload patch, and a PDB patch or a PDB."""
    folder = f"{overlay.path}/{APP}"
    workload = main_workload(svc, shaped[svc.name])
    if workload is None:
        return []  # an archetype plugin removed the pods' object: nothing to size per environment
    out = [Artifact(f"{folder}/patches/{svc.name}.yaml", workload_patch(model, svc, overlay, workload))]
    scalable = _POD_TEMPLATE[workload["kind"]][1]
    in_base = any(obj.get("kind") == "PodDisruptionBudget" for obj in shaped[svc.name])
    here = scalable and wants_pdb(svc, svc.placements[overlay.environment].replicas)
    if in_base and not here:
        out.append(Artifact(f"{folder}/patches/{svc.name}-pdb.yaml", pdb_delete_patch(svc)))
    elif here and not in_base:
        out.append(Artifact(f"{folder}/{svc.name}-pdb.yaml", pdb(model, svc, waves.get(svc.name, 0))))
    return out


def app_artifacts(
    model: Model,
    overlay: Overlay,
    shared: Shared,
    waves: Mapping[str, int],
    shaped: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[Artifact]:
    env = model.environments[overlay.environment]
    folder = f"{overlay.path}/{APP}"
    services = sorted(model.services_in(env.name), key=lambda s: (waves.get(s.name, 0), s.name))
    out: list[Artifact] = [Artifact(f"{folder}/namespace.yaml", shared.namespace)]
    resources_: list[str] = ["namespace.yaml"]
    resources_.extend(relative(base_dir(s.name), folder) for s in services)
    out.append(memo.multi_document(f"{folder}/network-policies.yaml", shared.policies))
    resources_.append("network-policies.yaml")
    if shared.monitoring:
        out.append(memo.multi_document(f"{folder}/monitoring.yaml", shared.monitoring))
        resources_.append("monitoring.yaml")
    if shared.instances:
        out.append(Artifact(f"{folder}/custom-resources.yaml", shared.instances))
        resources_.append("custom-resources.yaml")
    patches: list[dict[str, str]] = []
    for svc in services:
        # The kustomization lists whatever files the unit wrote (rendered now or in the previous build).
        made = memo.files(
            "kustomize/patches",
            svc.name,
            partial(_patches, model, svc, overlay, waves, shaped),
            scope=overlay.path,
        )
        workload_patch_path = f"{folder}/patches/{svc.name}.yaml"
        for art in sorted(made, key=lambda a: a.path != workload_patch_path):  # the workload's patch first
            name = art.path[len(folder) + 1 :]
            if name.startswith("patches/"):
                patches.append({"path": name})
            else:
                resources_.append(name)
        out.extend(made)
    app = kustomization(resources_, namespace=env.namespace, patches=patches)
    out.append(Artifact(f"{folder}/kustomization.yaml", app))
    return out


def root_kustomization(model: Model, overlay: Overlay) -> Artifact:
    """No namespace transformer here: contributions (Istio policy, the master proxy) keep their own."""
    resources_ = [APP]
    if model.custom_resources:
        resources_.append(relative(CRDS, overlay.path))
    return Artifact(f"{overlay.path}/kustomization.yaml", kustomization(resources_))


def artifacts(
    model: Model,
    graph: MeshGraph,
    waves: Mapping[str, int],
    shaped: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[Artifact]:
    edges = network.Edges.of(graph)
    shared: dict[str, Shared] = {}
    out: list[Artifact] = []
    for overlay in model.overlays:
        if overlay.environment not in shared:
            env = model.environments[overlay.environment]
            shared[overlay.environment] = Shared.of(model, edges, env, waves)
        out.extend(app_artifacts(model, overlay, shared[overlay.environment], waves, shaped))
        out.append(root_kustomization(model, overlay))
    return out
