"""The real applications (examples/online-boutique, examples/bookinfo) and the language they need.

- Online Boutique's own NetworkPolicies (tests/upstream/, copied with their source and licence) against
  mpc's, evaluated as Kubernetes does: the same (caller, callee, port) triples, but for the differences
  listed in the test.
- External entries by address, `${...}` per environment, versions in the Istio objects, and the pod
  template hash that rolls the pods when env or files change (a golden diff shows it).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, ROOT, run_mpc, tree_of
from netpol import Address, Pod, allowed
from realtools import kustomize_docs

from mpc.workflow.front import front_text

BOUTIQUE = EXAMPLES / "online-boutique" / "mesh.yaml"
BOOKINFO = EXAMPLES / "bookinfo" / "mesh.yaml"
UPSTREAM_POLICIES = ROOT / "tests" / "upstream" / "online-boutique-network-policies.yaml"
CHANGES = ROOT / "tests" / "golden_changes"
PROBE_PORT = 9999  # a port no service listens on: a policy that admits it admits every port


def _build(mesh: Path | str, out: Path) -> Path:
    source = mesh
    if isinstance(mesh, str):
        folder = out.parent / f"{out.name}-src"
        folder.mkdir()
        source = folder / "mesh.yaml"  # the same name for every build: annotations name the file
        source.write_text(mesh)
    result = run_mpc("build", source, "-o", out, "-q")
    assert result.code == 0, result.err
    return out


def _overlay(out: Path, path: str = "kustomize/overlays/default") -> list[dict[str, Any]]:
    return kustomize_docs(out / path)


# --- Online Boutique against its upstream NetworkPolicies ---------------------------------------------

# The container ports upstream's Deployments declare, by app label.
UPSTREAM_PORTS = {
    "adservice": 9555,
    "cartservice": 7070,
    "checkoutservice": 5050,
    "currencyservice": 7000,
    "emailservice": 8080,
    "frontend": 8080,
    "loadgenerator": None,
    "paymentservice": 50051,
    "productcatalogservice": 3550,
    "recommendationservice": 8080,
    "redis-cart": 6379,
    "shippingservice": 50051,
}
NAMESPACE = "online-boutique"


def _triples(
    policies: Sequence[Mapping[str, Any]], pods: Mapping[str, Pod], ports: Mapping[str, int | None]
) -> set[tuple[str, str, int]]:
    """Every (caller, callee, port) the policies allow, on the callee's own port and on a probe port."""
    out = set()
    for caller, source in pods.items():
        for callee, target in pods.items():
            own = ports.get(callee)
            for port in {p for p in (own, PROBE_PORT) if p is not None}:
                if allowed(policies, source, target, port):
                    out.add((caller, callee, port))
    return out


def _upstream() -> set[tuple[str, str, int]]:
    policies = [d for d in yaml.safe_load_all(UPSTREAM_POLICIES.read_text()) if d]
    for policy in policies:
        policy["metadata"]["namespace"] = NAMESPACE
    pods = {name: Pod(NAMESPACE, {"app": name}) for name in UPSTREAM_PORTS}
    return _triples(policies, pods, UPSTREAM_PORTS)


def test_boutique_policies_allow_upstreams_calls_and_only_the_listed_differences(tmp_path: Path) -> None:
    objects = _overlay(_build(BOUTIQUE, tmp_path / "out"))
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    gateway = "boutique-gateway"
    names = [*UPSTREAM_PORTS, gateway]
    pods = {name: Pod(NAMESPACE, {"app.kubernetes.io/name": name}) for name in names}
    ours = _triples(policies, pods, {**UPSTREAM_PORTS, gateway: 8080})
    upstream = _upstream()

    # Intended differences, each for a reason:
    # 1. Upstream lets every pod reach the frontend on every port (ingress: [{}]); here only the master
    #    proxy (which replaces the frontend-external LoadBalancer) and the load generator that declares
    #    the call, on the frontend's container port.
    assert {(c, "frontend", PROBE_PORT) for c in UPSTREAM_PORTS} <= upstream
    assert {t for t in ours if t[1] == "frontend"} == {
        (gateway, "frontend", 8080),
        ("loadgenerator", "frontend", 8080),
    }
    # 2. The master proxy is mpc's own pod: it reaches the frontend only, and nothing reaches it from
    #    inside the namespace (its listener is for the outside world).
    assert {t for t in ours if gateway in t[:2]} == {(gateway, "frontend", 8080)}
    # Between the services, exactly upstream's triples (redis-cart is stateful here, but one pod that does
    # not replicate: no traffic with itself, as upstream).
    in_namespace = {t for t in upstream if t[1] != "frontend"}
    ours_between_services = {t for t in ours if t[1] != "frontend" and gateway not in t[:2]}
    assert ours_between_services == in_namespace

    # 3. No egress to anywhere: upstream's egress: [{}] lets every pod reach any address and port.
    internet = Address("203.0.113.10")
    for name in UPSTREAM_PORTS:
        upstream_policies = [d for d in yaml.safe_load_all(UPSTREAM_POLICIES.read_text()) if d]
        for p in upstream_policies:
            p["metadata"]["namespace"] = NAMESPACE
        assert allowed(upstream_policies, Pod(NAMESPACE, {"app": name}), internet, 443), name
        assert not allowed(policies, pods[name], internet, 443), name


