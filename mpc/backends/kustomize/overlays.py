"""Overlays: one environment on one cluster, `kustomize/overlays/<env>/<cluster>/`.

The overlay root sets no namespace (other backends contribute istio-system objects to it); it lists
`app/`, which sets the environment's namespace and holds the Namespace, the service bases placed in
that environment, the environment's NetworkPolicies, monitoring objects and custom resource instances,
and the patches that apply the environment's replicas and resources (Service.placements).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mpc.graph.mesh import MeshGraph
from mpc.lang.model import (
    Cluster,
    Environment,
    MeshSettings,
    Model,
    Overlay,
    Service,
    ServiceContext,
    Version,
)
from mpc.render import k8s
from mpc.render.api import Artifact, Listing, Output, Section
from mpc.render.k8s import kustomization, relative

from . import crds, monitoring, network
from .common import APP, CRDS, WAVE_FOUNDATION, base_dir, base_namespace, env_data, wants_pdb, wave
from .workloads import (
    config_data,
    config_hash,
    config_map_name,
    env_of,
    pdb,
    replicas_of,
    resources,
    resources_of,
    variants,
    workload_name,
)

GKE_ACCELERATOR = "cloud.google.com/gke-accelerator"
NETWORK_POLICIES = "network-policies.yaml"
MONITORING = "monitoring.yaml"


def namespace(model: MeshSettings, env: Environment) -> dict[str, Any]:
    labels = {"istio-injection": "enabled", **k8s.mesh_labels(model)}
    labels["istio-injection"] = "enabled"  # whatever metadata.labels says: sidecars carry mTLS and policy
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


def pod_workloads(
    svc: Service, shaped: Sequence[Mapping[str, Any]]
) -> list[tuple[Version | None, Mapping[str, Any]]]:
    """The objects that run the service's pods in its (archetype-shaped) base: one, or one per version."""
    by_name = {obj.get("metadata", {}).get("name"): obj for obj in shaped if obj.get("kind") in _POD_TEMPLATE}
    found = []
    for version in variants(svc):
        obj = by_name.get(workload_name(svc, version))
        if obj is not None:
            found.append((version, obj))
    return found


def workload_patch(
    context: ServiceContext,
    overlay: Overlay,
    workload: Mapping[str, Any],
    version: Version | None = None,
) -> dict[str, Any]:
    """A strategic-merge patch: the environment's replicas and resources, GPU node selection, and the hash
    of what the pods read through ConfigMaps there."""
    model, svc = context.mesh, context.service
    placement = svc.placements[overlay.environment]
    sized = resources_of(version, placement.resources)
    pod: dict[str, Any] = {"containers": [{"name": svc.name, "resources": resources(sized)}]}
    if svc.archetype.gpu and sized.gpu:
        selector = gpu_node_selector(model.clusters.get(overlay.cluster or ""))
        if selector is not None:
            pod["nodeSelector"] = selector
    path, has_replicas = _POD_TEMPLATE[workload["kind"]]
    template: dict[str, Any] = {"spec": pod}
    data = config_data(context, version, overlay.namespace)
    if data:
        template = {"metadata": {"annotations": {k8s.CONFIG_HASH_ANNOTATION: config_hash(data)}}, **template}
    body: dict[str, Any] = template
    for key in reversed(path[1:]):
        body = {key: body}
    spec: dict[str, Any] = {}
    if has_replicas and svc.autoscale is None:
        spec["replicas"] = replicas_of(version, placement.replicas)
    spec.update(body)
    return {
        "apiVersion": workload["apiVersion"],
        "kind": workload["kind"],
        "metadata": {"name": workload_name(svc, version)},
        "spec": spec,
    }


def config_patches(context: ServiceContext, overlay: Overlay) -> list[dict[str, Any]]:
    """The env ConfigMaps whose `${...}` values differ in this environment's namespace from the base's."""
    svc = context.service
    out = []
    for version in variants(svc):
        env = env_of(svc, version)
        if not env:
            continue
        here = env_data(context, env, overlay.namespace)
        if here != env_data(context, env, base_namespace(context)):
            name = config_map_name(svc, version)
            out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": here})
    return out


