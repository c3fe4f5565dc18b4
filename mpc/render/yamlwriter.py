"""A small block-style YAML emitter for the plain data mpc produces (dict, list, str, int, float, bool, None).

General emitters are an order of magnitude too slow for a thousand-service mesh; this one writes only
the shapes of data mpc produces, and does that quickly. Strings are written plain only when every YAML
1.1 and 1.2 reader takes them back as the same string; anything else is double-quoted with JSON escaping
(a JSON string is a valid YAML double-quoted scalar) or, when it spans lines, written as a block literal.
Mapping keys keep their insertion order: backends build objects in the order a person would write them
(apiVersion, kind, metadata, spec).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

# `#` and brackets inside a plain scalar are text (a comment needs a space before `#`, and brackets
# mean flow style only at the start or inside flow collections, which this writer never uses).
_PLAIN = re.compile(r"^[A-Za-z_/$][A-Za-z0-9_./@%+=,:~$#\[\]-]*(?: [A-Za-z0-9_./@%+=,:~()$'#\[\]-]+)*$")
_PLAIN_NUMERIC = re.compile(r"^[0-9]+(?:\.[0-9]+)?(?:m|k|Ki|Mi|Gi|Ti|Pi|M|G|T|P|ms|s|h)$")
_NUMERIC_LIKE = re.compile(r"[0-9:._+-]+")
_RESERVED = frozenset(
    {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "~", "nan", "inf", "=", "<<"}
)


_RELATIVE_PATH = re.compile(r"\.\.?/[A-Za-z0-9_./@%+=,~$-]*")


def _plain_ok(text: str) -> bool:
    if _PLAIN_NUMERIC.fullmatch(text):
        return True
    if _RELATIVE_PATH.fullmatch(text):
        # ./x and ../x read as strings in every YAML version (a number never holds '/'), as in kustomize.
        return True
    if not _PLAIN.fullmatch(text):
        return False
    if text.lower() in _RESERVED or text.endswith(":") or ": " in text or " #" in text:
        return False
    # "1:20" and friends are YAML 1.1 sexagesimal numbers; "a:b" is fine, digits-only around ':' is not.
    return not _NUMERIC_LIKE.fullmatch(text)


# Characters a YAML reader would refuse or fold (C1 controls, NEL, line/paragraph separators, BOM, the
# non-characters), escaped inside double quotes; JSON already escapes the C0 controls.
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _quote(text: str) -> str:
    quoted = json.dumps(text, ensure_ascii=False)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("non-finite floats are not written")
        text = repr(value)
        if "e" in text:
            # YAML 1.1 readers want a '.' in the mantissa and a signed exponent: 1.0e+20, not 1e20.
            mantissa, _, exponent = text.partition("e")
            if "." not in mantissa:
                mantissa += ".0"
            if exponent[0] not in "+-":
                exponent = "+" + exponent
            text = f"{mantissa}e{exponent}"
        return text
    if isinstance(value, str):
        if _plain_ok(value):
            return value
        return _quote(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _key(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"mapping keys must be strings, not {type(value).__name__}")
    return scalar(value)


def _block_literal(text: str, indent: str) -> str | None:
    """`|` or `|-` for multi-line text whose lines survive block literal folding exactly; None for text
    that a block literal cannot keep (the caller quotes it).

    A reader takes the content's indentation from the first non-empty line, so when that line starts
    with a space the header carries an explicit indentation indicator (`|2-`): the content is always
    written two columns deeper than the key or `- ` that holds it.
    """
    if "\n" not in text or "\r" in text:
        return None
    body = text[:-1] if text.endswith("\n") else text
    if body.endswith("\n") or not body.strip("\n"):
        return None
    lines = body.split("\n")
    if any(
        line != line.rstrip() or (line and not line.isprintable()) or _UNSAFE.search(line) for line in lines
    ):
        return None
    first = next(line for line in lines if line)
    if first[0] == "\t":
        return None  # a tab where the indentation is read: quoted instead
    header = "|" if text.endswith("\n") else "|-"
    if first[0] == " ":
        header = header[0] + "2" + header[1:]
    inner = indent + "  "
    return header + "".join("\n" + (inner + line if line else "") for line in lines)


_SCALAR_TYPES = frozenset({int, float, bool, type(None)})


def _kind(value: Any) -> type:
    """str, dict (any mapping), list (a list or tuple) or the value's own type, exact types first."""
    kind = type(value)
    if kind is str or kind is dict or kind is list or kind in _SCALAR_TYPES:
        return kind
    if kind is tuple:
        return list
    if isinstance(value, str):
        return str
    if isinstance(value, Mapping):
        return dict
    if isinstance(value, (list, tuple)):
        return list
    return kind