# --- external entries by address ----------------------------------------------------------------------

EXTERNAL_MESH = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata: {name: shop}
gateway:
  name: edge
  port: 4000
  routes: [{prefix: /api, service: api}]
services:
  api:
    image: ghcr.io/shop/api:1.0.0
    port: 8080
    dependsOn: [memorystore, metadata, stripe]
    env:
      REDIS_ADDR: ${memorystore.address}
      METADATA_HOST: ${metadata.host}
external:
  memorystore: {addresses: [10.20.0.3/32], port: 6379, protocol: tcp}
  metadata: {host: metadata.google.internal, addresses: [169.254.169.254/32], port: 80, protocol: http}
  stripe: {host: api.stripe.com, port: 443}
  ranges: {addresses: [10.30.0.0/16], port: 5432, protocol: tcp}
"""


def test_an_external_entry_by_address_opens_exactly_that_address_and_port(tmp_path: Path) -> None:
    out = _build(EXTERNAL_MESH, tmp_path / "out")
    objects = _overlay(out)
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    api = Pod("shop", {"app.kubernetes.io/name": "api"})
    # The private address named, on its port, and nothing next to it or on another port.
    assert allowed(policies, api, Address("10.20.0.3"), 6379)
    assert not allowed(policies, api, Address("10.20.0.4"), 6379)
    assert not allowed(policies, api, Address("10.20.0.3"), 6380)
    # The metadata server only because it is named, and only on port 80.
    assert allowed(policies, api, Address("169.254.169.254"), 80)
    assert not allowed(policies, api, Address("169.254.169.254"), 443)
    # A host without addresses: public addresses only, never a private one.
    assert allowed(policies, api, Address("203.0.113.7"), 443)
    assert not allowed(policies, api, Address("10.20.0.3"), 443)
    # The entry nobody depends on opens nothing.
    assert not allowed(policies, api, Address("10.30.0.1"), 5432)

    se = {
        p.stem: next(yaml.safe_load_all(p.read_text()))["spec"]
        for p in (out / "istio/default/external").glob("*.yaml")
    }
    assert se["memorystore"]["addresses"] == ["10.20.0.3/32"]
    assert se["memorystore"]["resolution"] == "STATIC"
    assert se["memorystore"]["endpoints"] == [{"address": "10.20.0.3"}]
    assert se["memorystore"]["hosts"] == ["memorystore.external"]
    assert se["metadata"]["hosts"] == ["metadata.google.internal"]
    assert se["ranges"]["resolution"] == "NONE" and "endpoints" not in se["ranges"]
    assert se["stripe"]["resolution"] == "DNS" and "addresses" not in se["stripe"]
    config = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "api-env")
    assert config["data"] == {"REDIS_ADDR": "10.20.0.3:6379", "METADATA_HOST": "metadata.google.internal"}


# --- ${...} per environment ---------------------------------------------------------------------------

ENVIRONMENTS_MESH = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata: {name: shop}
gateway:
  name: edge
  port: 4000
  routes: [{prefix: /api, service: api}]
services:
  api:
    image: ghcr.io/shop/api:1.0.0
    port: 8080
    dependsOn: [cart]
    env:
      CART_ADDR: ${cart.address}
      CART_METRICS: ${cart.ports.metrics}
      SELF: ${self.host}
      PLAIN: $${kept}
  cart:
    image: ghcr.io/shop/cart:1.0.0
    ports:
      - {name: grpc, port: 7070, protocol: grpc}
      - {name: metrics, port: 9090, targetPort: 19090}
environments:
  staging: {}
  prod: {namespace: shop-live}
"""


