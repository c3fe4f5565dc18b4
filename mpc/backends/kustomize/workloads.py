"""A base per service: workload, Service, ServiceAccount, ConfigMap, HPA and PDB, shaped by its archetype."""

from __future__ import annotations

from typing import Any

from mpc.lang.model import MeshSettings, ResourceSpec, Service, ServiceContext
from mpc.render import k8s
from mpc.render.api import Artifact
from mpc.render.k8s import kustomization
from mpc.render.plugins import call_shape

from .common import (
    RUN_AS,
    base_dir,
    checkov_skips,
    component,
    service_ports,
    wants_pdb,
    wave,
)

TMP_VOLUME = "tmp"
STORAGE_VOLUME = "storage"
STORAGE_PATH = "/data"
MODEL_CACHE_VOLUME = "model-cache"
MODEL_CACHE_PATH = "/models"
GPU_RESOURCE = "nvidia.com/gpu"
OAUTH2_SECRET_KEY = "client-secret"

FILE_NAMES = {
    "Deployment": "deployment.yaml",
    "StatefulSet": "statefulset.yaml",
    "Service": "service.yaml",
    "ServiceAccount": "serviceaccount.yaml",
    "ConfigMap": "configmap.yaml",
    "HorizontalPodAutoscaler": "hpa.yaml",
    "PodDisruptionBudget": "pdb.yaml",
}


def config_map_name(svc: Service) -> str:
    return f"{svc.name}-env"


