"""mpc.lock: what a build wrote, in one format, read and written here only.

The lock records the input (file name and sha256), mpc's version, the backends and third-party plugins
used, and the sha256 of every file mpc wrote. It says which files mpc owns (a later build may replace or
prune those, never others) and lets people and tools see what produced a tree. It is a claim, not a
proof: anyone who can write the tree can edit it, so nothing a build reuses is decided by it
(mpc.build.cache keeps what is trusted).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

LOCK_NAME = "mpc.lock"
# The mesh `mpc publish` writes beside the tree: what the next publish compares with, what verify reads.
INPUT_NAME = "mpc.input.yaml"
LOCK_FORMAT = 5  # 5: no render keys (reuse is the user cache's business)


@dataclass
class Lock:
    mpc_version: str
    input_file: str
    input_sha256: str
    files: dict[str, str]  # path -> sha256
    backends: list[str] = field(default_factory=list)
    # Third-party plugins the build used (name -> "distribution version").
    plugins: dict[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        body = {
            "format": LOCK_FORMAT,
            "mpcVersion": self.mpc_version,
            "input": {"file": self.input_file, "sha256": self.input_sha256},
            "backends": self.backends,
            "plugins": dict(sorted(self.plugins.items())),
            "files": dict(sorted(self.files.items())),
        }
        return (_indented(body, "") + "\n").encode("utf-8")

    @classmethod
    def parse(cls, data: bytes) -> Lock | None:
        """What a lock says, or None for anything that is not a lock; paths are checked by the reader."""
        try:
            raw = json.loads(data)
        except ValueError:
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("files"), dict):
            return None
        inp = raw["input"] if isinstance(raw.get("input"), dict) else {}
        backends = raw.get("backends")
        return cls(
            str(raw.get("mpcVersion", "")),
            str(inp.get("file", "")),
            str(inp.get("sha256", "")),
            _strings(raw["files"]),
            [str(b) for b in backends] if isinstance(backends, list) else [],
            _strings(raw.get("plugins")),
        )


def _indented(value: Any, indent: str) -> str:
    """json.dumps(value, indent=2), byte for byte, for the lock's plain data (dicts, lists, str, int).

    With an indent, json.dumps runs its pure-Python encoder; this writes each string with the C escaper
    and is several times faster on the lock of a large mesh.
    """
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = indent + "  "
        items = [
            f"{inner}{_escape(str(k))}: {_escape(v) if type(v) is str else _indented(v, inner)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        inner = indent + "  "
        items = [f"{inner}{_escape(v) if type(v) is str else _indented(v, inner)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    if isinstance(value, str):
        return _escape(value)
    return json.dumps(value)


_escape = json.encoder.encode_basestring_ascii


def _strings(table: Any) -> dict[str, str]:
    if not isinstance(table, dict):
        return {}
    return {k: v for k, v in table.items() if isinstance(k, str) and isinstance(v, str)}
