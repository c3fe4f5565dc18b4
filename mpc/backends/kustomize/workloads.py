"""A base per service: workload, Service, ServiceAccount, ConfigMap, HPA and PDB, shaped by its archetype."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from mpc.lang.model import MeshSettings, Probe, ResourceSpec, Service, ServiceContext, Version
from mpc.render import k8s
from mpc.render.api import Artifact
from mpc.render.k8s import kustomization
from mpc.render.plugins import call_shape

from .common import (
    RUN_AS,
    base_dir,
    base_namespace,
    checkov_skips,
    component,
    env_data,
    service_ports,
    wants_pdb,
    wave,
)
from .monitoring import scrape_annotations

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


def config_map_name(svc: Service, version: Version | None = None) -> str:
    return f"{svc.name}-{version.name}-env" if version is not None else f"{svc.name}-env"


def files_map_name(svc: Service, volume: str) -> str:
    return f"{svc.name}-{volume}"


def workload_name(svc: Service, version: Version | None = None) -> str:
    return f"{svc.name}-{version.name}" if version is not None else svc.name


def variants(svc: Service) -> list[Version | None]:
    """One workload per version, or one for the service when it has none."""
    return list(svc.versions) if svc.versions else [None]


# What a version overrides of its service (each version is a workload of its own).


def env_of(svc: Service, version: Version | None) -> tuple[tuple[str, str], ...]:
    return version.env if version is not None else svc.env


def image_of(svc: Service, version: Version | None) -> str:
    return version.image if version is not None else svc.image


def resources_of(version: Version | None, default: ResourceSpec) -> ResourceSpec:
    """The version's own resources, else `default` (the service's, or its environment's)."""
    return (version.resources if version is not None else None) or default


def replicas_of(version: Version | None, default: int) -> int:
    own = version.replicas if version is not None else None
    return own if own is not None else default


def config_data(
    context: ServiceContext, version: Version | None, namespace: str
) -> dict[str, dict[str, str]]:
    """Every ConfigMap a workload reads, by name, with `${...}` resolved for one namespace."""
    svc = context.service
    out: dict[str, dict[str, str]] = {}
    env = env_of(svc, version)
    if env:
        out[config_map_name(svc, version)] = env_data(context, env, namespace)
    for volume in svc.volumes:
        if volume.kind == "files":
            out[files_map_name(svc, volume.name)] = dict(volume.files)
    return out


def config_hash(data: Mapping[str, Mapping[str, str]]) -> str:
    """A digest of what the pods read through ConfigMaps: a change rolls them (a ConfigMap's own change
    never restarts a pod, and env from one is read only at start)."""
    digest = hashlib.sha256()
    for name, entries in sorted(data.items()):
        digest.update(name.encode() + b"\0")
        for key, value in sorted(entries.items()):
            digest.update(key.encode() + b"\0" + value.encode() + b"\0")
    return digest.hexdigest()


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


def _labels(model: MeshSettings, svc: Service, image: str, version: Version | None) -> dict[str, str]:
    labels = k8s.labels(model, svc.name, component(svc), k8s.image_version(image))
    if version is not None:
        labels[k8s.SUBSET_LABEL] = version.name
    return labels


def resources(spec: ResourceSpec) -> dict[str, Any]:
    requests: dict[str, Any] = {"cpu": str(spec.cpu), "memory": str(spec.memory)}
    limits: dict[str, Any] = {"cpu": str(spec.cpu_limit), "memory": str(spec.memory_limit)}
    if spec.gpu:
        # Extended resources cannot be overcommitted: the request must equal the limit.
        requests[GPU_RESOURCE] = str(spec.gpu)
        limits[GPU_RESOURCE] = str(spec.gpu)
    return {"requests": requests, "limits": limits}


def _probe_handler(found: Probe) -> dict[str, Any]:
    if found.kind == "http":
        get: dict[str, Any] = {"path": found.path, "port": found.port}
        if found.headers:
            get["httpHeaders"] = [{"name": k, "value": v} for k, v in found.headers]
        return {"httpGet": get}
    if found.kind == "grpc":
        return {"grpc": {"port": found.port}}
    return {"tcpSocket": {"port": found.port}}


