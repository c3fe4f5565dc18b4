"""Every example's overlays through the real tools: kubectl kustomize, kubernetes-validate, checkov.

Also interprets the rendered NetworkPolicies (Kubernetes semantics, below) to prove they allow exactly
the graph's edges, and runs the backend's own `validate` hook on good and broken trees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from conftest import example_meshes, to_files
from netpol import Address, Pod, side_allows
from realtools import checkov_scan, kubectl_binary, kustomize
from ruamel.yaml import YAML

from mpc.graph.front import Front
from mpc.render import k8s
from mpc.render.api import Artifact
from mpc.workflow.front import front_file, render

pytestmark = pytest.mark.slow

EXAMPLES = example_meshes()
KUBERNETES = "1.31"
# "kustomize" alone, and every installed backend: the overlay is then the cluster's whole desired state.
BACKEND_SETS: dict[str, list[str] | None] = {"kustomize": ["kustomize"], "all": None}
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}


@dataclass
class Rendered:
    front: Front
    root: Path
    artifacts: list[Artifact]
    overlays: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # overlay path -> objects
    texts: dict[str, str] = field(default_factory=dict)


def write(files: Mapping[str, bytes], root: Path) -> None:
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def build(mesh: Path, backends: list[str] | None, root: Path) -> Rendered:
    front = front_file(mesh, "mesh.yaml")
    artifacts = render(front, backends).artifacts
    write(to_files(artifacts), root)
    out = Rendered(front, root, artifacts)
    for overlay in front.model.overlays:
        result = kustomize(root / overlay.path)
        assert result.returncode == 0, f"{overlay.path}: {result.stderr}"
        out.texts[overlay.path] = result.stdout
        out.overlays[overlay.path] = [
            d for d in YAML(typ="safe", pure=True).load_all(result.stdout) if isinstance(d, dict)
        ]
    return out


CASES = [(mesh, name) for mesh in EXAMPLES for name in BACKEND_SETS]


@pytest.fixture(scope="module", params=CASES, ids=[f"{m.parent.name}-{n}" for m, n in CASES])
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    mesh, name = request.param
    return build(mesh, BACKEND_SETS[name], tmp_path_factory.mktemp(f"{mesh.parent.name}-{name}"))


# --- validity ---------------------------------------------------------------------------------------


def crd_schemas(objects: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for obj in objects:
        if obj["kind"] == "CustomResourceDefinition":
            for version in obj["spec"]["versions"]:
                key = (f"{obj['spec']['group']}/{version['name']}", obj["spec"]["names"]["kind"])
                out[key] = version["schema"]["openAPIV3Schema"]
    return out


def test_every_object_passes_strict_validation(rendered: Rendered) -> None:
    checked: set[str] = set()
    custom = 0
    problems: list[str] = []
    for path, objects in rendered.overlays.items():
        schemas = crd_schemas(objects)
        for obj in objects:
            name = f"{path}: {obj['kind']}/{obj['metadata']['name']}"
            schema = schemas.get((obj["apiVersion"], obj["kind"]))
            if schema is not None:
                custom += 1
                problems.extend(
                    f"{name}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(obj)
                )
                continue
            try:
                kubernetes_validate.validate(obj, KUBERNETES, strict=True)
            except kubernetes_validate.ValidationError as err:
                problems.append(f"{name}: {'.'.join(map(str, err.path))}: {err.message}")
            except kubernetes_validate.SchemaNotFoundError:
                # Not a Kubernetes kind: prometheus-operator and Istio objects, validated by their owners.
                assert obj["apiVersion"].split("/")[0].endswith(("coreos.com", "istio.io")), name
            else:
                checked.add(obj["kind"])
    assert problems == []
    assert {"Namespace", "ServiceAccount", "Service", "Deployment", "NetworkPolicy"} <= checked
    assert custom == sum(len(cr.instances) for cr in rendered.front.model.custom_resources) * len(
        rendered.overlays
    )


def test_each_overlay_is_the_environments_desired_state(rendered: Rendered) -> None:
    model = rendered.front.model
    for overlay in model.overlays:
        objects = rendered.overlays[overlay.path]
        # By the pods' name label: a service with versions runs one Deployment per version.
        workloads = {
            o["spec"]["template"]["metadata"]["labels"][k8s.NAME_LABEL]
            for o in objects
            if o["kind"] in ("Deployment", "StatefulSet") and o["metadata"]["namespace"] == overlay.namespace
        }
        expected = {s.name for s in model.services_in(overlay.environment)}
        assert expected <= workloads
        assert workloads - expected <= {model.gateway.name}
        for obj in objects:
            namespace = obj["metadata"].get("namespace")
            if obj["kind"] in CLUSTER_SCOPED:
                assert namespace is None, obj["metadata"]["name"]
            else:
                assert namespace in (overlay.namespace, "istio-system"), (
                    obj["kind"],
                    obj["metadata"]["name"],
                )
        for svc in model.services_in(overlay.environment):
            names = [f"{svc.name}-{v.name}" for v in svc.versions] or [svc.name]
            placement = svc.placements[overlay.environment]
            for workload in (
                o for o in objects if o["kind"] == svc.archetype.workload and o["metadata"]["name"] in names
            ):
                (container,) = [
                    c for c in workload["spec"]["template"]["spec"]["containers"] if c["name"] == svc.name
                ]
                assert container["resources"]["requests"]["cpu"] == str(placement.resources.cpu)
                if svc.autoscale is None:
                    assert workload["spec"]["replicas"] == placement.replicas
            pdbs = [
                o for o in objects if o["kind"] == "PodDisruptionBudget" and o["metadata"]["name"] == svc.name
            ]
            floor = svc.autoscale.min if svc.autoscale else placement.replicas
            assert len(pdbs) == (1 if floor > 1 else 0), svc.name


# --- checkov ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mesh", EXAMPLES, ids=lambda p: p.parent.name)
def test_checkov_finds_nothing_in_the_rendered_overlays(mesh: Path, tmp_path: Path) -> None:
    rendered = build(mesh, None, tmp_path / "out")
    scan = tmp_path / "scan"
    scan.mkdir()
    files = []
    for path, text in rendered.texts.items():
        target = scan / (path.replace("/", "_") + ".yaml")
        target.write_text(text)
        files.append(target)
    reports = checkov_scan("kubernetes", files=files, cwd=tmp_path)
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for r in reports
        for c in r["results"]["failed_checks"]
    ]
    assert failed == []
    assert all(r["summary"]["parsing_errors"] == 0 for r in reports)
    assert sum(r["summary"]["passed"] for r in reports) > 100
    for r in reports:
        for skipped in r["results"]["skipped_checks"]:
            reason = skipped["check_result"].get("suppress_comment", "")
            assert reason and reason != "No comment provided", skipped["check_id"]


# --- NetworkPolicy semantics --------------------------------------------------------------------------

PUBLIC_IP = "203.0.113.10"  # any address outside the private ranges


@dataclass(frozen=True)
class Endpoint:
    name: str
    namespace: str | None  # None: outside the cluster
    labels: Mapping[str, str]
    ip: str
    ports: tuple[tuple[int, str], ...] = ()


def _endpoint(ep: Endpoint) -> Pod | Address:
    return Pod(ep.namespace, ep.labels, ep.ip) if ep.namespace is not None else Address(ep.ip)


class Policies:
    """Kubernetes NetworkPolicy semantics (tests/netpol.py), per direction, over an overlay's objects."""

    def __init__(self, objects: Sequence[Mapping[str, Any]]) -> None:
        self.items = [o for o in objects if o["kind"] == "NetworkPolicy"]

    def _allowed(self, subject: Endpoint, other: Endpoint, port: int, proto: str, direction: str) -> bool:
        side = "Ingress" if direction == "in" else "Egress"
        pod = _endpoint(subject)
        assert isinstance(pod, Pod)
        return side_allows(self.items, pod, side, _endpoint(other), port, proto)

    def ingress(self, dst: Endpoint, src: Endpoint) -> bool:
        return any(self._allowed(dst, src, port, proto, "in") for port, proto in dst.ports)

    def egress(self, src: Endpoint, dst: Endpoint, ports: Sequence[tuple[int, str]] | None = None) -> bool:
        return any(self._allowed(src, dst, port, proto, "out") for port, proto in (ports or dst.ports))


