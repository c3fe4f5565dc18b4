"""load: mesh.yaml text to plain data, with the line and column of every key and value kept beside it.

The text is composed into YAML nodes (which keep their marks) and the nodes are then built into plain
Python values by hand, so that the features a config has no use for can be refused with a location:
duplicate keys, non-standard tags, alias expansion past a small bound, non-string keys.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from mpc.errors import Code, Diagnostic, Location, MpcError
from mpc.lang.compose import Unlike, compose_fast

PathKey = tuple[str | int, ...]

# A 10,000-service mesh is ~2 MB and loads through libyaml in well under a second (mpc.lang.compose); this
# bound leaves room for that and keeps a mistaken input (a log file, a generated dump) from looking like a
# hang.
MAX_BYTES = 8 * 1024 * 1024
# Deeper nesting than any mesh needs; refused before the parser recurses into it.
MAX_DEPTH = 64
# Nodes that may be produced by following aliases; a "billion laughs" file needs ~10^9.
MAX_ALIAS_EXPANSION = 10_000

_STD = "tag:yaml.org,2002:"
# The scalar tags plain data needs. `!!binary`, `!!python/...` and friends are refused.
_SCALAR_KINDS = frozenset({"str", "int", "float", "bool", "null", "timestamp"})
_KEY_WORDS = {
    _STD + "int": "a number",
    _STD + "float": "a number",
    _STD + "bool": "true/false",
    _STD + "null": "null",
    _STD + "timestamp": "a date",
}
_NO_TAGS = "remove the tag; mesh.yaml is plain data"
_TRUE = frozenset({"true", "yes", "on", "y"})  # YAML 1.1 spellings too, for a `%YAML 1.1` file
# The YAML versions the parser implements; another `%YAML` directive is refused before it is parsed.
YAML_VERSIONS = ("1.1", "1.2")
_DIRECTIVE = re.compile(r"%YAML[ \t]+(1\.\d+)\b")
# Control characters have no place in a value mpc writes into YAML, HCL, CODEOWNERS or a terminal; tab and
# newline are text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def key_path(path: PathKey) -> str:
    """`services.accounts.dependsOn[2]`: a path as mesh.yaml's keys and list positions spell it."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


_KEY_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_key_path(text: str) -> PathKey:
    """`services.accounts.dependsOn[2]` back into its keys and list positions (key_path's inverse, for
    the names mesh.yaml allows: no `.` or `[` inside a key)."""
    return tuple(int(index) if index else key for key, index in _KEY_PART.findall(text))


def dotted(path: PathKey) -> str:
    """A key path as diagnostics name it: `services.api.port`, or "the top level"."""
    return key_path(path) or "the top level"


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
        """The closest known position for a path (a missing key points at its parent), named by `path`."""
        probe = tuple(path)
        named = key_path(probe)
        while True:
            table = self.key_pos if key else self.value_pos
            if probe in table:
                line, col = table[probe]
                return Location(self.file, line, col, named)
            if key and probe in self.value_pos:
                line, col = self.value_pos[probe]
                return Location(self.file, line, col, named)
            if not probe:
                return Location(self.file, 1, 1, named)
            probe = probe[:-1]
            key = True

    def source(self, ref: str) -> Location:
        """Where a `masterproxy.dev/source` value (`mesh.yaml#services.data`) points in this document."""
        _, _, path = ref.partition("#")
        return self.location(parse_key_path(path), key=True)

    def has(self, path: PathKey) -> bool:
        return path in self.value_pos


def _tag(node: Any) -> str:
    tag = node.tag
    return str(getattr(tag, "value", tag))


def _shown(tag: str) -> str:
    """A tag as the user wrote it: `!!binary`, not tag:yaml.org,2002:binary."""
    return "!!" + tag[len(_STD) :] if tag.startswith(_STD) else tag