def pdb_delete_patch(svc: Service) -> dict[str, Any]:
    """Drop the base's PDB where one replica runs: a PDB over a single pod would block every node drain."""
    return {
        "$patch": "delete",
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": svc.name},
    }


def service_files(
    context: ServiceContext, overlay: Overlay, shaped: Sequence[Mapping[str, Any]]
) -> list[Output]:
    """What one service adds to one overlay: the patches that size it there (or a PDB of its own), its
    NetworkPolicy and its monitoring documents in the environment's shared files."""
    svc = context.service
    folder = f"{overlay.path}/{APP}"
    env = context.mesh.environments[overlay.environment]
    out: list[Output] = [Section(f"{folder}/{NETWORK_POLICIES}", (network.service_policy(context, env),))]
    monitoring_documents = monitoring.service_documents(context, env)
    if monitoring_documents:
        out.append(Section(f"{folder}/{MONITORING}", tuple(monitoring_documents), (Listing(folder),)))
    for patch in config_patches(context, overlay):
        name = patch["metadata"]["name"]
        path = f"{folder}/patches/configmap-{name}.yaml"
        out.append(Artifact(path, patch, (Listing(folder, "patches"),)))
    workloads = pod_workloads(svc, shaped)
    if not workloads:
        return out  # an archetype plugin removed the pods' object: nothing to size per environment
    for version, obj in workloads:
        patch = workload_patch(context, overlay, obj, version)
        name = workload_name(svc, version)
        out.append(Artifact(f"{folder}/patches/{name}.yaml", patch, (Listing(folder, "patches"),)))
    workload = workloads[0][1]
    scalable = _POD_TEMPLATE[workload["kind"]][1]
    in_base = any(obj.get("kind") == "PodDisruptionBudget" for obj in shaped)
    here = scalable and wants_pdb(svc, svc.placements[overlay.environment].replicas)
    if in_base and not here:
        delete = pdb_delete_patch(svc)
        out.append(Artifact(f"{folder}/patches/{svc.name}-pdb.yaml", delete, (Listing(folder, "patches"),)))
    elif here and not in_base:
        own = pdb(context.mesh, svc, context.wave)
        out.append(Artifact(f"{folder}/{svc.name}-pdb.yaml", own, (Listing(folder),)))
    return out


def app_artifacts(model: Model, overlay: Overlay, waves: Mapping[str, int]) -> list[Artifact]:
    """The overlay's `app/` folder as the mesh as a whole writes it: the namespace, the bases, the
    namespace-wide policies, the custom resources; each service adds its own files (service_files)."""
    env = model.environments[overlay.environment]
    folder = f"{overlay.path}/{APP}"
    services = sorted(model.services_in(env.name), key=lambda s: (waves.get(s.name, 0), s.name))
    out: list[Artifact] = [Artifact(f"{folder}/namespace.yaml", namespace(model, env))]
    resources_: list[str] = ["namespace.yaml"]
    resources_.extend(relative(base_dir(s.name), folder) for s in services)
    out.append(Artifact(f"{folder}/{NETWORK_POLICIES}", network.namespace_policies(model, env)))
    resources_.append(NETWORK_POLICIES)
    instances = crds.namespaced_instances(model)
    if instances:
        out.append(Artifact(f"{folder}/custom-resources.yaml", instances))
        resources_.append("custom-resources.yaml")
    out.append(Artifact(f"{folder}/kustomization.yaml", kustomization(resources_, namespace=env.namespace)))
    return out


def root_kustomization(model: Model, overlay: Overlay) -> Artifact:
    """No namespace transformer here: contributions (Istio policy, the master proxy) keep their own."""
    resources_ = [APP]
    if model.custom_resources:
        resources_.append(relative(CRDS, overlay.path))
    return Artifact(f"{overlay.path}/kustomization.yaml", kustomization(resources_))


def artifacts(model: Model, graph: MeshGraph) -> list[Artifact]:
    waves = graph.wave_of()
    out: list[Artifact] = []
    for overlay in model.overlays:
        out.extend(app_artifacts(model, overlay, waves))
        out.append(root_kustomization(model, overlay))
    return out
