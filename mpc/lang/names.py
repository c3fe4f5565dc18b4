"""Where mesh.yaml names things, and what a valid name is: one table for the parser and the checks.

The parser reports bad names (E308) in the same pass as schema errors wherever the name itself could be
read, so that a user sees every problem at once; the graph checks report them for a file that parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MAX_NAME = 40
# The same rule as a JSON Schema pattern (the editor checks it too: mpc.lang.schema).
NAME_PATTERN = DNS_LABEL.pattern

Path = tuple[str | int, ...]

# (what it names, where: "*" is every key of that mapping; whether the name is a key)
NAMED: tuple[tuple[str, Path], ...] = (
    ("mesh", ("metadata", "name")),
    ("gateway", ("gateway", "name")),
    ("service", ("services", "*")),
    ("external entry", ("external", "*")),
    ("cluster", ("clusters", "*")),
    ("environment", ("environments", "*")),
    ("issuer", ("auth", "issuers", "*")),
    ("node pool", ("clusters", "*", "nodePools", "*")),
)

# Istio's root namespace: the control plane, the east-west gateways, mesh-wide policy.
ISTIO_SYSTEM = "istio-system"

# The annotation by which every generated object names its origin in mesh.yaml (`mesh.yaml#services.api`).
SOURCE_ANNOTATION = "masterproxy.dev/source"


def name_problem(name: str) -> str | None:
    if len(name) > MAX_NAME:
        return f"is longer than {MAX_NAME} characters"
    if not DNS_LABEL.match(name):
        return "is not a DNS-1123 label (lower-case letters, digits and '-', starting with a letter)"
    return None


def suggest_label(name: str) -> str:
    # CamelCase words become separate words: LocalAPIGateway -> local-api-gateway.
    split = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", name)
    fixed = re.sub(r"[^a-z0-9-]+", "-", split.lower()).strip("-")
    fixed = re.sub(r"^[^a-z]+", "", fixed)[:MAX_NAME].rstrip("-")
    return f"try {fixed!r}" if fixed and fixed != name else ""


def named(data: Any) -> Iterator[tuple[str, str, Path, bool]]:
    """Every name written in the document data: (what, name, its path, whether it is a key).

    Only what could be read as a string: a section of the wrong type names nothing (the parser says so).
    """
    for what, pattern in NAMED:
        for name, path in _walk(data, pattern, ()):
            yield what, name, path, pattern[-1] == "*"


def _walk(data: Any, pattern: Path, at: Path) -> Iterator[tuple[str, Path]]:
    if not pattern:
        if isinstance(data, str):
            yield data, at
        return
    head, rest = pattern[0], pattern[1:]
    if not isinstance(data, Mapping):
        return
    if head == "*":
        for key, value in data.items():
            if not isinstance(key, str):
                continue
            if rest:
                yield from _walk(value, rest, (*at, key))
            else:
                yield key, (*at, key)
    elif head in data:
        yield from _walk(data[head], rest, (*at, head))
