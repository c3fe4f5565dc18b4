"""Compose YAML text into nodes with libyaml (through PyYAML's C parser) when it is installed.

ruamel.yaml's pure-Python composer takes ~1.7 s for a 1,000-service mesh and ~17 s for 10,000; libyaml
composes the same text in ~0.05 s and ~0.5 s. The nodes are made equivalent to ruamel's: the same
`id` (scalar/sequence/mapping), `value`, 0-based `start_mark.line`/`.column` (characters, as ruamel
counts them), the same object for an alias and its anchor, and scalar tags resolved by ruamel's own
YAML 1.2 resolver. The fast path only ever answers for text both parsers accept: on any libyaml error,
or a `%` directive (which can switch ruamel to YAML 1.1 rules), it answers None and the caller composes
with ruamel, so diagnostics keep ruamel's wording and positions.
"""

from __future__ import annotations

import gc
import importlib
import re
from typing import Any

_DIRECTIVE = re.compile(r"^%", re.MULTILINE)
_STD = "tag:yaml.org,2002:"
# Below this size ruamel composes faster than PyYAML imports (~12 ms): the bundled examples stay on it.
_SMALL = 16 * 1024


def compose_fast(text: str) -> list[Any] | None:
    """[root node] (the node is None for an empty stream), or None: compose with ruamel instead."""
    return None if len(text) < _SMALL else compose_libyaml(text)


def compose_libyaml(text: str) -> list[Any] | None:
    """compose_fast at any size (the tests compare it with ruamel on small documents)."""
    if _DIRECTIVE.search(text):
        return None
    try:
        # Imported by name: PyYAML ships no type stubs, and the C extension is absent from pure builds.
        yaml = importlib.import_module("yaml")
        cparser = importlib.import_module("yaml._yaml").CParser
    except ImportError:
        return None
    from ruamel.yaml.resolver import VersionedResolver

    # ruamel's own YAML 1.2 table (first character -> [(tag, regexp)]), read once: its resolve() looks
    # the version up again for every scalar, which costs more than libyaml's whole parse.
    table = VersionedResolver(version=(1, 2)).versioned_resolver
    anywhere = table.get(None, [])
    plain: dict[str, str] = {}
    default = {yaml.ScalarNode: _STD + "str", yaml.SequenceNode: _STD + "seq", yaml.MappingNode: _STD + "map"}

    def resolve_plain(value: str) -> str:
        for tag, regexp in table.get(value[:1], []) + anywhere:
            if regexp.match(value):
                return str(getattr(tag, "value", tag))
        return _STD + "str"

    class _Parser(cparser):  # type: ignore[misc,valid-type]
        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            if kind is yaml.ScalarNode and implicit[0]:
                tag = plain.get(value)
                if tag is None:
                    tag = plain[value] = resolve_plain(value)
                return tag
            return default[kind]

        def descend_resolver(self, parent: Any, index: Any) -> None:
            """Path resolvers are not used."""

        def ascend_resolver(self) -> None:
            """Path resolvers are not used."""

    parser = _Parser(text)
    # The node tree holds no reference cycles, and the collector, triggered every 700 allocations, would
    # otherwise walk the growing tree again and again: two thirds of the time at 10,000 services.
    collecting = gc.isenabled()
    gc.disable()
    try:
        root = parser.get_single_node()
        return [None if root is None else _to_ruamel(root)]
    except (yaml.YAMLError, _Unlike):
        return None
    finally:
        parser.dispose()
        if collecting:
            gc.enable()


class _Unlike(Exception):
    """The two parsers would place a node differently: ruamel composes this text."""


def _to_ruamel(root: Any) -> Any:
    """The same tree as ruamel nodes (what mpc.lang.load reads); an alias stays the object of its anchor."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
    from ruamel.yaml.tag import Tag

    tags: dict[str, Tag] = {}
    made: dict[int, Any] = {}

    def tag_of(text: str) -> Tag:
        tag = tags.get(text)
        if tag is None:
            tag = tags[text] = Tag(suffix=text)
        return tag

    def convert(node: Any) -> Any:
        done = made.get(id(node))
        if done is not None:
            return done
        kind = node.id
        out: Any
        if kind == "scalar":
            if not node.value and not node.style:
                # An empty value: libyaml places it after the ':', ruamel at the next token.
                raise _Unlike
            out = ScalarNode(tag_of(node.tag), node.value, node.start_mark, node.end_mark, node.style)
        elif kind == "sequence":
            out = SequenceNode(tag_of(node.tag), [], node.start_mark, node.end_mark, node.flow_style)
            made[id(node)] = out
            out.value = [convert(item) for item in node.value]
        else:
            out = MappingNode(tag_of(node.tag), [], node.start_mark, node.end_mark, node.flow_style)
            made[id(node)] = out
            out.value = [(convert(k), convert(v)) for k, v in node.value]
        made[id(node)] = out
        return out

    return convert(root)
