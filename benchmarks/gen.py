"""A deterministic generator of synthetic meshes of N services, for the benchmark and the incremental tests.

The shape follows a real platform: a DAG of dependencies (each service calls up to three services
defined before it, mostly near it, so the graph has depth), about a tenth stateful services and a tenth
workers, a quarter of the HTTP services routed through the gateway (some behind a JWT issuer), two
clusters (GKE and DigitalOcean), two environments, tracing, metrics, SLOs, a few external entries and
one issuer. The same (n, seed, variant) always gives the same text; `variant` changes exactly one
service, in the middle: its image tag, and `variant` comment lines above it, so each variant also adds
a line (every line below it moves), which is what a one-service rebuild measures.

    python benchmarks/gen.py 1000 > mesh.yaml
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

EXTERNAL = (
    ("stripe", "api.stripe.com", 443, "tls"),
    ("openai", "api.openai.com", 443, "tls"),
    ("ledger-api", "ledger.example.net", 8443, "tls"),
    ("smtp", "smtp.example.net", 587, "tcp"),
)


def service_name(i: int) -> str:
    return f"svc-{i:05d}"


def changed_service(n: int) -> str:
    """The one service whose image `variant` changes: in the middle, so it has callers and dependencies."""
    return service_name(n // 2)


def _service(
    i: int, rng: random.Random, callable_before: list[int], variant: int, n: int
) -> tuple[list[str], bool]:
    """The YAML lines of one service, and whether it serves HTTP (a candidate for a route)."""
    name = service_name(i)
    roll = rng.random()
    if roll < 0.10:
        archetype = "stateful"
    elif roll < 0.20:
        archetype = "worker"
    else:
        archetype = "web"
    tag = f"1.{i % 17}.{i % 5}"
    if variant and name == changed_service(n):
        tag += f"-r{variant}"
    lines = [f"  {name}:", f"    image: ghcr.io/bench/{name}:{tag}"]
    if variant and name == changed_service(n):
        lines[1:1] = [f"    # revision {r}" for r in range(1, variant + 1)]
    if archetype != "web":
        lines.append(f"    archetype: {archetype}")
    http = False
    if archetype != "worker":
        grpc = rng.random() < 0.15
        lines.append(f"    port: {9090 if grpc else 8080}")
        if grpc:
            lines.append("    protocol: grpc")
        http = True
    deps: list[str] = []
    if callable_before:
        window = callable_before[-60:]
        for _ in range(rng.choice((0, 1, 2, 2, 3, 3))):
            dep = service_name(rng.choice(window))
            if dep not in deps:
                deps.append(dep)
    if rng.random() < 0.08:
        deps.append(EXTERNAL[rng.randrange(len(EXTERNAL))][0])
    if deps:
        lines.append(f"    dependsOn: [{', '.join(deps)}]")
    if archetype == "stateful":
        lines.append(f"    storage: {rng.choice((10, 20, 50))}Gi")
        if rng.random() < 0.5:
            lines.append("    clustering: dns")
    if http and rng.random() < 0.7:
        lines.append("    health: {path: /healthz}")
    if archetype == "web" and rng.random() < 0.3:
        lines.append(f"    autoscale: {{min: 2, max: {rng.choice((6, 10, 20))}, cpu: 70}}")
    if rng.random() < 0.4:
        lines.append("    env:")
        lines.append(f"      LOG_LEVEL: {rng.choice(('info', 'debug', 'warn'))}")
        lines.append(f'      SHARD: "{i % 8}"')
    if rng.random() < 0.2:
        lines.append("    secrets:")
        lines.append(f"      DB_PASSWORD: {{secret: {name}-db, key: password}}")
    if rng.random() < 0.25:
        lines.append(f'    owners: ["@bench/team-{i % 12}"]')
    if rng.random() < 0.1:
        lines.append(f"    resources: {{cpu: {rng.choice(('250m', '500m', '1'))}, memory: 512Mi}}")
    return lines, http


def mesh_text(n: int, *, seed: int = 9, variant: int = 0) -> str:
    if n < 1:
        raise ValueError("a mesh has at least one service")
    rng = random.Random(seed * 1_000_003 + n)
    services: list[str] = []
    serving: list[int] = []
    routed: list[tuple[str, bool]] = []
    for i in range(n):
        lines, http = _service(i, rng, serving, variant, n)
        services.extend(lines)
        if http:
            serving.append(i)
            if rng.random() < 0.25:
                routed.append((service_name(i), rng.random() < 0.5))
    if not routed:  # a gateway needs something to route: a tiny mesh gets one more web service
        services.extend(_fallback_web(n))
        routed.append((service_name(n), False))
    routes = [
        f"    - {{prefix: /{name}, service: {name}{', auth: bench-id' if auth else ''}}}"
        for name, auth in routed
    ]
    slo_targets = [name for name, _ in routed[:5]]
    head = f"""\
# A synthetic mesh of {n} services (benchmarks/gen.py, seed {seed}).
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata:
  name: bench
  owners: ["@bench/platform"]
  labels: {{team: platform}}

defaults:
  namespace: bench
  replicas: 2
  resources: {{cpu: 100m, memory: 128Mi}}
  timeout: 15s
  retries: 2
  registry: ghcr.io/bench

gateway:
  name: edge
  port: 4000
  hosts: ["api.bench.dev"]
  tls: {{secret: bench-api-tls}}
  rateLimit: {{requests: 500, per: 1s}}
  routes:
"""
    auth = """
auth:
  issuers:
    bench-id:
      issuer: https://id.bench.dev/realms/bench
      jwksUri: https://id.bench.dev/realms/bench/protocol/openid-connect/certs
      audiences: [bench-api]

services:
"""
    external = "\nexternal:\n" + "".join(
        f"  {name}: {{host: {host}, port: {port}, protocol: {proto}}}\n"
        for name, host, port, proto in EXTERNAL
    )
    tail = (
        """
clusters:
  gke-prod:
    provider: gke
    project: bench-prod
    region: europe-west1
    version: "1.31"
    nodePools:
      default: {machineType: e2-standard-4, min: 3, max: 30}
  do-ams:
    provider: digitalocean
    region: ams3
    version: "1.31"
    nodePools:
      default: {size: s-4vcpu-8gb, count: 5}

environments:
  staging: {clusters: [do-ams], replicas: 1}
  prod: {clusters: [gke-prod, do-ams], replicas: 3}

observability:
  tracing: {provider: jaeger, endpoint: "jaeger-collector.observability:4317", sampling: 10}
  metrics: {provider: prometheus}
  slos:
"""
        + "".join(
            f"    - {{service: {name}, availability: 99.9, latencyP99: 500ms}}\n" for name in slo_targets
        )
        + """
governance:
  requireOwners: true
  allowedRegistries: [ghcr.io/bench]
  minReplicas: {prod: 2}

gitops:
  engine: argocd
  repo: https://github.com/bench/gitops.git
  branch: main
  path: rendered
"""
    )
    return head + "\n".join(routes) + "\n" + auth + "\n".join(services) + "\n" + external + tail


def _fallback_web(n: int) -> list[str]:
    name = service_name(n)
    return [f"  {name}:", f"    image: ghcr.io/bench/{name}:1.0.0", "    port: 8080"]


def write_mesh(folder: Path, n: int, *, seed: int = 9, variant: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mesh.yaml"
    path.write_text(mesh_text(n, seed=seed, variant=variant), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("n", type=int, help="number of services")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--variant", type=int, default=0, help="non-zero: change one service's image tag")
    args = parser.parse_args(argv)
    sys.stdout.write(mesh_text(args.n, seed=args.seed, variant=args.variant))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