class _Builder:
    """Data and positions from a node tree: ruamel's, or libyaml's when `fast` (mpc.lang.compose)."""

    def __init__(self, doc: Document, fast: bool = False) -> None:
        self.doc = doc
        self.fast = fast
        self.errors: list[Diagnostic] = []
        self.visited: set[int] = set()
        self.expanded = 0
        self.open: set[int] = set()  # collections being built: an alias to one of them is recursive

    def loc(self, node: Any) -> Location:
        mark = node.start_mark
        return Location(self.doc.file, mark.line + 1, mark.column + 1)

    def error(self, code: str, node: Any, message: str, hint: str = "") -> None:
        self.errors.append(Diagnostic(code, message, self.loc(node), hint))

    def build(self, node: Any, path: PathKey, via_alias: bool) -> Any:
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
        if node.id == "scalar":
            return self.scalar(node, tag)
        if len(path) > MAX_DEPTH:
            raise _TooDeep(node)
        if id(node) in self.open:
            raise _Recursive(node)
        self.open.add(id(node))
        try:
            return self.collection(node, path, tag, via_alias)
        finally:
            self.open.discard(id(node))

    def collection(self, node: Any, path: PathKey, tag: str, via_alias: bool) -> Any:
        if node.id == "sequence":
            if tag != _STD + "seq":
                self.error(Code.TAG, node, f"tag {_shown(tag)!r} is not supported", _NO_TAGS)
            return [self.build(item, (*path, i), via_alias) for i, item in enumerate(node.value)]
        if node.id == "mapping":
            if tag != _STD + "map":
                self.error(Code.TAG, node, f"tag {_shown(tag)!r} is not supported", _NO_TAGS)
            return self.mapping(node, path, via_alias)
        raise AssertionError(f"unexpected YAML node {type(node).__name__}")

    def mapping(self, node: Any, path: PathKey, via_alias: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: list[Any] = []
        merge_key: Any = None
        for key_node, value_node in node.value:
            key_tag = _tag(key_node)
            if key_tag == _STD + "merge":
                if merge_key is not None:
                    self.errors.append(
                        _duplicate(self.doc.file, "<<", self.loc(key_node), self.loc(merge_key))
                    )
                    continue
                merge_key = key_node
                if value_node.id == "sequence":
                    merged.extend(value_node.value)
                else:
                    merged.append(value_node)
                continue
            if key_node.id != "scalar":
                self.error(
                    Code.KEY_NOT_A_STRING,
                    key_node,
                    "a list or mapping cannot be a key",
                    "keys are plain names",
                )
                continue
            if key_tag != _STD + "str":
                shown = str(key_node.value)
                self.error(
                    Code.KEY_NOT_A_STRING,
                    key_node,
                    f"mapping key {shown} is read as {_KEY_WORDS.get(key_tag, 'a non-string')}, not a string",
                    f'quote the key: "{shown}": ...',
                )
                continue
            key = str(key_node.value)
            if key in out:
                at = self.doc.key_pos.get((*path, key))
                earlier = Location(self.doc.file, *at) if at is not None else None
                self.errors.append(_duplicate(self.doc.file, key, self.loc(key_node), earlier))
                continue
            self.text(key_node, key)
            if not via_alias:
                mark = key_node.start_mark
                self.doc.key_pos[(*path, key)] = (mark.line + 1, mark.column + 1)
            out[key] = self.build(value_node, (*path, key), via_alias)
        for source in merged:
            if source.id != "mapping":
                self.error(
                    Code.NOT_YAML,
                    source,
                    "a merge key (<<) must name a mapping",
                    "write <<: *anchor where the anchor is a mapping, or write the keys out",
                )
                continue
            for key, value in self.merge(source, path).items():
                out.setdefault(key, value)
        return out

    def merge(self, source: Any, path: PathKey) -> dict[str, Any]:
        """The keys a merge key brings in: built as an alias (counted), never from a mapping it is in."""
        if id(source) in self.open:
            raise _Recursive(source)
        self.expanded += 1
        if self.expanded > MAX_ALIAS_EXPANSION:
            raise _AliasBomb(source)
        self.open.add(id(source))
        try:
            return self.mapping(source, path, True)
        finally:
            self.open.discard(id(source))

    def text(self, node: Any, value: str) -> None:
        """A string as written: refused when it holds a control character."""
        found = _CONTROL.search(value)
        if found is not None:
            self.error(
                Code.BAD_VALUE,
                node,
                f"the text contains the control character U+{ord(found.group()):04X}",
                "remove it: values in mesh.yaml are plain text (tab and newline are allowed)",
            )

    def scalar(self, node: Any, tag: str) -> Any:
        text: str = node.value
        if self.fast and not text and not node.style:
            raise Unlike  # libyaml and ruamel place an empty plain scalar differently
        kind = tag[len(_STD) :] if tag.startswith(_STD) else ""
        if kind not in _SCALAR_KINDS:
            self.error(Code.TAG, node, f"tag {_shown(tag)!r} is not supported", _NO_TAGS)
            return text
        if kind == "null":
            return None
        if kind == "bool":
            return text.lower() in _TRUE
        if kind == "int":
            return _int(text)
        if kind == "float":
            number = _float(text)
            if isinstance(number, float) and not math.isfinite(number):
                self.error(
                    Code.BAD_VALUE,
                    node,
                    f"{text} is not a finite number",
                    "write a number; no generated file can hold infinity or NaN",
                )
            return number
        # str and timestamp stay text: mesh.yaml has no use for dates as values.
        self.text(node, text)
        return text


def _duplicate(file: str, key: str, where: Location, first: Location | None) -> Diagnostic:
    notes = ((first, "first defined here"),) if first is not None else ()
    hint = "a key may appear once per mapping; remove or rename one"
    if key == "<<":
        hint = "merge several mappings with one key: <<: [*first, *second]"
    return Diagnostic(Code.DUPLICATE_KEY, f"duplicate key {key!r}", where, hint, notes=notes)


def _int(text: str) -> int | str:
    digits = text.replace("_", "")
    for base in (0, 10):
        try:
            return int(digits, base)
        except ValueError:
            continue
    # YAML 1.1 sexagesimal (1:30) and other exotic forms: keep the text, the schema names the problem.
    return text


def _float(text: str) -> float | str:
    low = text.lower().replace("_", "")
    if low in (".inf", "+.inf"):
        return math.inf
    if low == "-.inf":
        return -math.inf
    if low == ".nan":
        return math.nan
    try:
        return float(low)
    except ValueError:
        return text


class _AliasBomb(Exception):
    def __init__(self, node: Any) -> None:
        self.node = node


class _Recursive(Exception):
    def __init__(self, node: Any) -> None:
        self.node = node


class _TooDeep(Exception):
    def __init__(self, node: Any) -> None:
        self.node = node


_NESTING_MARKS = re.compile(r"[\n'\"\[\]{}]")


def _nesting(text: str) -> tuple[int, int] | None:
    """Where flow brackets first nest deeper than MAX_DEPTH (the parser recurses on them)."""
    depth = 0
    quote = ""
    # Only the characters that change the state are visited (a loop over every character costs seconds
    # on a large mesh); the position is worked out once, when there is something to report.
    for match in _NESTING_MARKS.finditer(text):
        ch = match.group()
        if ch == "\n":
            quote = ""  # flow scalars may span lines, but a stray quote must not hide a bomb
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                at = match.start()
                return text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)
        elif ch in "]}":
            depth = max(0, depth - 1)
    return None