def pods(objects: Sequence[Mapping[str, Any]], namespace: str, gateway: str) -> dict[str, Endpoint]:
    out: dict[str, Endpoint] = {}
    for i, obj in enumerate(o for o in objects if o["kind"] in ("Deployment", "StatefulSet")):
        if obj["metadata"]["namespace"] != namespace:
            continue
        template = obj["spec"]["template"]
        ports = tuple(
            (p["containerPort"], p.get("protocol", "TCP"))
            for c in template["spec"]["containers"]
            for p in c.get("ports", [])
        )
        name = template["metadata"]["labels"][k8s.NAME_LABEL]  # the service, whichever version
        out[name] = Endpoint(name, namespace, template["metadata"]["labels"], f"10.8.0.{i + 1}", ports)
    # With the kustomize backend alone the master proxy is not rendered: stand in for its pods.
    out.setdefault(gateway, Endpoint(gateway, namespace, k8s.selector(gateway), "10.8.1.1", ()))
    return out


def test_network_policies_allow_exactly_the_graph_edges(rendered: Rendered) -> None:
    model, graph = rendered.front.model, rendered.front.graph
    gw = model.gateway.name
    for overlay in model.overlays:
        objects = rendered.overlays[overlay.path]
        policies = Policies(objects)
        endpoints = pods(objects, overlay.namespace, gw)
        present = {s.name: s for s in model.services_in(overlay.environment)}
        expected: set[tuple[str, str]] = set()
        for caller, callee in graph.allowed_calls():
            caller = gw if caller == f"gateway:{gw}" else caller
            if caller in endpoints and callee in present and present[callee].port is not None:
                expected.add((caller, callee))

        admitted = {
            (a, b) for a in endpoints for b in present if policies.ingress(endpoints[b], endpoints[a])
        }
        assert admitted == expected, overlay.path
        leaving = {(a, b) for a in present for b in endpoints if policies.egress(endpoints[a], endpoints[b])}
        assert leaving == {(a, b) for a, b in expected if a in present}, overlay.path
        if any(o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == gw for o in objects):
            from_gateway = {b for b in endpoints if policies.egress(endpoints[gw], endpoints[b])}
            assert from_gateway == {b for a, b in expected if a == gw}, overlay.path

        outside = Endpoint("internet", None, {}, PUBLIC_IP)
        dns = Endpoint("dns", "kube-system", {"k8s-app": "kube-dns"}, "10.9.0.10", ((53, "UDP"), (53, "TCP")))
        for name, svc in present.items():
            assert policies.egress(endpoints[name], dns), name
            external_ports = {model.external[e].port for e in svc.external}
            if svc.oauth2_client is not None and model.identity_provider is not None:
                external_ports.add(443)  # the identity provider (https) issues the client's tokens
            for port in external_ports | {443, 80, 5432}:
                reaches = policies.egress(endpoints[name], outside, [(port, "TCP")])
                assert reaches == (port in external_ports), (name, port)
            # No other pod in the cluster (another namespace) gets in.
            stranger = Endpoint("stranger", "elsewhere", endpoints[name].labels, "10.7.0.1")
            assert not policies.ingress(endpoints[name], stranger), name