def test_env_references_resolve_to_each_environments_namespace(tmp_path: Path) -> None:
    out = _build(ENVIRONMENTS_MESH, tmp_path / "out")
    for env, namespace in (("staging", "shop-staging"), ("prod", "shop-live")):
        objects = _overlay(out, f"kustomize/overlays/{env}")
        (config,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "api-env"]
        assert config["data"] == {
            "CART_ADDR": f"cart.{namespace}.svc.cluster.local:7070",
            "CART_METRICS": "9090",  # the Service port a caller dials, not the target port
            "SELF": f"api.{namespace}.svc.cluster.local",
            "PLAIN": "${kept}",
        }, env
        (deployment,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "api"]
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert "masterproxy.dev/config-hash" in annotations
    hashes = {
        env: next(
            o
            for o in _overlay(out, f"kustomize/overlays/{env}")
            if o["kind"] == "Deployment" and o["metadata"]["name"] == "api"
        )["spec"]["template"]["metadata"]["annotations"]["masterproxy.dev/config-hash"]
        for env in ("staging", "prod")
    }
    assert hashes["staging"] != hashes["prod"]  # different values, different hash


def test_a_reference_outside_depends_on_is_a_located_error(tmp_path: Path) -> None:
    text = ENVIRONMENTS_MESH.replace("    dependsOn: [cart]\n", "")
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(text)
    result = run_mpc("validate", mesh)
    assert result.code == 2
    assert "mesh.yaml:13:18: error[E317]: services.api.env.CART_ADDR: ${cart.address}: 'cart' is not in" in (
        result.err.replace(f"{tmp_path}/", "")
    )
    # cart is then called by nobody: a warning says so.
    assert "warning[W303]: service 'cart'" in result.err


# --- versions -----------------------------------------------------------------------------------------


def test_bookinfo_reviews_versions_in_the_istio_objects() -> None:
    front = front_text(BOOKINFO.read_text(), "mesh.yaml")
    from mpc.workflow.front import render

    docs = {
        (d["kind"], d["metadata"]["name"]): d
        for art in render(front, ["istio"]).artifacts
        if art.path.startswith("istio/")
        and not art.path.endswith("kustomization.yaml")
        and not isinstance(art.content, str)
        for d in ([art.content] if isinstance(art.content, Mapping) else art.content)
    }
    rule = docs[("DestinationRule", "reviews")]["spec"]
    assert rule["subsets"] == [{"name": v, "labels": {"version": v}} for v in ("v1", "v2", "v3")]
    http = docs[("VirtualService", "reviews")]["spec"]["http"]
    host = "reviews.bookinfo.svc.cluster.local"
    v3 = [{"destination": {"host": host, "port": {"number": 9080}, "subset": "v3"}}]
    # The header match first, whatever the weights (v3 has weight 0), in each retry class (safe retries:
    # idempotent methods, then the rest); then the weighted split in the same classes.
    headed = [r for r in http if any("headers" in m for m in r.get("match", []))]
    assert http[: len(headed)] == headed
    assert [r["name"] for r in headed] == ["v3-idempotent", "v3-other-methods"]
    for route in headed:
        assert route["route"] == v3
        assert all(m["headers"] == {"end-user": {"exact": "jason"}} for m in route["match"])
    splits = http[len(headed) :]
    assert [r["name"] for r in splits] == ["idempotent", "other-methods"]
    for route in splits:
        assert {r["destination"]["subset"]: r["weight"] for r in route["route"]} == {"v1": 90, "v2": 10}
        assert sum(r["weight"] for r in route["route"]) == 100


def test_each_version_is_a_deployment_the_one_service_selects(tmp_path: Path) -> None:
    objects = _overlay(_build(BOOKINFO, tmp_path / "out"))
    deployments = {
        o["metadata"]["name"]: o
        for o in objects
        if o["kind"] == "Deployment" and "reviews" in o["metadata"]["name"]
    }
    assert set(deployments) == {"reviews-v1", "reviews-v2", "reviews-v3"}
    (service,) = [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "reviews"]
    for name, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["version"] == name.split("-")[1]
        assert all(labels[k] == v for k, v in service["spec"]["selector"].items())
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "reviews"  # one identity for every version
        mounts = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert "/opt/ibm/wlp/output" in mounts


