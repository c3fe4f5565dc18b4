"""The envoy backend: per environment, the master proxy's bootstrap and its Kubernetes objects."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from mpc.errors import Code, Diagnostic, Location, MpcError
from mpc.graph.mesh import MeshGraph, node_id
from mpc.lang.model import Environment, Model
from mpc.render import yamlwriter
from mpc.render.api import Artifact, Listing, Validator
from mpc.render.k8s import kustomization

from . import kube
from .binary import find_envoy
from .bootstrap import IDEMPOTENT_SUFFIX, build_bootstrap, route_name, sds_secret
from .checks import Locate, check_bootstrap

# One bootstrap per environment: the upstream addresses are service names in that environment's
# namespace, so a single envoy/<gateway>/bootstrap.yaml could only be right for one of them.
BOOTSTRAP_PATH = re.compile(r"^envoy/[^/]+/[^/]+/bootstrap\.yaml$")
VALIDATE_TIMEOUT_S = 60


def locator(model: Model) -> Locate:
    by_route = {route_name(r): r.source for r in model.gateway.routes}
    by_route.update({name + IDEMPOTENT_SUFFIX: where for name, where in list(by_route.items())})

    def locate(route: str | None) -> Location:
        return by_route.get(route or "", model.gateway.source)

    return locate


def render_environment(model: Model, env: Environment) -> tuple[list[Artifact], list[Diagnostic]]:
    gw = model.gateway
    node = node_id("gateway", gw.name)
    target = kube.cluster_target(model, env)
    bootstrap = build_bootstrap(model, target)
    base = f"envoy/{gw.name}/{env.name}"
    problems = check_bootstrap(bootstrap, locator(model), f"{base}/bootstrap.yaml")
    artifacts = [Artifact(f"{base}/bootstrap.yaml", bootstrap, node=node)]
    files = {kube.BOOTSTRAP_KEY: yamlwriter.dump(bootstrap)}
    if target.tls is not None:
        sds = sds_secret(target.tls)
        artifacts.append(Artifact(f"{base}/{kube.SDS_KEY}", sds, node=node))
        files[kube.SDS_KEY] = yamlwriter.dump(sds)

    folder = f"kustomize/gateway/{env.name}"
    ns = env.namespace
    objects = {
        "configmap.yaml": kube.config_map(model, ns, files),
        "deployment.yaml": kube.deployment(model, env, files),
        "networkpolicy.yaml": kube.network_policy(model, env),
        "poddisruptionbudget.yaml": kube.pod_disruption_budget(model, ns),
        "service.yaml": kube.service(model, ns),
        "serviceaccount.yaml": kube.service_account(model, ns),
    }
    artifacts.extend(Artifact(f"{folder}/{name}", obj, node=node) for name, obj in objects.items())
    listed = tuple(Listing(o.path) for o in model.overlays_of(env.name))
    artifacts.append(Artifact(f"{folder}/kustomization.yaml", kustomization(sorted(objects)), listed, node))
    return artifacts, problems


class EnvoyBackend:
    name = "envoy"

    def render(self, model: Model, graph: MeshGraph) -> list[Artifact]:
        artifacts: list[Artifact] = []
        problems: list[Diagnostic] = []
        for env in model.environments.values():
            produced, found = render_environment(model, env)
            artifacts.extend(produced)
            problems.extend(found)
        if problems:
            raise MpcError(problems)
        return artifacts

    def validators(self) -> list[Validator]:
        return [Validator("envoy --mode validate", find_envoy() is not None)]

    def validate(self, root: Path, artifacts: Sequence[Artifact]) -> list[Diagnostic]:
        """`envoy --mode validate` on every bootstrap, when the binary is installed (else nothing to say)."""
        envoy = find_envoy()
        if envoy is None:
            return []
        findings = []
        for art in artifacts:
            if BOOTSTRAP_PATH.match(art.path):
                problem = validate_file(envoy, root / art.path, in_pod_config=kube.CONFIG_DIR)
                if problem is not None:
                    findings.append(
                        Diagnostic(
                            Code.VALIDATOR_REJECTED,
                            problem,
                            Location(art.path),
                            "envoy --mode validate rejected it",
                        )
                    )
        return findings


def validate_file(envoy: str, path: Path, in_pod_config: str | None = None) -> str | None:
    """Envoy's complaint about one bootstrap file, or None when it validates.

    Validate mode insists that file-based SDS paths exist. In the pod they are under `in_pod_config`
    (the mounted ConfigMap); in the written tree the same files sit beside the bootstrap, so a copy
    with that folder pointed there is what gets validated.
    """
    text = path.read_text(encoding="utf-8")
    if in_pod_config is not None:
        text = text.replace(in_pod_config, str(path.parent.resolve()))
    with tempfile.TemporaryDirectory(prefix="mpc-envoy-") as tmp:
        copy = Path(tmp) / path.name
        copy.write_text(text, encoding="utf-8")
        proc = subprocess.run(
            [envoy, "--mode", "validate", "--disable-hot-restart", "--log-level", "error", "-c", str(copy)],
            capture_output=True,
            text=True,
            timeout=VALIDATE_TIMEOUT_S,
            check=False,
        )
    if proc.returncode == 0:
        return None
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    return " | ".join(lines[-3:]) or f"envoy exited with {proc.returncode}"


backend = EnvoyBackend()
