"""load: mesh.yaml text to plain data, with the line and column of every key and value kept beside it.

The text is composed into YAML nodes (which keep their marks) and the nodes are then built into plain
Python values by hand, so that the features a config has no use for can be refused with a location:
duplicate keys, non-standard tags, alias expansion past a small bound, non-string keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpc.diagnostics import Diagnostic, Location, MpcError

PathKey = tuple[str | int, ...]

MAX_BYTES = 16 * 1024 * 1024
# Nodes that may be produced by following aliases; a "billion laughs" file needs ~10^9.
MAX_ALIAS_EXPANSION = 10_000

_STD = "tag:yaml.org,2002:"


@dataclass(slots=True)
class Document:
    """Plain data (dict/list/str/int/float/bool/None) plus 1-based positions by path."""

    file: str
    data: Any
    text: str
    # path -> (line, col) of the value, and of the key for mapping entries.
    value_pos: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_pos: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def location(self, path: PathKey, *, key: bool = False) -> Location:
        """The closest known position for a path: a missing key points at its parent."""
        probe = tuple(path)
        while True:
            table = self.key_pos if key else self.value_pos
            if probe in table:
                line, col = table[probe]
                return Location(self.file, line, col)
            if key and probe in self.value_pos:
                line, col = self.value_pos[probe]
                return Location(self.file, line, col)
            if not probe:
                return Location(self.file, 1, 1)
            probe = probe[:-1]
            key = True

    def has(self, path: PathKey) -> bool:
        return path in self.value_pos


def _tag(node: Any) -> str:
    tag = node.tag
    return str(getattr(tag, "value", tag))


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.errors: list[Diagnostic] = []
        self.visited: set[int] = set()
        self.expanded = 0

    def loc(self, node: Any) -> Location:
        mark = node.start_mark
        return Location(self.doc.file, mark.line + 1, mark.column + 1)

    def error(self, code: str, node: Any, message: str, hint: str = "") -> None:
        self.errors.append(Diagnostic(code, message, self.loc(node), hint))

    def build(self, node: Any, path: PathKey, via_alias: bool) -> Any:
        from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

        if id(node) in self.visited:
            via_alias = True
        else:
            self.visited.add(id(node))
        if via_alias:
            self.expanded += 1
            if self.expanded > MAX_ALIAS_EXPANSION:
                raise _AliasBomb(node)
        if not via_alias:
            mark = node.start_mark
            self.doc.value_pos[path] = (mark.line + 1, mark.column + 1)
        tag = _tag(node)
        if isinstance(node, ScalarNode):
            return self.scalar(node, tag)
        if isinstance(node, SequenceNode):
            if tag != _STD + "seq":
                self.error("E105", node, f"tag {tag!r} is not supported", "remove the tag")
            return [self.build(item, (*path, i), via_alias) for i, item in enumerate(node.value)]
        if isinstance(node, MappingNode):
            if tag != _STD + "map":
                self.error("E105", node, f"tag {tag!r} is not supported", "remove the tag")
            return self.mapping(node, path, via_alias)
        raise AssertionError(f"unexpected YAML node {type(node).__name__}")

    def mapping(self, node: Any, path: PathKey, via_alias: bool) -> dict[str, Any]:
        from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

        out: dict[str, Any] = {}
        merged: list[Any] = []
        for key_node, value_node in node.value:
            key_tag = _tag(key_node)
            if key_tag == _STD + "merge":
                if isinstance(value_node, SequenceNode):
                    merged.extend(value_node.value)
                else:
                    merged.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode) or key_tag != _STD + "str":
                shown = key_node.value if isinstance(key_node, ScalarNode) else "a collection"
                self.error(
                    "E108",
                    key_node,
                    f"mapping key {shown!r} is not a string",
                    "quote the key, e.g. \"1\": ...",
                )
                continue
            key = str(key_node.value)
            if key in out:
                first = self.doc.key_pos.get((*path, key))
                notes = ()
                if first is not None:
                    notes = ((Location(self.doc.file, *first), "first defined here"),)
                self.errors.append(
                    Diagnostic(
                        "E104",
                        f"duplicate key {key!r}",
                        self.loc(key_node),
                        "a key may appear once per mapping; remove or rename one",
                        notes=notes,
                    )
                )
                continue
            if not via_alias:
                mark = key_node.start_mark
                self.doc.key_pos[(*path, key)] = (mark.line + 1, mark.column + 1)
            out[key] = self.build(value_node, (*path, key), via_alias)
        for source in merged:
            if not isinstance(source, MappingNode):
                self.error("E103", source, "a merge key (<<) must name a mapping")
                continue
            for key, value in self.mapping(source, path, True).items():
                out.setdefault(key, value)
        return out

    def scalar(self, node: Any, tag: str) -> Any:
        text: str = node.value
        if not tag.startswith(_STD):
            self.error("E105", node, f"tag {tag!r} is not supported", "remove the tag; mesh.yaml is plain data")
            return text
        kind = tag[len(_STD) :]
        if kind == "null":
            return None
        if kind == "bool":
            return text.lower() == "true"
        if kind == "int":
            digits = text.replace("_", "")
            try:
                return int(digits, 0)
            except ValueError:
                return int(digits, 10)
        if kind == "float":
            low = text.lower().replace("_", "")
            if low in (".inf", "+.inf"):
                return math.inf
            if low == "-.inf":
                return -math.inf
            if low == ".nan":
                return math.nan
            return float(low)
        # str, timestamp, binary and friends stay text: mesh.yaml has no use for them as values.
        return text


class _AliasBomb(Exception):
    def __init__(self, node: Any) -> None:
        self.node = node


def load_text(text: str, file: str) -> Document:
    """Parse text into a Document, or raise MpcError with located diagnostics."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise MpcError(
            [
                Diagnostic(
                    "E102",
                    f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB",
                    Location(file, 1, 1),
                    "split the mesh or remove generated content",
                )
            ]
        )
    doc = Document(file=file, data=None, text=text)
    yaml = YAML(typ="safe", pure=True)
    try:
        node = yaml.compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        code = "E107" if "single document" in str(exc) or "expected <document start>" in str(exc) else "E103"
        if code == "E107":
            problem = "more than one YAML document; mesh.yaml holds exactly one"
        raise MpcError([Diagnostic(code, problem, Location(file, line, col))]) from None
    except YAMLError as exc:
        raise MpcError([Diagnostic("E103", str(exc).strip(), Location(file, 1, 1))]) from None
    if node is None:
        raise MpcError(
            [
                Diagnostic(
                    "E107",
                    "the file is empty",
                    Location(file, 1, 1),
                    "start from `mpc init` or the bundled example",
                )
            ]
        )
    builder = _Builder(doc)
    try:
        data = builder.build(node, (), False)
    except _AliasBomb as bomb:
        raise MpcError(
            [
                Diagnostic(
                    "E106",
                    f"aliases expand to more than {MAX_ALIAS_EXPANSION} nodes",
                    builder.loc(bomb.node),
                    "write the values out; mesh.yaml has no use for deep alias chains",
                )
            ]
        ) from None
    except RecursionError:
        raise MpcError(
            [Diagnostic("E103", "the document is nested too deeply", Location(file, 1, 1))]
        ) from None
    if builder.errors:
        raise MpcError(builder.errors)
    if not isinstance(data, dict):
        raise MpcError(
            [
                Diagnostic(
                    "E107",
                    "the document is not a mapping",
                    builder.loc(node),
                    "mesh.yaml starts with `apiVersion: masterproxy.dev/v1alpha1`",
                )
            ]
        )
    doc.data = data
    return doc


def load_file(path: str | Path, display: str | None = None) -> Document:
    p = Path(path)
    name = display or str(path)
    try:
        size = p.stat().st_size
        if size > MAX_BYTES:
            raise MpcError(
                [
                    Diagnostic(
                        "E102",
                        f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB",
                        Location(name, 1, 1),
                        "split the mesh or remove generated content",
                    )
                ]
            )
        raw = p.read_bytes()
    except OSError as exc:
        raise MpcError([Diagnostic("E101", f"cannot read the file: {exc.strerror}", Location(name))]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MpcError(
            [Diagnostic("E101", f"the file is not UTF-8 text (byte {exc.start})", Location(name, 1, 1))]
        ) from None
    return load_text(text, name)
