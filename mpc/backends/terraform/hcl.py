"""A small emitter of HCL in the layout `terraform fmt` prints.

The rules are those of hclwrite's formatter (what `terraform fmt` runs): two spaces per nesting level;
within a run of consecutive single-line `name = value` lines the `=` signs are aligned one space after the
longest name; a line that opens a multi-line value (`tags = {`), a nested block, a blank line or a comment
ends the run. Layout choices that fmt leaves alone are fixed here so the text is deterministic: blocks are
separated by one blank line, a body's comments come first, an object literal is always written one item per
line, a list of scalars on one line.

python-hcl2 can also write HCL, but its `dumps` leaves whitespace on blank lines, puts two blank lines
between top-level blocks and splits function-call arguments over lines: not what fmt prints.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

INDENT = "  "
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


@dataclass(frozen=True, slots=True)
class Expr:
    """An HCL expression written verbatim: a reference (`var.region`), a call, a template, a type."""

    text: str


# A Python str is a string literal; containers become tuple and object constructors.
Value: TypeAlias = "str | int | float | bool | Expr | Sequence[Value] | Mapping[str, Value] | None"


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    value: Value


@dataclass(frozen=True, slots=True)
class Comment:
    """A whole-line `# ...` comment; it always opens its body (python-hcl2 keeps comments per body)."""

    text: str


@dataclass(frozen=True, slots=True)
class Block:
    type: str
    labels: tuple[str, ...] = ()
    body: tuple[Item, ...] = ()


Item: TypeAlias = "Attribute | Block | Comment"


def ref(text: str) -> Expr:
    return Expr(text)


def quote(text: str) -> str:
    """A quoted HCL string literal whose content is `text` exactly (no interpolation)."""
    out = ['"']
    i = 0
    while i < len(text):
        ch = text[i]
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch in "$%" and nxt == "{":
            # `${` and `%{` open template sequences; doubling the sign makes them literal.
            out.append(ch + ch)
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
        i += 1
    out.append('"')
    return "".join(out)


def key(name: str) -> str:
    """An object key: bare when it is an identifier, quoted otherwise."""
    return name if _IDENT.match(name) else quote(name)


def inline(value: Value) -> str | None:
    """The one-line text of a value, or None when it needs several lines (a non-empty object)."""
    if isinstance(value, Expr):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Mapping):
        return "{}" if not value else None
    parts = []
    for element in value:
        text = inline(element)
        if text is None:
            raise TypeError("a list of objects has no one-line form; write it as blocks")
        parts.append(text)
    return "[" + ", ".join(parts) + "]"


def _assignments(pairs: Sequence[tuple[str, Value]], depth: int) -> list[str]:
    """`name = value` lines, `=` aligned within each run of single-line pairs."""
    lines: list[str] = []
    run: list[tuple[str, str]] = []
    pad = INDENT * depth

    def close() -> None:
        width = max((len(n) for n, _ in run), default=0)
        lines.extend(f"{pad}{n.ljust(width)} = {text}" for n, text in run)
        run.clear()

    for name, value in pairs:
        text = inline(value)
        if text is not None:
            run.append((name, text))
            continue
        close()
        assert isinstance(value, Mapping)
        lines.append(f"{pad}{name} = {{")
        lines.extend(_assignments([(key(k), v) for k, v in value.items()], depth + 1))
        lines.append(pad + "}")
    close()
    return lines


def _body(items: Sequence[Item], depth: int) -> list[str]:
    lines: list[str] = []
    pad = INDENT * depth
    i = 0
    previous: Item | None = None
    while i < len(items):
        item = items[i]
        if (
            previous is not None
            and not isinstance(previous, Comment)
            and (isinstance(item, Block) or isinstance(previous, Block))
        ):
            lines.append("")
        if isinstance(item, Comment):
            lines.append(f"{pad}# {item.text}")
            previous = item
            i += 1
        elif isinstance(item, Block):
            lines.extend(_block(item, depth))
            previous = item
            i += 1
        else:
            # Consecutive attributes form one alignment group.
            j = i
            while j < len(items) and isinstance(items[j], Attribute):
                j += 1
            group = [(a.name, a.value) for a in items[i:j] if isinstance(a, Attribute)]
            lines.extend(_assignments(group, depth))
            previous = items[j - 1]
            i = j
    return lines


def _block(block: Block, depth: int) -> list[str]:
    pad = INDENT * depth
    head = " ".join([block.type, *(quote(label) for label in block.labels)])
    if not block.body:
        return [f"{pad}{head} {{}}"]
    return [f"{pad}{head} {{", *_body(block.body, depth + 1), pad + "}"]


def render(items: Sequence[Item]) -> str:
    """A whole file: top-level items separated by one blank line, ending in one newline."""
    chunks: list[str] = []
    for item in items:
        if isinstance(item, Block):
            chunks.append("\n".join(_block(item, 0)))
        elif isinstance(item, Comment):
            chunks.append(f"# {item.text}")
        else:
            chunks.append("\n".join(_assignments([(item.name, item.value)], 0)))
    return "\n\n".join(chunks) + "\n"
