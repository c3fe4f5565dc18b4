"""The editor experience: yaml-language-server (npm, tests/node) driven over stdio as an editor does,
with the schema modeline mpc's examples carry. A misspelt key, a wrong type, a missing field and a bad
name each get a diagnostic on the line where mpc reports them. Skipped with the reason without Node or
the server."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import pytest
from conftest import MINIMAL_MESH, ROOT

SERVER = ROOT / "tests" / "node" / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
SCHEMA = ROOT / "schemas" / "mesh.schema.json"

pytestmark = pytest.mark.slow


class Lsp:
    """A minimal Language Server Protocol client: Content-Length framed JSON-RPC over the server's stdio."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.messages: Queue[dict[str, Any]] = Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        stream = self.proc.stdout
        while True:
            length = 0
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
            self.messages.put(json.loads(stream.read(length)))

    def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def request(self, method: str, params: Any) -> int:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        return self.next_id

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def diagnostics(self, uri: str, timeout: float = 60) -> list[dict[str, Any]]:
        """The first non-empty diagnostics published for `uri`; answers the server's own requests."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                msg = self.messages.get(timeout=max(0.1, deadline - time.monotonic()))
            except Empty:
                break
            if "id" in msg and "method" in msg:  # a request from the server (configuration, ...)
                result: Any = [{"validate": True}] if msg["method"] == "workspace/configuration" else None
                self.send({"id": msg["id"], "result": result})
            elif (
                msg.get("method") == "textDocument/publishDiagnostics"
                and msg["params"]["uri"] == uri
                and msg["params"]["diagnostics"]
            ):
                return list(msg["params"]["diagnostics"])
        raise AssertionError(f"no diagnostics for {uri} within {timeout} s")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def server(tmp_path: Path) -> Any:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node is not installed: yaml-language-server runs on Node")
    if not SERVER.exists():
        pytest.skip("yaml-language-server is not installed: run `make tests/node/node_modules/.installed`")
    lsp = Lsp([node, str(SERVER), "--stdio"], tmp_path)
    lsp.request(
        "initialize",
        {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}, "workspaceFolders": None},
    )
    lsp.notify("initialized", {})
    lsp.notify(
        "workspace/didChangeConfiguration",
        {
            "settings": {
                "yaml": {"validate": True, "schemaStore": {"enable": False}, "format": {"enable": False}}
            }
        },
    )
    yield lsp
    lsp.close()


BROKEN = (
    f"# yaml-language-server: $schema={SCHEMA.as_uri()}\n"
    + MINIMAL_MESH.replace("port: 4000", "port: four")  # a wrong type
    .replace("  routes:", "  route:")  # a misspelt key
    .replace("  api: {image: ghcr.io/shop/api:1.0.0, port: 8080}", "  Hello_World: {port: 8080}")  # a bad
    # name, and a missing field (image)
)


def line_of(text: str, needle: str) -> int:
    """The 0-based line (as LSP counts) holding `needle`."""
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


def test_the_editor_flags_what_mpc_flags(server: Lsp, tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(BROKEN)
    uri = mesh.as_uri()
    server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": BROKEN}},
    )
    found = server.diagnostics(uri)
    by_line: dict[int, list[str]] = {}
    for d in found:
        by_line.setdefault(d["range"]["start"]["line"], []).append(d["message"])
    shown = json.dumps(by_line, indent=1)
    assert any("route" in m and "not allowed" in m for m in by_line.get(line_of(BROKEN, "route:"), [])), shown
    assert any("Incorrect type" in m for m in by_line.get(line_of(BROKEN, "port: four"), [])), shown
    name_line = by_line.get(line_of(BROKEN, "Hello_World"), [])
    assert any('Missing property "image"' in m for m in name_line), shown
    assert any("pattern" in m.lower() or "does not match" in m.lower() for m in name_line), shown
    # mpc reports the same lines (1-based there).
    from mpc.errors import MpcError
    from mpc.workflow.front import front_text

    with pytest.raises(MpcError) as raised:
        front_text(BROKEN)
    mpc_lines = {d.location.line - 1 for d in raised.value.diagnostics}
    assert {
        line_of(BROKEN, "route:"),
        line_of(BROKEN, "port: four"),
        line_of(BROKEN, "Hello_World"),
    } <= mpc_lines
