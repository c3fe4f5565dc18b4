"""Helpers for the istio backend's tests: render in-process; interpret AuthorizationPolicies as Istio does.

No tests here; the interpreter is shared by the authorization tests and the property test.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpc.graph.front import Front
from mpc.lang.model import Model
from mpc.render import k8s
from mpc.render.api import Artifact
from mpc.workflow.front import front_file, front_text
from mpc.workflow.front import render as render_backends

EXTERNAL = "<outside the mesh>"


def render(front: Front) -> list[Artifact]:
    """The istio backend's files: the mesh-wide ones and every service's own."""
    return render_backends(front, ["istio"]).artifacts


def render_file(path: Path) -> tuple[Front, list[Artifact]]:
    front = front_file(path)
    return front, render(front)


def render_text(text: str) -> tuple[Front, list[Artifact]]:
    front = front_text(text)
    return front, render(front)


def documents(
    artifacts: Sequence[Artifact], prefix: str = "istio/"
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for art in artifacts:
        if not art.path.startswith(prefix) or isinstance(art.content, str):
            continue
        docs = [art.content] if isinstance(art.content, Mapping) else list(art.content)
        for doc in docs:
            yield art.path, doc


def objects(
    artifacts: Sequence[Artifact], kind: str, namespace: str | None = None
) -> list[Mapping[str, Any]]:
    return [
        d
        for _, d in documents(artifacts)
        if d["kind"] == kind and (namespace is None or d["metadata"].get("namespace") == namespace)
    ]


@dataclass(frozen=True)
class Request:
    caller: str  # a workload name, or EXTERNAL
    principal: str | None  # mTLS peer identity; None for plain traffic from outside the mesh
    port: int  # the workload's (target) port: Istio evaluates after the Service
    token_issuer: str | None  # the `iss` of a valid JWT the request carries
    method: str = "POST"
    path: str = "/"


def _labels_match(selector: Mapping[str, Any] | None, pod_labels: Mapping[str, str]) -> bool:
    if not selector:
        return True  # no selector: every workload of the namespace
    wanted = selector.get("matchLabels") or {}
    return all(pod_labels.get(k) == v for k, v in wanted.items())


def _source_matches(source: Mapping[str, Any], req: Request) -> bool:
    # Every field present must match (AND); the values of one field are alternatives (OR).
    if "principals" in source and req.principal not in source["principals"]:
        return False
    if "requestPrincipals" in source:
        if req.token_issuer is None:
            return False
        if not any(rp == "*" or rp == f"{req.token_issuer}/*" for rp in source["requestPrincipals"]):
            return False
    if "ipBlocks" in source and not {"0.0.0.0/0", "::/0"} & set(source["ipBlocks"]):
        raise AssertionError(f"the interpreter knows only the any-address block, not {source['ipBlocks']}")
    if "notPrincipals" in source:
        assert source["notPrincipals"] == ["*"], "the interpreter knows only notPrincipals ['*']"
        if req.principal is not None:  # "*" matches any peer identity, so only plain traffic passes
            return False
    unknown = set(source) - {"principals", "requestPrincipals", "ipBlocks", "notPrincipals"}
    assert not unknown, f"the interpreter does not model {unknown}"
    return True


def _rule_matches(rule: Mapping[str, Any], req: Request) -> bool:
    froms = rule.get("from")
    assert froms, f"a rule without a source allows anyone: {rule}"
    if not any(_source_matches(f["source"], req) for f in froms):
        return False
    tos = rule.get("to")
    return not tos or any(_operation_matches(t.get("operation", {}), req) for t in tos)


def _path_matches(pattern: str, path: str) -> bool:
    """Istio's path forms as mpc writes them: exact, or a prefix ending in `/*`."""
    if pattern.endswith("/*"):
        return path.startswith(pattern[:-1])
    assert "*" not in pattern, f"the interpreter knows exact and /* paths only: {pattern}"
    return path == pattern


def _operation_matches(op: Mapping[str, Any], req: Request) -> bool:
    # Every field present must match (AND); the values of one field are alternatives (OR).
    unknown = set(op) - {"ports", "methods", "paths"}
    assert not unknown, f"the interpreter does not model {unknown}"
    if "ports" in op and str(req.port) not in op["ports"]:
        return False
    if "methods" in op and req.method not in op["methods"]:
        return False
    return "paths" not in op or any(_path_matches(p, req.path) for p in op["paths"])


def allowed(policies: Sequence[Mapping[str, Any]], pod_labels: Mapping[str, str], req: Request) -> bool:
    """Istio's evaluation for a workload with no CUSTOM policies: DENY first, then ALLOW if any applies."""
    applicable = [p for p in policies if _labels_match(p["spec"].get("selector"), pod_labels)]
    for p in applicable:
        assert p["spec"].get("action", "ALLOW") == "ALLOW", "the backend writes only ALLOW policies"
    if not applicable:
        return True  # no policy at all: Istio allows everything
    return any(_rule_matches(rule, req) for p in applicable for rule in p["spec"].get("rules", []))


def pod_labels(model: Model, workload: str) -> dict[str, str]:
    component = k8s.GATEWAY_COMPONENT if workload == model.gateway.name else "service"
    return k8s.labels(model, workload, component)


def allowed_pairs(front: Front, artifacts: Sequence[Artifact], env: str) -> set[tuple[str, str]]:
    """Every (caller, callee) that the generated policies of one environment admit, caller with a valid token.

    The caller is a service, `gateway:<name>` for the master proxy, or EXTERNAL; the callee a workload,
    reached on the port its Service (or the proxy's listener) exposes.
    """
    model = front.model
    environment = model.environments[env]
    ns = environment.namespace
    policies = objects(artifacts, "AuthorizationPolicy", ns)
    gw = model.gateway.name
    services = [s for s in model.services_in(env)]
    callers: list[tuple[str, str | None]] = [(f"gateway:{gw}", k8s.principal(ns, gw)), (EXTERNAL, None)]
    callers += [(s.name, k8s.principal(ns, s.name)) for s in services]
    callees = [(gw, model.gateway.listen_port)] + [
        (s.name, p.target_port) for s in services for p in s.ports if s.port is not None
    ]
    issuers = [i.issuer for i in model.issuers.values()] or [None]
    pairs = set()
    for callee, port in callees:
        labels = pod_labels(model, callee)
        for caller, principal in callers:
            for issuer in issuers:
                for method, path in candidate_requests(model):
                    if allowed(policies, labels, Request(caller, principal, port, issuer, method, path)):
                        pairs.add((caller, f"gateway:{callee}" if callee == gw else callee))
                        break
    return pairs


def candidate_requests(model: Model) -> list[tuple[str, str]]:
    """(method, path) pairs that between them satisfy any narrowed call of the mesh, and one that none
    does: a pair is allowed when some request of it passes."""
    paths = {"/"}
    methods = {"GET", "POST"}
    for svc in model.services.values():
        for narrowing in svc.narrowing.values():
            paths.update(p[:-1] + "x" if p.endswith("/*") else p for p in narrowing.paths)
            methods.update(narrowing.methods)
    return [(m, p) for m in sorted(methods) for p in sorted(paths)]


def expected_pairs(front: Front, env: str) -> set[tuple[str, str]]:
    """The graph's edges and routes among the workloads of one environment, plus outside -> master proxy."""
    model = front.model
    running = {s.name for s in model.services_in(env)} | {f"gateway:{model.gateway.name}"}
    expected = {(a, b) for a, b in front.graph.allowed_calls(env) if a in running and b in running}
    expected.add((EXTERNAL, f"gateway:{model.gateway.name}"))
    return expected