def _meta(
    model: MeshSettings, svc: Service, name: str, wave_no: int, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    annotations = wave(wave_no)
    if extra:
        annotations.update(extra)
    return k8s.metadata(
        model,
        name,
        svc.source,
        labels_=k8s.labels(model, svc.name, component(svc), k8s.image_version(svc.image)),
        annotations_=annotations,
    )


def resources(spec: ResourceSpec) -> dict[str, Any]:
    requests: dict[str, Any] = {"cpu": str(spec.cpu), "memory": str(spec.memory)}
    limits: dict[str, Any] = {"cpu": str(spec.cpu_limit), "memory": str(spec.memory_limit)}
    if spec.gpu:
        # Extended resources cannot be overcommitted: the request must equal the limit.
        requests[GPU_RESOURCE] = str(spec.gpu)
        limits[GPU_RESOURCE] = str(spec.gpu)
    return {"requests": requests, "limits": limits}


def _probe_handler(svc: Service) -> dict[str, Any] | None:
    """HTTP on the health path; gRPC's own health protocol; TCP connect otherwise; nothing for UDP."""
    if svc.health_path is not None and svc.health_port is not None:
        return {"httpGet": {"path": svc.health_path, "port": svc.health_port}}
    if svc.port is None or svc.protocol == "udp":
        return None
    if svc.protocol == "grpc":
        return {"grpc": {"port": svc.port}}
    return {"tcpSocket": {"port": svc.port}}


def probes(svc: Service) -> dict[str, Any]:
    handler = _probe_handler(svc)
    if handler is None:
        return {}
    out: dict[str, Any] = {
        "readinessProbe": {**handler, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 3},
        "livenessProbe": {**handler, "periodSeconds": 20, "timeoutSeconds": 2, "failureThreshold": 3},
    }
    if svc.archetype.model_cache:
        # Loading a model can take minutes: hold liveness off until the first success, up to 10 minutes.
        out["startupProbe"] = {**handler, "periodSeconds": 10, "timeoutSeconds": 2, "failureThreshold": 60}
    return out


def _field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def env(model: MeshSettings, svc: Service) -> list[dict[str, Any]]:
    """Secrets by reference, the OAuth2 client, and the peer-discovery variables of a clustered service."""
    out: list[dict[str, Any]] = []
    for ref in svc.secrets:
        out.append({"name": ref.env, "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.key}}})
    if svc.oauth2_client is not None:
        out.append({"name": "OAUTH2_CLIENT_ID", "value": svc.oauth2_client.client_id})
        out.append(
            {
                "name": "OAUTH2_CLIENT_SECRET",
                "valueFrom": {
                    "secretKeyRef": {"name": svc.oauth2_client.secret_name, "key": OAUTH2_SECRET_KEY}
                },
            }
        )
    if svc.archetype.model_cache:
        out.append({"name": "MODEL_CACHE_DIR", "value": MODEL_CACHE_PATH})
    if svc.clustering == "dns":
        # A libcluster DNSPoll-style strategy resolves the headless Service's A records and names each
        # peer <basename>@<pod IP>; the namespace comes from the downward API so one base fits every
        # environment ($(VAR) expands variables defined earlier in the list).
        out.extend(
            [
                _field_env("POD_NAME", "metadata.name"),
                _field_env("POD_NAMESPACE", "metadata.namespace"),
                _field_env("POD_IP", "status.podIP"),
                {"name": "CLUSTER_DNS_QUERY", "value": f"{svc.name}.$(POD_NAMESPACE).svc.cluster.local"},
                {"name": "CLUSTER_NODE_BASENAME", "value": svc.name},
                {"name": "RELEASE_DISTRIBUTION", "value": "name"},
                {"name": "RELEASE_NODE", "value": f"{svc.name}@$(POD_IP)"},
            ]
        )
    return out


def container(model: MeshSettings, svc: Service) -> dict[str, Any]:
    out: dict[str, Any] = {"name": svc.name, "image": svc.image, "imagePullPolicy": "Always"}
    ports = [
        {"name": name, "containerPort": port, "protocol": proto} for name, port, proto in service_ports(svc)
    ]
    if ports:
        out["ports"] = ports
    if svc.env:
        out["envFrom"] = [{"configMapRef": {"name": config_map_name(svc)}}]
    variables = env(model, svc)
    if variables:
        out["env"] = variables
    out["resources"] = resources(svc.resources)
    out.update(probes(svc))
    out["securityContext"] = k8s.container_security_context(RUN_AS)
    mounts = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]
    if svc.archetype.stateful and svc.storage is not None:
        mounts.append({"name": STORAGE_VOLUME, "mountPath": STORAGE_PATH})
    if svc.archetype.model_cache:
        mounts.append({"name": MODEL_CACHE_VOLUME, "mountPath": MODEL_CACHE_PATH})
    out["volumeMounts"] = mounts
    return out


def pod_spec(model: MeshSettings, svc: Service) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": svc.name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,  # no docker-link style variables for every Service in the namespace
        "securityContext": k8s.pod_security_context(RUN_AS),
    }
    if svc.archetype.anti_affinity:
        # One replica per node: a node failure takes at most one member of the network down.
        spec["affinity"] = {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {"matchLabels": k8s.selector(svc.name)},
                        "topologyKey": "kubernetes.io/hostname",
                    }
                ]
            }
        }
    if svc.archetype.gpu:
        # GPU nodes are tainted so ordinary pods stay off them; the GPU request itself selects GPU nodes,
        # and an overlay pins the accelerator type where the cluster declares one.
        spec["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    spec["containers"] = [container(model, svc)]
    volumes: list[dict[str, Any]] = [{"name": TMP_VOLUME, "emptyDir": {}}]
    if svc.archetype.model_cache:
        volumes.append({"name": MODEL_CACHE_VOLUME, "emptyDir": {}})
    spec["volumes"] = volumes
    return spec


def workload_skips(svc: Service) -> dict[str, str]:
    """checkov checks that cannot apply to this workload, each with the reason."""
    skips: dict[str, str] = {}
    if "@sha256:" not in svc.image:
        skips["CKV_K8S_43"] = (
            "mesh.yaml pins images by release tag (untagged and latest are rejected); "
            "no digest is known at compile time"
        )
    if svc.secrets or svc.oauth2_client is not None:
        skips["CKV_K8S_35"] = (
            "secrets are delivered by secretKeyRef as the mesh spec requires, never as literals"
        )
    if _probe_handler(svc) is None:
        reason = "no TCP or HTTP port to probe (worker or UDP) and exec probes are not used"
        skips["CKV_K8S_8"] = reason
        skips["CKV_K8S_9"] = reason
    return skips


def workload(model: MeshSettings, svc: Service, wave_no: int) -> dict[str, Any]:
    kind = svc.archetype.workload
    meta = _meta(model, svc, svc.name, wave_no, checkov_skips(workload_skips(svc)))
    template_meta = {
        "labels": k8s.labels(model, svc.name, component(svc), k8s.image_version(svc.image)),
        "annotations": {"kubectl.kubernetes.io/default-container": svc.name},
    }
    spec: dict[str, Any] = {}
    if kind == "StatefulSet":
        spec["serviceName"] = svc.name
    if svc.autoscale is None:
        spec["replicas"] = svc.replicas  # with an HPA the replica count is the HPA's to set
    spec["revisionHistoryLimit"] = 5
    spec["selector"] = {"matchLabels": k8s.selector(svc.name)}
    spec["template"] = {"metadata": template_meta, "spec": pod_spec(model, svc)}
    if kind == "StatefulSet" and svc.storage is not None:
        spec["volumeClaimTemplates"] = [
            {
                "metadata": {"name": STORAGE_VOLUME},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": str(svc.storage)}},
                },
            }
        ]
    return k8s.obj("apps/v1", kind, meta, spec=spec)


