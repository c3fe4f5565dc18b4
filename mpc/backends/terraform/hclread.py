"""Read python-hcl2's parse of a file back into the emitter's items, to prove the emitter is stable.

python-hcl2 (`hcl2.loads`) returns a dict: string literals keep their quotes (`'"name"'`), expressions
are wrapped as `"${...}"`, bare identifiers (`ignore_changes = [version]`) come as plain strings, blocks
carry `"__is_block__": True` and are grouped by type in first-seen order, labels are nested dict keys,
and a body's comments are gathered under `"__comments__"`. Re-rendering what this module returns gives
back the original text exactly when the emitter wrote it (`roundtrip_problem`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .hcl import Attribute, Block, Comment, Expr, Item, Value, render

_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def unquote(raw: str) -> str | None:
    """The content of a quoted literal, or None when it holds a template sequence (`${` or `%{`)."""
    body = raw[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            code = body[i + 1]
            if code == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES[code])
            i += 2
            continue
        if ch in "$%" and body[i + 1 : i + 2] == "{":
            return None
        if ch in "$%" and body[i + 1 : i + 3] == ch + "{":
            out.append(ch)  # `$${` is a literal `${`
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _label(raw: str) -> str:
    text = unquote(raw) if raw.startswith('"') else raw
    if text is None:
        raise ValueError(f"a block label cannot be a template: {raw}")
    return text


def value(raw: Any) -> Value:
    if isinstance(raw, bool) or raw is None or isinstance(raw, int | float):
        return raw
    if isinstance(raw, str):
        if raw.startswith("${") and raw.endswith("}"):
            return Expr(raw[2:-1])
        if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
            text = unquote(raw)
            return Expr(raw) if text is None else text
        return Expr(raw)  # a bare identifier
    if isinstance(raw, list):
        return [value(v) for v in raw]
    if isinstance(raw, Mapping):
        return {_label(k): value(v) for k, v in raw.items()}
    raise TypeError(f"unexpected value from python-hcl2: {raw!r}")


def _blocks(block_type: str, raw: Mapping[str, Any], labels: tuple[str, ...]) -> list[Block]:
    if raw.get("__is_block__"):
        return [Block(block_type, labels, tuple(body(raw)))]
    out: list[Block] = []
    for label, inner in raw.items():
        out.extend(_blocks(block_type, inner, (*labels, _label(label))))
    return out


def body(raw: Mapping[str, Any]) -> list[Item]:
    items: list[Item] = [Comment(c["value"]) for c in raw.get("__comments__", [])]
    for name, v in raw.items():
        if name in ("__is_block__", "__comments__"):
            continue
        if isinstance(v, list) and v and all(isinstance(e, Mapping) and _is_block_list(e) for e in v):
            for entry in v:
                items.extend(_blocks(name, entry, ()))
        else:
            items.append(Attribute(name, value(v)))
    return items


def _is_block_list(entry: Mapping[str, Any]) -> bool:
    """A block (or a labelled block: one level of label keys above one) as python-hcl2 writes it."""
    if entry.get("__is_block__"):
        return True
    return bool(entry) and all(isinstance(v, Mapping) and _is_block_list(v) for v in entry.values())


def parse(text: str) -> list[Item]:
    import hcl2

    return body(hcl2.loads(text))


def roundtrip_problem(text: str) -> str | None:
    """Why re-emitting python-hcl2's parse of `text` does not give `text` back, or None when it does."""
    again = render(parse(text))
    if again == text:
        return None
    for n, (a, b) in enumerate(zip(text.splitlines(), again.splitlines(), strict=False), 1):
        if a != b:
            return f"line {n}: written {a!r}, re-emitted {b!r}"
    return "the re-emitted text differs in length"
