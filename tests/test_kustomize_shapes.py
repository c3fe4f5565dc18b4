"""The kustomize backend's objects, in memory: archetype shapes, hardening, overlays, CRDs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema
import pytest

from mpc.errors import MpcError
from mpc.graph.front import Front
from mpc.render.api import Artifact
from mpc.workflow.front import front_text, render

MESH = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata:
  name: shapes
  owners: ["@shapes/platform"]
  labels: {team: core}
defaults:
  registry: ghcr.io/shapes
  replicas: 2
gateway:
  name: edge
  port: 8443
  routes:
    - {prefix: /api, service: api, auth: idp}
    - {prefix: /infer, service: infer}
auth:
  issuers:
    idp:
      issuer: https://id.shapes.dev/realms/shapes
      jwksUri: https://id.shapes.dev/realms/shapes/certs
      audiences: [shapes]
  provider: {kind: keycloak, url: https://id.shapes.dev, realm: shapes}
services:
  api:
    image: api:1.0.0
    port: 8080
    health: {path: /ready}
    env: {LOG_LEVEL: info, FEATURE_X: "on"}
    secrets:
      DB_PASSWORD: {secret: db-credentials, key: password}
    oauth2Client: {grantTypes: [client_credentials]}
    autoscale: {min: 2, max: 6, cpu: 75}
    dependsOn: [db, infer, payments]
  infer:
    archetype: ai-inference
    image: infer:2.0.0
    port: 9000
    protocol: grpc
    resources: {cpu: "1", memory: 2Gi, gpu: 2}
  db:
    archetype: stateful
    image: db:15.0.0
    port: 5432
    protocol: tcp
    storage: 10Gi
    clustering: dns
    replicas: 3
  chain:
    archetype: ledger-node
    image: chain:0.1.0
    port: 8545
    storage: 50Gi
    replicas: 4
  jobs:
    archetype: worker
    image: jobs:1.2.3
    replicas: 1
    dependsOn: [db]
  sensors:
    archetype: iot-ingest
    image: sensors:1.0.0
    port: 1883
    protocol: udp
    replicas: 1
external:
  payments: {host: api.payments.example, port: 443, protocol: tls}
clusters:
  gke-a:
    provider: gke
    project: shapes
    region: europe-west1
    version: "1.31"
    nodePools:
      default: {machineType: e2-standard-4, min: 1, max: 3}
      gpu: {machineType: g2-standard-8, min: 0, max: 2, gpu: {type: nvidia-l4, count: 1}}
environments:
  dev: {clusters: [gke-a], replicas: 1}
  prod: {clusters: [gke-a]}
observability:
  metrics: {provider: prometheus}
  slos:
    - {service: api, availability: 99.5, latencyP99: 300ms}
customResources:
  - group: shapes.dev
    kind: Pipeline
    version: v1alpha1
    scope: Namespaced
    fields:
      source: {type: string, required: true}
      parallelism: {type: integer, minimum: 1, maximum: 8}
      mode: {type: string, enum: [batch, stream]}
    instances:
      - {name: nightly, spec: {source: "s3://in", parallelism: 2, mode: batch}}
"""


@pytest.fixture(scope="module")
def front() -> Front:
    return front_text(MESH)


@pytest.fixture(scope="module")
def tree(front: Front) -> dict[str, Artifact]:
    return {a.path: a for a in render(front, ["kustomize"]).artifacts}


def docs(art: Artifact) -> list[Mapping[str, Any]]:
    if isinstance(art.content, str):
        return []
    if isinstance(art.content, Mapping):
        return [art.content]
    return list(art.content)


def base_objects(tree: dict[str, Artifact], service: str) -> dict[str, Mapping[str, Any]]:
    """kind -> object of one service's base (every base holds at most one object of a kind)."""
    prefix = f"kustomize/base/{service}/"
    out: dict[str, Mapping[str, Any]] = {}
    for path, art in tree.items():
        if path.startswith(prefix) and not path.endswith("kustomization.yaml"):
            for doc in docs(art):
                assert doc["kind"] not in out
                out[doc["kind"]] = doc
    return out