class Writer:
    """Writes documents; remembers how each string was written, since keys and values repeat by the
    thousand across one output tree (a build writes every file with one Writer)."""

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}

    def _string(self, text: str) -> str:
        """A one-line string as written; remembered (multi-line strings depend on their indent)."""
        written = self._strings.get(text)
        if written is None:
            written = scalar(text)
            if "\n" not in text:
                self._strings[text] = written
        return written

    def _value(self, value: Any, indent: str) -> str:
        """A scalar as written after `key: ` or `- ` at `indent` (a block literal for multi-line text)."""
        kind = type(value)
        if kind is str or isinstance(value, str):
            if "\n" in value:
                literal = _block_literal(value, indent)
                if literal is not None:
                    return literal
            return self._string(value) if kind is str else scalar(value)
        if kind is int:
            return str(value)
        return scalar(value)

    def _emit(self, value: Any, indent: str, out: list[str]) -> None:
        """Append the lines of a block collection (value is a non-empty dict or list) at `indent`."""
        # The hot loop of a build (ten million scalars at 10,000 services): exact-type checks and the
        # string memo come first, the general cases after.
        strings = self._strings
        append = out.append
        if type(value) is dict or _kind(value) is dict:
            for k, v in value.items():
                key = strings.get(k) if type(k) is str else None
                if key is None:
                    key = _key(k)
                    if "\n" not in k:
                        strings[k] = key
                kind = type(v)
                if kind is str:
                    written = strings.get(v)
                    append(f"{indent}{key}: {written if written is not None else self._value(v, indent)}")
                    continue
                if kind is not dict and kind is not list:
                    kind = _kind(v)
                if kind is dict:
                    if v:
                        append(f"{indent}{key}:")
                        self._emit(v, indent + "  ", out)
                    else:
                        append(f"{indent}{key}: {{}}")
                elif kind is list:
                    if v:
                        append(f"{indent}{key}:")
                        self._emit(v, indent, out)
                    else:
                        append(f"{indent}{key}: []")
                else:
                    append(f"{indent}{key}: {self._value(v, indent)}")
            return
        for item in value:
            kind = type(item)
            if kind is str:
                written = strings.get(item)
                append(f"{indent}- {written if written is not None else self._value(item, indent)}")
                continue
            if kind is not dict and kind is not list:
                kind = _kind(item)
            if kind is dict or kind is list:
                if item:
                    lines: list[str] = []
                    self._emit(item, indent + "  ", lines)
                    lines[0] = f"{indent}- {lines[0][len(indent) + 2 :]}"
                    out.extend(lines)
                elif kind is list:
                    append(f"{indent}- []")
                else:
                    append(f"{indent}- {{}}")
            else:
                append(f"{indent}- {self._value(item, indent)}")

    def dump(self, value: Any) -> str:
        """One YAML document, ending in a newline."""
        if isinstance(value, Mapping):
            if not value:
                return "{}\n"
        elif isinstance(value, (list, tuple)):
            if not value:
                return "[]\n"
        else:
            return scalar(value) + "\n"
        lines: list[str] = []
        self._emit(value, "", lines)
        return "\n".join(lines) + "\n"

    def dump_all(self, documents: Sequence[Any]) -> str:
        """Several documents separated by `---`."""
        return "---\n".join(self.dump(doc) for doc in documents)


def dump(value: Any) -> str:
    """One YAML document, ending in a newline."""
    return Writer().dump(value)


def dump_all(documents: Sequence[Any]) -> str:
    """Several documents separated by `---`."""
    return Writer().dump_all(documents)