def load_text(text: str, file: str) -> Document:
    """Parse text into a Document, or raise MpcError with located diagnostics."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise MpcError([too_large(file)])
    deep = _nesting(text) if text.count("[") + text.count("{") > MAX_DEPTH else None
    if deep is not None:
        raise MpcError([_too_deep(Location(file, *deep))])
    version = _unsupported_version(text, file)
    if version is not None:
        raise MpcError([version])
    fast = compose_fast(text)  # libyaml when installed; None: ruamel composes (and words any error)
    if fast is not None:
        try:
            return _built(text, file, fast[0], fast=True)
        except Unlike:
            pass
    return _built(text, file, _composed(text, file))


def _composed(text: str, file: str) -> Any:
    """ruamel's node tree of the text, or MpcError with its located syntax error."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return YAML(typ="safe", pure=True).compose(text)
    except RecursionError:
        raise MpcError([_too_deep(Location(file, 1, 1))]) from None
    except MarkedYAMLError as exc:
        raise MpcError([_syntax(exc, file)]) from None
    except YAMLError as exc:
        raise MpcError([Diagnostic(Code.NOT_YAML, str(exc).strip(), Location(file, 1, 1))]) from None


def _built(text: str, file: str, node: Any, fast: bool = False) -> Document:
    doc = Document(file=file, data=None, text=text)
    if node is None:
        raise MpcError(
            [
                Diagnostic(
                    Code.NOT_ONE_MAPPING,
                    "the file is empty",
                    Location(file, 1, 1),
                    "start from `mpc init` or the bundled example",
                )
            ]
        )
    builder = _Builder(doc, fast)
    try:
        data = builder.build(node, (), False)
    except _AliasBomb as bomb:
        raise MpcError(
            [
                Diagnostic(
                    Code.ALIAS_BOMB,
                    f"aliases expand to more than {MAX_ALIAS_EXPANSION} nodes",
                    builder.loc(bomb.node),
                    "write the values out; mesh.yaml has no use for deep alias chains",
                )
            ]
        ) from None
    except _Recursive as rec:
        raise MpcError(
            [
                Diagnostic(
                    Code.ALIAS_BOMB,
                    "an alias refers to a collection that contains it (a recursive alias)",
                    builder.loc(rec.node),
                    "write the values out; mesh.yaml is a tree",
                )
            ]
        ) from None
    except _TooDeep as deep_node:
        raise MpcError([_too_deep(builder.loc(deep_node.node))]) from None
    if builder.errors:
        raise MpcError(builder.errors)
    if not isinstance(data, dict):
        raise MpcError(
            [
                Diagnostic(
                    Code.NOT_ONE_MAPPING,
                    "the document is not a mapping",
                    builder.loc(node),
                    "mesh.yaml starts with `apiVersion: masterproxy.dev/v1alpha1`",
                )
            ]
        )
    doc.data = data
    return doc