# --- the pod template hash ----------------------------------------------------------------------------


def _tree_diff(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> str:
    lines: list[str] = []
    for path in sorted(before.keys() | after.keys()):
        a, b = before.get(path, b""), after.get(path, b"")
        if a == b or path == "mpc.lock":
            continue
        lines.extend(
            difflib.unified_diff(
                a.decode().splitlines(), b.decode().splitlines(), f"a/{path}", f"b/{path}", lineterm="", n=0
            )
        )
    return "\n".join(lines) + "\n"


WLP = "      - {name: wlp-output, mountPath: /opt/ibm/wlp/output, emptyDir: {}}   # Liberty writes here\n"


@pytest.mark.parametrize(
    ("case", "old", "new"),
    [
        ("bookinfo-env", "env: {LOG_DIR: /tmp/logs}", "env: {LOG_DIR: /tmp/log}"),
        (
            "bookinfo-files",
            WLP,
            WLP + '      - {name: conf, mountPath: /etc/reviews, files: {color: "red\\n"}}\n',
        ),
    ],
)
def test_changing_env_or_files_changes_the_pod_template_hash(
    case: str, old: str, new: str, tmp_path: Path, update_golden: bool
) -> None:
    text = BOOKINFO.read_text()
    assert old in text
    before = tree_of(_build(text, tmp_path / "before"))
    after = tree_of(_build(text.replace(old, new), tmp_path / "after"))
    diff = _tree_diff(before, after)
    golden = CHANGES / f"{case}.diff"
    if update_golden:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(diff)
    assert golden.exists(), f"no {golden.name}: run pytest --update-golden and review it"
    assert diff == golden.read_text()
    # Every version's pod template changes, so every version's pods roll.
    for version in ("v1", "v2", "v3"):
        path = f"kustomize/base/reviews/deployment-reviews-{version}.yaml"
        assert before[path] != after[path], path
        assert f"+++ b/{path}" in diff and "masterproxy.dev/config-hash" in diff


# --- mpc diff: call scopes and weights ----------------------------------------------------------------


def test_diff_reports_a_widened_or_narrowed_call_as_a_security_change() -> None:
    from conftest import diff_texts

    from mpc.workflow.report import markdown, to_json

    text = BOUTIQUE.read_text()
    narrowed = "      - {service: cartservice, methods: [POST], paths: *cart-calls}\n"
    assert narrowed in text
    widened = text.replace(narrowed, "      - cartservice\n")
    report = diff_texts(text, widened, "old.yaml", "mesh.yaml", ("gitops",))
    (scope,) = report.security.scopes
    assert (scope.caller, scope.callee, scope.change) == ("checkoutservice", "cartservice", "widened")
    assert scope.new == "every request" and scope.old.startswith("methods POST; paths /hipstershop")
    assert report.security.changed and not report.security.calls_added  # the same pair, more requests
    assert "**call widened**: `checkoutservice` → `cartservice`" in markdown(report)
    assert to_json(report)["security"]["callScopes"][0]["change"] == "widened"
    back = diff_texts(widened, text, "old.yaml", "mesh.yaml", ("gitops",))
    assert [s.change for s in back.security.scopes] == ["narrowed"]


def test_diff_names_weight_changes() -> None:
    from conftest import diff_texts

    from mpc.workflow.report import markdown, to_json

    text = BOOKINFO.read_text()
    shifted = text.replace("reviews-v2:1.20.1, weight: 10}", "reviews-v2:1.20.1, weight: 50}")
    report = diff_texts(text, shifted, "old.yaml", "mesh.yaml", ("gitops",))
    assert {(w.version, w.old, w.new) for w in report.weights} == {("v1", 90, 50), ("v2", 10, 50)}
    assert "- `reviews` version `v2`: 10% → 50%" in markdown(report)
    assert to_json(report)["traffic"]["weights"][0] == {
        "service": "reviews",
        "version": "v1",
        "old": 90,
        "new": 50,
    }


@pytest.mark.slow
@pytest.mark.parametrize("mesh", [BOUTIQUE, BOOKINFO], ids=["online-boutique", "bookinfo"])
def test_the_real_applications_build_with_every_validator(mesh: Path, tmp_path: Path) -> None:
    """`mpc build --validate`: kubectl kustomize and kubernetes-validate on every overlay, Istio's schemas,
    envoy --mode validate on every bootstrap, HCL, the GitOps objects, and mpc verify."""
    result = run_mpc("build", mesh, "-o", tmp_path / "out", "--validate")
    assert result.code == 0, result.err
    # Warnings may stand (redis:alpine follows releases; upstream's retry chains), errors never.
    assert "error[" not in result.err, result.err


NARROWED_PORTS_MESH = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata: {name: shop}
gateway:
  name: edge
  port: 4000
  routes: [{prefix: /api, service: api}]
services:
  api:
    image: ghcr.io/shop/api:1.0.0
    port: 8080
    dependsOn: [{service: cart, ports: [grpc]}, search]
  cart:
    image: ghcr.io/shop/cart:1.0.0
    ports:
      - {name: grpc, port: 7070, protocol: grpc}
      - {name: admin, port: 9000, targetPort: 19000}
  search:
    image: ghcr.io/shop/search:1.0.0
    port: 8080
"""


def test_a_call_narrowed_to_ports_reaches_only_those_ports(tmp_path: Path) -> None:
    from crdcheck import problems

    out = _build(NARROWED_PORTS_MESH, tmp_path / "out")
    objects = _overlay(out)
    sidecar = next(o for o in objects if o["kind"] == "Sidecar" and o["metadata"]["name"] == "api")
    listener, catch_all = sidecar["spec"]["egress"]
    assert listener == {
        "port": {"number": 7070, "protocol": "GRPC", "name": "grpc-7070"},
        "hosts": ["./cart.shop.svc.cluster.local"],
    }
    assert "./search.shop.svc.cluster.local" in catch_all["hosts"]
    assert "./cart.shop.svc.cluster.local" not in catch_all["hosts"]
    assert problems(sidecar) == []  # the real CRD, CEL rules included
    from mpc.backends.istio.validate import problems as istio_problems

    assert istio_problems(sidecar) == []  # Istio's own models, unknown fields refused
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    api = Pod("shop", {"app.kubernetes.io/name": "api"})
    cart = Pod("shop", {"app.kubernetes.io/name": "cart"})
    assert allowed(policies, api, cart, 7070)
    assert not allowed(policies, api, cart, 19000)


# --- mpc verify reads narrowed calls ------------------------------------------------------------------


def _widen_cart_operation(out: Path) -> None:
    path = out / "istio/default/services/cartservice.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for doc in docs:
        if doc["kind"] == "AuthorizationPolicy":
            for rule in doc["spec"]["rules"]:
                for to in rule.get("to", []):
                    to["operation"].pop("paths", None)  # any method path now, not the three calls
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def test_verify_knows_the_narrowed_calls(tmp_path: Path) -> None:
    out = _build(BOUTIQUE, tmp_path / "out")
    clean = run_mpc("verify", out, "--mesh", BOUTIQUE)
    assert clean.code == 0 and "error[" not in clean.err, clean.err
    _widen_cart_operation(out)
    widened = run_mpc("verify", out, "--mesh", BOUTIQUE, "--format", "json")
    assert widened.code == 1
    report = json.loads(widened.out)
    wrong = [
        (c["from"], c["to"])
        for o in report["overlays"]
        for c in o["cells"]
        for layer, answer in c["layers"].items()
        if layer == "authorization"
        for entry in answer
        if entry["allowed"] != entry["meant"]
    ]
    assert wrong and {pair[0] for pair in wrong} <= {"frontend", "checkoutservice"}


def test_the_graph_carries_the_narrowing_on_the_edge() -> None:
    result = run_mpc("graph", BOUTIQUE, "--format", "json")
    assert result.code == 0, result.err
    edges = {(e["from"], e["to"]): e for e in json.loads(result.out)["edges"] if e["kind"] == "calls"}
    cart = edges[("service:frontend", "service:cartservice")]
    assert cart["methods"] == ["POST"] and len(cart["paths"]) == 3
    assert "methods" not in edges[("service:frontend", "service:adservice")]  # a whole call