def probes(svc: Service) -> dict[str, Any]:
    found = svc.effective_probe
    if found is None:
        return {}
    handler = _probe_handler(found)
    period = found.period_s or 10
    delay = {"initialDelaySeconds": found.initial_delay_s} if found.initial_delay_s else {}
    out: dict[str, Any] = {
        "readinessProbe": {
            **handler,
            **delay,
            "periodSeconds": period,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "livenessProbe": {
            **handler,
            **delay,
            "periodSeconds": period * 2,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
    }
    if found.startup is not None:
        threshold, every = found.startup
        out["startupProbe"] = {
            **handler,
            "periodSeconds": every,
            "timeoutSeconds": 2,
            "failureThreshold": threshold,
        }
    elif svc.archetype.model_cache:
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


def container(model: MeshSettings, svc: Service, version: Version | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": svc.name, "image": image_of(svc, version), "imagePullPolicy": "Always"}
    if svc.command is not None:
        out["command"] = list(svc.command)
    if svc.args is not None:
        out["args"] = list(svc.args)
    ports = [{"name": p.name, "containerPort": p.target, "protocol": p.protocol} for p in service_ports(svc)]
    if ports:
        out["ports"] = ports
    if env_of(svc, version):
        out["envFrom"] = [{"configMapRef": {"name": config_map_name(svc, version)}}]
    variables = env(model, svc)
    if variables:
        out["env"] = variables
    out["resources"] = resources(resources_of(version, svc.resources))
    out.update(probes(svc))
    out["securityContext"] = k8s.container_security_context(RUN_AS)
    mounts: list[dict[str, Any]] = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]
    if svc.archetype.stateful and svc.storage is not None:
        mounts.append({"name": STORAGE_VOLUME, "mountPath": STORAGE_PATH})
    if svc.archetype.model_cache:
        mounts.append({"name": MODEL_CACHE_VOLUME, "mountPath": MODEL_CACHE_PATH})
    for volume in svc.volumes:
        mount: dict[str, Any] = {"name": volume.name, "mountPath": volume.mount_path}
        if volume.kind != "emptyDir":
            mount["readOnly"] = True
        mounts.append(mount)
    out["volumeMounts"] = mounts
    return out


def _volume(svc: Service, index: int) -> dict[str, Any]:
    volume = svc.volumes[index]
    if volume.kind == "files":
        return {"name": volume.name, "configMap": {"name": files_map_name(svc, volume.name)}}
    if volume.kind == "secret":
        return {"name": volume.name, "secret": {"secretName": volume.secret}}
    empty: dict[str, Any] = {}
    if volume.size_limit is not None:
        empty["sizeLimit"] = str(volume.size_limit)
    return {"name": volume.name, "emptyDir": empty}


def pod_spec(model: MeshSettings, svc: Service, version: Version | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": svc.name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,  # no docker-link style variables for every Service in the namespace
        "securityContext": k8s.pod_security_context(RUN_AS, [p.target for p in service_ports(svc)]),
    }
    if svc.termination_grace_s is not None:
        spec["terminationGracePeriodSeconds"] = svc.termination_grace_s
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
    spec["containers"] = [container(model, svc, version)]
    volumes: list[dict[str, Any]] = [{"name": TMP_VOLUME, "emptyDir": {}}]
    if svc.archetype.model_cache:
        volumes.append({"name": MODEL_CACHE_VOLUME, "emptyDir": {}})
    volumes.extend(_volume(svc, i) for i in range(len(svc.volumes)))
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
    if svc.effective_probe is None:
        reason = "no TCP or HTTP port to probe (worker or UDP) and exec probes are not used"
        skips["CKV_K8S_8"] = reason
        skips["CKV_K8S_9"] = reason
    return skips


def selector(svc: Service, version: Version | None = None) -> dict[str, str]:
    """A workload's pod selector: the service's, narrowed to the version (the Service selects them all)."""
    out = k8s.selector(svc.name)
    if version is not None:
        out[k8s.SUBSET_LABEL] = version.name
    return out


def template_annotations(svc: Service, data: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    out = {"kubectl.kubernetes.io/default-container": svc.name}
    out.update(scrape_annotations(svc))
    out.update(svc.annotations)
    if data:
        out[k8s.CONFIG_HASH_ANNOTATION] = config_hash(data)
    return out


def workload(context: ServiceContext, version: Version | None = None) -> dict[str, Any]:
    model, svc, wave_no = context.mesh, context.service, context.wave
    kind = svc.archetype.workload
    image = image_of(svc, version)
    name = workload_name(svc, version)
    meta = k8s.metadata(
        model,
        name,
        svc.source,
        labels_=_labels(model, svc, image, version),
        annotations_={**wave(wave_no), **checkov_skips(workload_skips(svc))},
    )
    data = config_data(context, version, base_namespace(context))
    template_meta = {
        "labels": _labels(model, svc, image, version),
        "annotations": template_annotations(svc, data),
    }
    spec: dict[str, Any] = {}
    if kind == "StatefulSet":
        spec["serviceName"] = svc.name
    if svc.autoscale is None:
        # With an HPA the replica count is the HPA's to set.
        spec["replicas"] = replicas_of(version, svc.replicas)
    spec["revisionHistoryLimit"] = 5
    spec["selector"] = {"matchLabels": selector(svc, version)}
    spec["template"] = {"metadata": template_meta, "spec": pod_spec(model, svc, version)}
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
            "name": p.name,
            "port": p.port,
            "targetPort": p.target,
            "protocol": p.protocol,
            "appProtocol": p.app_protocol,  # Istio selects the port's protocol by it
        }
        for p in service_ports(svc)
    ]
    return k8s.obj("v1", "Service", _meta(model, svc, svc.name, wave_no), spec=spec)


def service_account(model: MeshSettings, svc: Service, wave_no: int) -> dict[str, Any]:
    return k8s.obj(
        "v1", "ServiceAccount", _meta(model, svc, svc.name, wave_no), automountServiceAccountToken=False
    )


def config_maps(context: ServiceContext) -> list[dict[str, Any]]:
    """The env ConfigMap of the service (or of each version) and one per `files` volume."""
    model, svc = context.mesh, context.service
    data: dict[str, dict[str, str]] = {}
    for version in variants(svc):
        data.update(config_data(context, version, base_namespace(context)))
    return [
        k8s.obj("v1", "ConfigMap", _meta(model, svc, name, context.wave), data=entries)
        for name, entries in data.items()
    ]


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


def objects(context: ServiceContext) -> list[dict[str, Any]]:
    """Every object of a service's base, before the archetype's own shaping."""
    model, svc, wave_no = context.mesh, context.service, context.wave
    out = [service_account(model, svc, wave_no)]
    out.extend(config_maps(context))
    if svc.has_service_object:
        out.append(service_object(model, svc, wave_no))
    out.extend(workload(context, version) for version in variants(svc))
    if svc.autoscale is not None:
        out.append(hpa(model, svc, wave_no))
    if wants_pdb(svc, svc.replicas):
        out.append(pdb(model, svc, wave_no))
    return out


# Kinds a service may have several of (versions, files volumes): each is named after its object, except
# the service's own Deployment or StatefulSet and its env ConfigMap.
_NAMED_FILES = frozenset({"Deployment", "StatefulSet", "ConfigMap"})


def file_name(obj: dict[str, Any], taken: set[str], service: str) -> str:
    kind, name = obj["kind"], obj["metadata"]["name"]
    out = FILE_NAMES.get(kind, f"{kind.lower()}.yaml")
    own = name in (service, f"{service}-env")
    if out in taken or (kind in _NAMED_FILES and not own):
        # versions, files volumes or an archetype plugin: a second object of a kind
        out = f"{kind.lower()}-{name}.yaml"
    taken.add(out)
    return out


def shaped_objects(context: ServiceContext) -> list[dict[str, Any]]:
    """The base's objects after the archetype's shaping (a plugin may turn the Deployment into a CronJob)."""
    return call_shape(context, objects(context))


def base(svc: Service, shaped: list[dict[str, Any]]) -> list[Artifact]:
    folder = base_dir(svc.name)
    taken: set[str] = set()
    files = [(file_name(obj, taken, svc.name), obj) for obj in shaped]
    out = [Artifact(f"{folder}/{name}", obj) for name, obj in files]
    out.append(Artifact(f"{folder}/kustomization.yaml", kustomization(name for name, _ in files)))
    return out