def pod(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def test_every_base_lists_exactly_its_files(tree: dict[str, Artifact]) -> None:
    for path, art in tree.items():
        if path.startswith("kustomize/base/") and path.endswith("/kustomization.yaml"):
            folder = path.rsplit("/", 1)[0]
            listed = sorted(art.content["resources"])  # type: ignore[index]
            present = sorted(p.rsplit("/", 1)[1] for p in tree if p.startswith(folder + "/") and p != path)
            assert listed == present


def test_every_object_has_labels_source_annotation_and_wave(tree: dict[str, Artifact], front: Front) -> None:
    waves = front.graph.wave_of()
    seen = 0
    for path, art in tree.items():
        if path.endswith("kustomization.yaml") or "/patches/" in path:
            continue
        for doc in docs(art):
            seen += 1
            meta = doc["metadata"]
            assert meta["labels"]["app.kubernetes.io/managed-by"] == "mpc", path
            assert meta["labels"]["app.kubernetes.io/part-of"] == "shapes", path
            assert meta["labels"]["team"] == "core", path
            source = meta["annotations"]["masterproxy.dev/source"]
            assert source.startswith("mesh.yaml#"), path
            if path.startswith("kustomize/base/"):  # a service's objects name its entry
                assert source == f"mesh.yaml#services.{path.split('/')[2]}", path
            wave = int(meta["annotations"]["argocd.argoproj.io/sync-wave"])
            if path.startswith("kustomize/base/"):
                assert wave == waves[path.split("/")[2]], path
    assert seen > 40


def test_sync_waves_put_dependencies_first(tree: dict[str, Artifact]) -> None:
    def wave(service: str) -> int:
        sa = base_objects(tree, service)["ServiceAccount"]
        return int(sa["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])

    assert wave("db") < wave("api")
    assert wave("infer") < wave("api")
    assert wave("db") < wave("jobs")


def test_hardened_pods(tree: dict[str, Artifact], front: Front) -> None:
    for name in front.model.services:
        objs = base_objects(tree, name)
        workload = objs.get("Deployment") or objs["StatefulSet"]
        spec = pod(workload)
        assert spec["automountServiceAccountToken"] is False
        assert objs["ServiceAccount"]["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = spec["containers"]
        ctx = container["securityContext"]
        assert ctx["runAsUser"] == ctx["runAsGroup"] == 10001
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"] == {"drop": ["ALL"]}
        assert container["imagePullPolicy"] == "Always"
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert {"name": "tmp", "emptyDir": {}} in spec["volumes"]
        assert set(container["resources"]) == {"requests", "limits"}
        assert workload["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": name}


def test_web_with_env_secrets_oauth2_autoscale(tree: dict[str, Artifact]) -> None:
    objs = base_objects(tree, "api")
    assert set(objs) == {
        "ServiceAccount",
        "ConfigMap",
        "Service",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }
    assert objs["ConfigMap"]["data"] == {"FEATURE_X": "on", "LOG_LEVEL": "info"}
    (container,) = pod(objs["Deployment"])["containers"]
    assert container["envFrom"] == [{"configMapRef": {"name": objs["ConfigMap"]["metadata"]["name"]}}]
    env = {e["name"]: e for e in container["env"]}
    assert env["DB_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "db-credentials", "key": "password"}}
    assert env["OAUTH2_CLIENT_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "api-oauth2-client", "key": "client-secret"}
    }
    assert "value" not in env["OAUTH2_CLIENT_SECRET"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/ready", "port": 8080}
    # The HPA owns the replica count; the workload does not fight it.
    assert "replicas" not in objs["Deployment"]["spec"]
    hpa = objs["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert hpa["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 75,
    }
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"}
    assert objs["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    service = objs["Service"]["spec"]
    assert "clusterIP" not in service
    assert service["ports"] == [
        {"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP", "appProtocol": "http"}
    ]


def test_stateful_is_a_statefulset_with_claim_headless_service_and_peer_discovery(
    tree: dict[str, Artifact],
) -> None:
    objs = base_objects(tree, "db")
    assert "Deployment" not in objs
    sts = objs["StatefulSet"]
    assert sts["spec"]["serviceName"] == "db"
    assert sts["spec"]["replicas"] == 3
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    (container,) = pod(sts)["containers"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in container["volumeMounts"]
    assert objs["Service"]["spec"]["clusterIP"] == "None"
    assert container["readinessProbe"]["tcpSocket"] == {"port": 5432}
    env = [e["name"] for e in container["env"]]
    # The namespace is defined before the query that expands it.
    assert env.index("POD_NAMESPACE") < env.index("CLUSTER_DNS_QUERY")
    query = next(e for e in container["env"] if e["name"] == "CLUSTER_DNS_QUERY")
    assert query["value"] == "db.$(POD_NAMESPACE).svc.cluster.local"
    ip = next(e for e in container["env"] if e["name"] == "POD_IP")
    assert ip["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}


def test_worker_has_no_service_no_port_and_a_documented_probe_skip(tree: dict[str, Artifact]) -> None:
    objs = base_objects(tree, "jobs")
    assert set(objs) == {"ServiceAccount", "Deployment"}  # one replica: no PDB either
    (container,) = pod(objs["Deployment"])["containers"]
    assert "ports" not in container
    assert "livenessProbe" not in container and "readinessProbe" not in container
    skips = {
        v.split("=", 1)[0]: v.split("=", 1)[1]
        for k, v in objs["Deployment"]["metadata"]["annotations"].items()
        if k.startswith("checkov.io/skip")
    }
    assert {"CKV_K8S_8", "CKV_K8S_9"} <= set(skips)
    assert all(reason.strip() for reason in skips.values())


def test_ai_inference_requests_gpus_tolerates_gpu_nodes_and_caches_models(tree: dict[str, Artifact]) -> None:
    objs = base_objects(tree, "infer")
    spec = pod(objs["Deployment"])
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert container["resources"]["requests"]["nvidia.com/gpu"] == "2"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert {"name": "model-cache", "emptyDir": {}} in spec["volumes"]
    assert {"name": "model-cache", "mountPath": "/models"} in container["volumeMounts"]
    assert container["readinessProbe"]["grpc"] == {"port": 9000}
    assert container["startupProbe"]["failureThreshold"] * container["startupProbe"]["periodSeconds"] >= 300
    # The GKE overlay pins the accelerator the cluster's GPU pool declares.
    patch = tree["kustomize/overlays/prod/gke-a/app/patches/infer.yaml"].content
    assert patch["spec"]["template"]["spec"]["nodeSelector"] == {  # type: ignore[index]
        "cloud.google.com/gke-accelerator": "nvidia-l4"
    }


def test_ledger_node_spreads_over_nodes_with_peer_port_and_max_unavailable(tree: dict[str, Artifact]) -> None:
    objs = base_objects(tree, "chain")
    sts = objs["StatefulSet"]
    (term,) = pod(sts)["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term == {
        "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "chain"}},
        "topologyKey": "kubernetes.io/hostname",
    }
    assert objs["PodDisruptionBudget"]["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "chain"}},
    }
    ports = {p["name"]: p["port"] for p in objs["Service"]["spec"]["ports"]}
    assert ports == {"http": 8545, "p2p": 26656}
    assert objs["Service"]["spec"]["clusterIP"] == "None"
    assert len(sts["spec"]["volumeClaimTemplates"]) == 1


def test_udp_service_port_is_udp_and_unprobed(tree: dict[str, Artifact]) -> None:
    objs = base_objects(tree, "sensors")
    (port,) = objs["Service"]["spec"]["ports"]
    assert (port["name"], port["protocol"]) == ("udp", "UDP")
    (container,) = pod(objs["Deployment"])["containers"]
    assert "readinessProbe" not in container


def test_overlay_layout_namespace_and_placement_patches(tree: dict[str, Artifact]) -> None:
    root = tree["kustomize/overlays/dev/gke-a/kustomization.yaml"].content
    assert isinstance(root, Mapping)
    assert "namespace" not in root
    assert root["resources"][0] == "app"
    assert "../../../crds" in root["resources"]
    app = tree["kustomize/overlays/dev/gke-a/app/kustomization.yaml"].content
    assert isinstance(app, Mapping)
    assert app["namespace"] == "shapes-dev"
    assert "../../../../base/api" in app["resources"]
    (ns,) = docs(tree["kustomize/overlays/dev/gke-a/app/namespace.yaml"])
    assert ns["metadata"]["name"] == "shapes-dev"
    assert ns["metadata"]["labels"]["istio-injection"] == "enabled"
    infer = tree["kustomize/overlays/dev/gke-a/app/patches/infer.yaml"].content
    assert infer["spec"]["replicas"] == 1  # type: ignore[index]
    # dev runs one replica of infer: its PDB (minAvailable 1) would block every drain, so it goes.
    delete = tree["kustomize/overlays/dev/gke-a/app/patches/infer-pdb.yaml"].content
    assert delete == {
        "$patch": "delete",
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "infer"},
    }
    assert "kustomize/overlays/prod/gke-a/app/patches/infer-pdb.yaml" not in tree
    paths = [p["path"] for p in app["patches"]]
    assert "patches/infer-pdb.yaml" in paths


def test_overlay_adds_a_pdb_where_the_environment_runs_more_replicas_than_the_base() -> None:
    text = MESH.replace("  replicas: 2\ngateway:", "  replicas: 1\ngateway:").replace(
        "  prod: {clusters: [gke-a]}", "  prod: {clusters: [gke-a], replicas: 3}"
    )
    tree = {a.path: a for a in render(front_text(text), ["kustomize"]).artifacts}
    assert "kustomize/base/infer/pdb.yaml" not in tree
    added = tree["kustomize/overlays/prod/gke-a/app/infer-pdb.yaml"]
    (pdb,) = docs(added)
    assert pdb["kind"] == "PodDisruptionBudget" and pdb["spec"]["minAvailable"] == 1
    app = tree["kustomize/overlays/prod/gke-a/app/kustomization.yaml"].content
    assert "infer-pdb.yaml" in app["resources"]  # type: ignore[index]
    assert "kustomize/overlays/dev/gke-a/app/infer-pdb.yaml" not in tree


def test_service_monitors_and_slo_rules(tree: dict[str, Artifact]) -> None:
    objs = docs(tree["kustomize/overlays/prod/gke-a/app/monitoring.yaml"])
    monitors = [o for o in objs if o["kind"] == "PodMonitor"]
    # Every service that receives traffic (not the worker); its sidecar reports the Istio metrics the
    # SLOs are written over, whatever the service's protocol.
    assert {o["metadata"]["name"] for o in monitors} == {"api", "infer", "db", "chain", "sensors"}
    (endpoint,) = monitors[0]["spec"]["podMetricsEndpoints"]
    assert endpoint == {"port": "http-envoy-prom", "path": "/stats/prometheus", "interval": "30s"}
    (rule,) = [o for o in objs if o["kind"] == "PrometheusRule"]
    rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    records = {r["record"] for r in rules if "record" in r}
    assert {f"slo:sli_error:ratio_rate{w}" for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d")} == records
    burn = [r for r in rules if r.get("alert") == "SLOErrorBudgetBurn"]
    assert {r["labels"]["severity"] for r in burn} == {"page", "ticket"}
    page = next(r for r in burn if r["labels"]["severity"] == "page")
    # 99.5% availability: a budget of 0.005; the fast windows burn at 14.4x, the slow at 6x.
    assert "(14.4 * 0.005)" in page["expr"] and "(6 * 0.005)" in page["expr"]
    assert "ratio_rate1h" in page["expr"] and "ratio_rate5m" in page["expr"]
    record = next(r for r in rules if r.get("record") == "slo:sli_error:ratio_rate5m")
    assert 'istio_requests_total{reporter="destination",destination_service_name="api"' in record["expr"]
    assert 'destination_service_namespace="shapes-prod"' in record["expr"]
    assert 'response_code=~"5.."' in record["expr"]
    latency = next(r for r in rules if r.get("alert") == "SLOLatencyP99")
    assert latency["expr"].startswith("histogram_quantile(0.99,")
    assert "istio_request_duration_milliseconds_bucket" in latency["expr"]
    assert latency["expr"].endswith("> 300")


def test_crd_carries_the_structural_schema_and_instances_follow_the_environment(
    tree: dict[str, Artifact], front: Front
) -> None:
    (crd,) = docs(tree["kustomize/crds/pipelines.shapes.dev.yaml"])
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["spec"]["names"]["plural"] == "pipelines" and crd["spec"]["scope"] == "Namespaced"
    (version,) = crd["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    assert schema["properties"]["spec"] == front.model.custom_resources[0].spec_schema()
    for env in ("dev", "prod"):
        (inst,) = docs(tree[f"kustomize/overlays/{env}/gke-a/app/custom-resources.yaml"])
        assert (inst["apiVersion"], inst["kind"]) == ("shapes.dev/v1alpha1", "Pipeline")
        jsonschema.validate(inst, schema)
    bad = {
        "apiVersion": "shapes.dev/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "x"},
        "spec": {"source": "s3://in", "parallelism": 9, "mode": "trickle"},
    }
    errors = sorted(e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(bad))
    assert len(errors) == 2 and any("9" in e for e in errors) and any("trickle" in e for e in errors)


def test_an_instance_violating_its_schema_is_a_located_error() -> None:
    text = MESH.replace('{source: "s3://in", parallelism: 2, mode: batch}', "{parallelism: 0, mode: batch}")
    with pytest.raises(MpcError) as caught:
        front_text(text)
    found = [d for d in caught.value.diagnostics if d.code == "E207"]
    assert len(found) == 2  # the missing required field and the value under its minimum
    line = text.splitlines().index("      - {name: nightly, spec: {parallelism: 0, mode: batch}}") + 1
    assert all(d.location.line == line for d in found)


def test_rendering_is_deterministic(front: Front) -> None:
    from conftest import to_files

    first = to_files(render(front, ["kustomize"]).artifacts)
    again = to_files(render(front_text(MESH), ["kustomize"]).artifacts)
    assert first == again
