"""Compose YAML text into nodes with libyaml (through PyYAML's C parser) when it is installed.

ruamel.yaml's pure-Python composer is about thirty times slower than libyaml on a large mesh. The nodes
libyaml gives are read exactly as ruamel's are (mpc.lang.load reads only what both have): the same `id`
(scalar/sequence/mapping), `value`, `style`, 0-based `start_mark.line`/`.column` (characters, as ruamel
counts them), the same object for an alias and its anchor, and scalar tags resolved by ruamel's own
YAML 1.2 resolver. The fast path only ever answers for text both parsers accept: on any libyaml error,
or a `%` directive (which can switch ruamel to YAML 1.1 rules), it answers None and the caller composes
with ruamel, so diagnostics keep ruamel's wording and positions. One difference is known and left to
the reader: an empty plain scalar (`key:` with no value) is placed after the `:` by libyaml and at the
next token by ruamel; the reader raises Unlike there, and composes with ruamel instead.
"""

from __future__ import annotations

import gc
import importlib
import re
from typing import Any

_DIRECTIVE = re.compile(r"^%", re.MULTILINE)
_STD = "tag:yaml.org,2002:"
# Below this size ruamel composes faster than PyYAML imports: the bundled examples stay on it.
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
    # otherwise walk the growing tree again and again.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return [parser.get_single_node()]
    except yaml.YAMLError:
        return None
    finally:
        parser.dispose()
        if collecting:
            gc.enable()


class Unlike(Exception):
    """The two parsers would place a node differently: compose this text with ruamel."""