# --- the backend's validate hook ------------------------------------------------------------------------


def test_validate_hook_passes_a_good_tree_and_reports_broken_ones(tmp_path: Path) -> None:
    kubectl_binary()
    from mpc.backends.kustomize import backend

    mesh = next(p for p in EXAMPLES if p.parent.name == "acme")
    front = front_file(mesh, "mesh.yaml")
    artifacts = render(front, ["kustomize"]).artifacts
    files = to_files(artifacts)
    write(files, tmp_path / "good")
    assert backend.validate(tmp_path / "good", artifacts) == []

    # An unknown field in a base: kubernetes-validate (strict) rejects it in every overlay that uses it.
    bad = dict(files)
    bad["kustomize/base/auth/serviceaccount.yaml"] += b"automountToken: true\n"
    write(bad, tmp_path / "bad")
    found = backend.validate(tmp_path / "bad", artifacts)
    assert {d.location.file for d in found} == {o.path for o in front.model.overlays}
    assert all(d.code == "E502" and "ServiceAccount/auth" in d.message for d in found)

    # A missing file: kubectl kustomize itself fails.
    broken = tmp_path / "broken"
    write(files, broken)
    (broken / "kustomize/base/brain/hpa.yaml").unlink()
    found = backend.validate(broken, artifacts)
    assert len(found) == len(front.model.overlays)
    assert all(d.code == "E502" and "kubectl kustomize failed" in d.message for d in found)