def load_bytes(raw: bytes, file: str) -> Document:
    """UTF-8 bytes (a leading BOM is dropped) into a Document, or MpcError with located diagnostics."""
    if len(raw) > MAX_BYTES:
        raise MpcError([too_large(file)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise MpcError(
            [
                Diagnostic(
                    Code.UNREADABLE,
                    f"the file is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                    Location(file, line, col),
                    "save it as UTF-8",
                )
            ]
        ) from None
    return load_text(text.removeprefix("\ufeff"), file)


def _unsupported_version(text: str, file: str) -> Diagnostic | None:
    """A `%YAML` directive naming a version the parser does not implement (it would fail an assertion)."""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line.startswith("%"):
            return None  # directives come first; the document has begun
        match = _DIRECTIVE.match(line)
        if match is not None and match.group(1) not in YAML_VERSIONS:
            return Diagnostic(
                Code.NOT_YAML,
                f"YAML version {match.group(1)} is not supported",
                Location(file, number, match.start(1) + 1),
                "remove the %YAML line (mesh.yaml is YAML 1.2), or write %YAML 1.2",
            )
    return None


def _syntax(exc: Any, file: str) -> Diagnostic:
    """A parser error, at the problem, with where the construct it was reading began as a note."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = str(exc.problem or exc.context or "invalid YAML")
    text = str(exc)
    if "single document" in text or "expected <document start>" in text:
        return Diagnostic(
            Code.NOT_ONE_MAPPING,
            "more than one YAML document; mesh.yaml holds exactly one",
            Location(file, line, col),
            "remove the `---` and what follows, or split it into its own file",
        )
    notes: tuple[tuple[Location, str], ...] = ()
    ctx = exc.context_mark
    if exc.context and ctx is not None and (ctx.line, ctx.column) != (line - 1, col - 1):
        notes = ((Location(file, ctx.line + 1, ctx.column + 1), str(exc.context)),)
    hint = ""
    if "\\t" in problem:
        hint = "indent with spaces; YAML does not allow tabs there"
    elif "could not find expected ':'" in problem or "mapping values are not allowed" in problem:
        hint = "check the indentation, and that each key is followed by ': '"
    return Diagnostic(Code.NOT_YAML, problem, Location(file, line, col), hint, notes=notes)


def too_large(file: str) -> Diagnostic:
    return Diagnostic(
        Code.TOO_LARGE,
        f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB",
        Location(file, 1, 1),
        "a mesh this size is a mistake: check that this is the right file",
    )


def _too_deep(where: Location) -> Diagnostic:
    return Diagnostic(
        Code.NOT_YAML,
        f"the document nests deeper than {MAX_DEPTH} levels",
        where,
        "mesh.yaml is a few levels deep; look for unbalanced brackets",
    )