def service_object(model: MeshSettings, svc: Service, wave_no: int) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if svc.headless:
        # Headless: DNS returns every pod, which peer discovery and StatefulSet pod names need.
        spec["clusterIP"] = "None"
    spec["selector"] = k8s.selector(svc.name)
    spec["ports"] = [
        {
            "name": name,
            "port": port,
            "targetPort": port,
            "protocol": proto,
            "appProtocol": k8s.APP_PROTOCOLS.get(name, "tcp"),
        }
        for name, port, proto in service_ports(svc)
    ]
    return k8s.obj("v1", "Service", _meta(model, svc, svc.name, wave_no), spec=spec)


def service_account(model: MeshSettings, svc: Service, wave_no: int) -> dict[str, Any]:
    return k8s.obj(
        "v1", "ServiceAccount", _meta(model, svc, svc.name, wave_no), automountServiceAccountToken=False
    )


def config_map(model: MeshSettings, svc: Service, wave_no: int) -> dict[str, Any]:
    return k8s.obj(
        "v1", "ConfigMap", _meta(model, svc, config_map_name(svc), wave_no), data=dict(sorted(svc.env))
    )


def hpa(model: MeshSettings, svc: Service, wave_no: int) -> dict[str, Any]:
    assert svc.autoscale is not None
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": svc.archetype.workload, "name": svc.name},
        "minReplicas": svc.autoscale.min,
        "maxReplicas": svc.autoscale.max,
        "metrics": [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": svc.autoscale.cpu},
                },
            }
        ],
    }
    return k8s.obj(
        "autoscaling/v2", "HorizontalPodAutoscaler", _meta(model, svc, svc.name, wave_no), spec=spec
    )


def pdb(model: MeshSettings, svc: Service, wave_no: int) -> dict[str, Any]:
    meta = _meta(model, svc, svc.name, wave_no)
    spec: dict[str, Any] = {}
    if svc.archetype.pdb_max_unavailable is not None:
        spec["maxUnavailable"] = svc.archetype.pdb_max_unavailable
    else:
        spec["minAvailable"] = 1
    spec["selector"] = {"matchLabels": k8s.selector(svc.name)}
    return k8s.obj("policy/v1", "PodDisruptionBudget", meta, spec=spec)


def objects(model: MeshSettings, svc: Service, wave_no: int) -> list[dict[str, Any]]:
    """Every object of a service's base, before the archetype's own shaping."""
    out = [service_account(model, svc, wave_no)]
    if svc.env:
        out.append(config_map(model, svc, wave_no))
    if svc.has_service_object:
        out.append(service_object(model, svc, wave_no))
    out.append(workload(model, svc, wave_no))
    if svc.autoscale is not None:
        out.append(hpa(model, svc, wave_no))
    if wants_pdb(svc, svc.replicas):
        out.append(pdb(model, svc, wave_no))
    return out


def file_name(obj: dict[str, Any], taken: set[str]) -> str:
    name = FILE_NAMES.get(obj["kind"], f"{obj['kind'].lower()}.yaml")
    if name in taken:  # an archetype plugin may add a second object of a kind
        name = f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
    taken.add(name)
    return name


def shaped_objects(context: ServiceContext) -> list[dict[str, Any]]:
    """The base's objects after the archetype's shaping (a plugin may turn the Deployment into a CronJob)."""
    return call_shape(context, objects(context.mesh, context.service, context.wave))


def base(svc: Service, shaped: list[dict[str, Any]]) -> list[Artifact]:
    folder = base_dir(svc.name)
    taken: set[str] = set()
    files = [(file_name(obj, taken), obj) for obj in shaped]
    out = [Artifact(f"{folder}/{name}", obj) for name, obj in files]
    out.append(Artifact(f"{folder}/kustomization.yaml", kustomization(name for name, _ in files)))
    return out
