"""Artifacts to bytes: text as it is, `.json` paths as indented JSON, everything else as mpc's YAML."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mpc.render import yamlwriter
from mpc.render.api import Content

SEPARATOR = b"---\n"  # between the documents of a multi-document file (yamlwriter.Writer.dump_all)


class Serializer:
    """One per build: the YAML writer remembers how each repeated string is written."""

    def __init__(self) -> None:
        self._writer = yamlwriter.Writer()

    def content(self, path: str, content: Content) -> bytes:
        if isinstance(content, str):
            return content.encode("utf-8")
        if path.endswith(".json"):
            return (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        if isinstance(content, Mapping):
            return self._writer.dump(content).encode("utf-8")
        return self.documents(content)

    def documents(self, documents: Sequence[Mapping[str, Any]]) -> bytes:
        return self._writer.dump_all(list(documents)).encode("utf-8")


def join_documents(parts: Sequence[bytes]) -> bytes:
    """A multi-document file from parts that each hold whole documents (empty parts are left out)."""
    return SEPARATOR.join(part for part in parts if part)
