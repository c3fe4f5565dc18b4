"""parse: a loaded Document into spec.Mesh, with every pydantic error mapped back to FILE:LINE:COL."""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from mpc.errors import MAX_REPORTED, Code, Diagnostic, Location, MpcError, Suggestions
from mpc.lang.load import Document, PathKey, dotted, key_path
from mpc.lang.names import name_problem, named, suggest_label
from mpc.lang.secrets import find_secrets
from mpc.lang.spec import API_VERSION, SUPPORTED_API_VERSIONS, Mesh

_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
}

_PATTERN_WORDS = {
    r"^/[^\s?#]*$": "a path starting with '/' (no spaces, query or fragment)",
    r"^https?://": "an http:// or https:// URL",
    r"^[A-Za-z0-9.-]+:\d{1,5}$": "host:port",
    r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$": "a relative folder path",
    r"^[A-Z][A-Za-z0-9]*$": "a CamelCase kind such as Model",
    r"^v\d+((alpha|beta)\d+)?$": "a version such as v1 or v1beta1",
    r"^[A-Z]+$": "an HTTP method in capitals, such as GET or POST",
    r"^/[^\s?#*]*(/\*)?$": "an exact path, or a prefix ending in /* (e.g. /api/*)",
    r"^[0-9.]+/\d{1,2}$|^[0-9a-fA-F:]+/\d{1,3}$": "an address with its prefix length, e.g. 10.20.0.3/32",
}


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = repr(value)
    if len(text) <= 40:
        return text
    return text[:36] + "..." + text[-1] if isinstance(value, str) else text[:37] + "..."


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types behind Optional/Annotated/unions."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out.extend(_unwrap(arg))
        return out
    return [annotation]


def _fits(model: type[BaseModel], data: Any) -> bool:
    """Whether a mapping can be this member of a union: its Literal fields (the discriminator) agree."""
    if not isinstance(data, dict):
        return True
    for name, info in model.model_fields.items():
        key = info.alias or name
        choices = [t for t in _unwrap(info.annotation) if typing.get_origin(t) is typing.Literal]
        if key in data and len(choices) == 1 and data[key] not in typing.get_args(choices[0]):
            return False
    return True


def _models_at(doc_path: PathKey, data: Any = None) -> list[type[BaseModel]]:
    """The spec model(s) that describe the mapping at a document path (for 'did you mean')."""
    current: list[Any] = [Mesh]
    for depth, part in enumerate(doc_path):
        nxt: list[Any] = []
        here = _value_at(data, doc_path[:depth])
        for tp in current:
            members = _unwrap(tp)
            union = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            if len(union) > 1:
                members = [m for m in members if m not in union or _fits(m, here)]
            for concrete in members:
                origin = typing.get_origin(concrete)
                if isinstance(concrete, type) and issubclass(concrete, BaseModel) and isinstance(part, str):
                    for name, info in concrete.model_fields.items():
                        if (info.alias or name) == part:
                            nxt.append(info.annotation)
                elif origin is dict and isinstance(part, str):
                    nxt.append(typing.get_args(concrete)[1])
                elif origin is list and isinstance(part, int):
                    nxt.append(typing.get_args(concrete)[0])
        current = nxt
    models: list[type[BaseModel]] = []
    here = _value_at(data, doc_path)
    for tp in current:
        for concrete in _unwrap(tp):
            if isinstance(concrete, type) and issubclass(concrete, BaseModel):
                models.append(concrete)
    fitting = [m for m in models if _fits(m, here)]
    return fitting or models


def _value_at(data: Any, path: PathKey) -> Any:
    for part in path:
        if isinstance(data, dict) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def _keys_of(models: list[type[BaseModel]]) -> list[str]:
    keys: set[str] = set()
    for model in models:
        keys.update(info.alias or name for name, info in model.model_fields.items())
    return sorted(keys)


def _doc_path(doc: Document, loc: tuple[Any, ...], kind: str) -> PathKey:
    """pydantic's loc with the non-document parts (union members, validator names) removed.

    The last part is kept when it is a key the document lacks (a missing key) or has (an unknown one).
    """
    path: list[str | int] = []
    for i, part in enumerate(loc):
        candidate = (*path, part)
        if doc.has(candidate) or (i == len(loc) - 1 and kind == "missing"):
            path.append(part)
    return tuple(path)


@dataclass(frozen=True)
class _Error:
    """One pydantic error, placed in the document."""

    doc: Document
    err: Any
    suggest: Suggestions
    kind: str
    path: PathKey
    ctx: Mapping[str, Any]
    value: Any

    @property
    def where(self) -> str:
        return dotted(self.path)

    def at(self, key: bool = False) -> Location:
        return self.doc.location(self.path, key=key)


def _unknown_key(e: _Error) -> Diagnostic:
    key = str(e.path[-1])
    parent = e.path[:-1]
    known = _keys_of(_models_at(parent, e.doc.data))
    return Diagnostic(
        Code.UNKNOWN_KEY,
        f"unknown key {key!r} in {dotted(parent)}",
        e.at(key=True),
        _unknown_hint(parent, key, known, e.suggest),
    )


def _missing_key(e: _Error) -> Diagnostic:
    tagged = e.kind == "union_tag_not_found"
    key = str(e.ctx.get("discriminator", "")).strip("'") if tagged else str(e.path[-1])
    parent = e.path if tagged else e.path[:-1]
    return Diagnostic(
        Code.MISSING_KEY,
        f"{dotted(parent)} is missing the required key {key!r}",
        e.doc.location(parent, key=True),
        _missing_hint(parent, key),
    )


def _not_a_choice(e: _Error) -> Diagnostic:
    expected = str(e.ctx.get("expected", e.ctx.get("expected_tags", "")))
    choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",") if c.strip()]
    value, path = e.value, e.path
    hint = e.suggest(str(value), choices) if isinstance(value, str) else ""
    hint = _CHOICE_HINTS.get(
        (str(path[0]), str(path[-1]), str(value)), hint if hint.startswith("did") else ""
    )
    if e.kind == "union_tag_invalid":
        path = (*path, str(e.ctx.get("discriminator", "")).strip("'"))
        value = e.ctx.get("tag")
    return Diagnostic(
        Code.NOT_A_CHOICE,
        f"{dotted(path)}: {_short(value)} is not one of {', '.join(repr(c) for c in choices)}",
        e.doc.location(path),
        hint,
    )


def _wrong_type(e: _Error) -> Diagnostic:
    written = _source_text(e.doc, e.path)
    number = isinstance(e.value, (int, float)) and not isinstance(e.value, bool)
    got = written if number and written else _short(e.value)
    return Diagnostic(
        Code.WRONG_TYPE,
        f"{e.where}: expected {_expected(e.path, e.kind)}, got {got}",
        # An empty value has no position of its own worth showing: point at its key.
        e.at(key=e.value is None),
        _type_hint(e.kind, e.value, written),
    )


def _value_error(e: _Error) -> Diagnostic:
    message = str(e.err["msg"]).removeprefix("Value error, ")
    return Diagnostic(Code.BAD_VALUE, f"{e.where}: {message}", e.at(), _unit_hint(e.value))


def _pattern(e: _Error) -> Diagnostic:
    pattern = str(e.ctx.get("pattern", ""))
    wanted = _PATTERN_WORDS.get(pattern, f"text matching {pattern}")
    return Diagnostic(Code.BAD_VALUE, f"{e.where}: {_short(e.value)} is not {wanted}", e.at())


_BOUNDS = {
    "greater_than_equal": ("at least", "ge"),
    "greater_than": ("more than", "gt"),
    "less_than_equal": ("at most", "le"),
    "less_than": ("less than", "lt"),
}


def _bound(e: _Error) -> Diagnostic:
    word, key = _BOUNDS[e.kind]
    return Diagnostic(
        Code.BAD_VALUE, f"{e.where}: must be {word} {_short(e.ctx.get(key))}, got {_short(e.value)}", e.at()
    )


def _too_short(e: _Error) -> Diagnostic:
    least = e.ctx.get("min_length")
    return Diagnostic(
        Code.BAD_VALUE,
        f"{e.where}: needs at least {least} entr{'y' if least == 1 else 'ies'}, got none",
        e.at(),
    )


def _too_long(e: _Error) -> Diagnostic:
    return Diagnostic(
        Code.BAD_VALUE,
        f"{e.where}: {_short(e.value)} is longer than {e.ctx.get('max_length')} characters",
        e.at(),
    )


def _other(e: _Error) -> Diagnostic:
    return Diagnostic(Code.BAD_VALUE, f"{e.where}: {e.err['msg']}", e.at())


# pydantic's error types, each worded in mesh terms by one function.
_WORDINGS: dict[str, Callable[[_Error], Diagnostic]] = {
    **dict.fromkeys(_TYPE_WORDS, _wrong_type),
    "extra_forbidden": _unknown_key,
    "missing": _missing_key,
    "union_tag_not_found": _missing_key,
    "literal_error": _not_a_choice,
    "union_tag_invalid": _not_a_choice,
    "value_error": _value_error,
    "string_pattern_mismatch": _pattern,
    "too_short": _too_short,
    "string_too_long": _too_long,
    **dict.fromkeys(_BOUNDS, _bound),
}


def _diagnostic(doc: Document, err: Any, suggest: Suggestions) -> Diagnostic:
    kind: str = err["type"]
    path = _doc_path(doc, tuple(err["loc"]), kind)
    error = _Error(doc, err, suggest, kind, path, err.get("ctx") or {}, err.get("input"))
    return _WORDINGS.get(kind, _other)(error)


# Unions of plain types report one error per member; name them together.
_UNION_WORDS = {("env",): "a string, number or true/false"}


def _expected(path: PathKey, kind: str) -> str:
    if len(path) == 4 and path[0] == "services" and path[2] == "env":
        return _UNION_WORDS[("env",)]
    return _TYPE_WORDS[kind]


def _type_hint(kind: str, value: Any, written: str) -> str:
    if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'quote it: "{written or value}" (YAML reads it as a number)'
    if kind == "string_type" and isinstance(value, bool):
        return f'quote it: "{written or value}" (YAML reads it as true/false)'
    if kind in ("dict_type", "model_type", "model_attributes_type") and value is None:
        return "give it a value, or remove the key"
    quoted_number = isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value)
    if kind in ("int_type", "float_type") and quoted_number:
        return f"remove the quotes: {value} (a quoted number is text)"
    if kind == "int_type" and isinstance(value, float) and value.is_integer():
        return f"write {int(value)}"
    if kind == "list_type" and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return f"write a list: [{json.dumps(value)}]"
    return ""


def _source_text(doc: Document, path: PathKey) -> str:
    """The scalar as written in the file (1.30, not the float 1.3), for hints that quote it."""
    if not doc.has(path):
        return ""
    line, col = doc.value_pos[path]
    lines = doc.text.splitlines()
    if line > len(lines):
        return ""
    match = re.match(r"[^,\]}#\s]+", lines[line - 1][col - 1 :])
    return match.group(0) if match else ""


# Choices people reach for that mean something else here.
_CHOICE_HINTS = {
    ("services", "protocol", "https"): "a service speaks plain http: Istio adds mTLS between services, "
    "and the master proxy terminates TLS (gateway.tls)",
    ("external", "protocol", "https"): "an HTTPS endpoint is protocol: tls (TLS to port 443)",
    ("clusters", "provider", "aws"): "clusters run on gke or digitalocean",
    ("gitops", "engine", "argo"): "did you mean 'argocd'?",
}


def _unit_hint(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"add a unit, e.g. {value}ms or {value}s" if isinstance(value, int) else ""
    return ""


_MISSING_HINTS = {
    "origins": 'the allowed origins, e.g. origins: ["https://app.example.com"]',
    "repo": "the Git repository mpc's output is committed to, e.g. repo: https://github.com/acme/gitops.git",
    "secret": "the name of an existing Kubernetes TLS Secret; certificates never go in mesh.yaml",
    "apiVersion": "mesh.yaml starts with apiVersion: masterproxy.dev/v1alpha1 and kind: Mesh",
    "kind": "add kind: Mesh",
    "image": "name the image with a pinned tag, e.g. image: ghcr.io/acme/auth:1.4.2",
    "prefix": "the path prefix this route matches, e.g. prefix: /auth",
    "provider": "gke or digitalocean",
}


def _missing_hint(parent: PathKey, key: str) -> str:
    if parent == () and key in ("metadata", "gateway", "services"):
        return "see docs/mesh-reference.md or start from `mpc init`"
    return _MISSING_HINTS.get(key, "")


def _header_checks(doc: Document) -> list[Diagnostic]:
    data = doc.data
    found: list[Diagnostic] = []
    api = data.get("apiVersion")
    if "apiVersion" in data and api not in SUPPORTED_API_VERSIONS:
        found.append(
            Diagnostic(
                Code.API_VERSION,
                f"apiVersion {_short(api)} is not supported",
                doc.location(("apiVersion",)),
                "supported: " + ", ".join(SUPPORTED_API_VERSIONS),
            )
        )
    if "kind" in data and data.get("kind") != "Mesh":
        found.append(
            Diagnostic(
                Code.API_VERSION,
                f"kind {_short(data.get('kind'))} is not supported",
                doc.location(("kind",)),
                "use kind: Mesh",
            )
        )
    return found


# Mappings that need one of several keys (the first is the one a mesh usually writes): where they are,
# the keys, and the hint. Checked on the document, so they are reported beside pydantic's errors.
_ONE_OF: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (("services", "*"), ("image", "versions"), _MISSING_HINTS["image"]),
    (("external", "*"), ("host", "addresses"), "the host services call, its addresses, or both"),
    (
        ("gateway", "routes", "#"),
        ("prefix", "path"),
        "the path prefix this route matches, e.g. prefix: /auth (or path: /login for one exact path)",
    ),
)


def _entries(data: Any, pattern: tuple[str, ...]) -> list[tuple[PathKey, dict[str, Any]]]:
    """The mappings at a path pattern ('*' any key of a mapping, '#' any item of a list)."""
    found: list[tuple[PathKey, Any]] = [((), data)]
    for part in pattern:
        nxt: list[tuple[PathKey, Any]] = []
        for path, value in found:
            if part == "*" and isinstance(value, dict):
                nxt.extend(((*path, k), v) for k, v in value.items())
            elif part == "#" and isinstance(value, list):
                nxt.extend(((*path, i), v) for i, v in enumerate(value))
            elif isinstance(value, dict) and part in value:
                nxt.append(((*path, part), value[part]))
        found = nxt
    return [(path, value) for path, value in found if isinstance(value, dict)]


def _missing_one_of(doc: Document) -> list[Diagnostic]:
    found = []
    for pattern, keys, hint in _ONE_OF:
        for path, value in _entries(doc.data, pattern):
            if not any(k in value for k in keys):
                found.append(
                    Diagnostic(
                        Code.MISSING_KEY,
                        f"{dotted(path)} is missing the required key {keys[0]!r}",
                        doc.location(path, key=True),
                        hint,
                    )
                )
    return found


def _unknown_hint(parent: PathKey, key: str, known: list[str], suggest: Suggestions) -> str:
    if parent == ("gateway", "tls"):
        return "tls names a Kubernetes TLS Secret (tls: {secret: NAME}); key material never goes in mesh.yaml"
    return suggest(key, known) if known else "this section takes no keys of its own"


def _merge_typos(problems: list[Diagnostic]) -> list[Diagnostic]:
    """A misspelt required key gives 'unknown key' and 'missing key'; keep only the first, with its hint."""
    suggested = {
        (d.message.split(" in ", 1)[1], d.hint.split("'")[1])
        for d in problems
        if d.code == Code.UNKNOWN_KEY and d.hint.startswith("did you mean")
    }
    kept = []
    for d in problems:
        if d.code == Code.MISSING_KEY:
            parent, _, key = d.message.partition(" is missing the required key ")
            if (parent, key.strip("'")) in suggested:
                continue
        kept.append(d)
    return kept


def _bad_names(doc: Document, reported: set[Any]) -> list[Diagnostic]:
    """E308 for every name that could be read, reported with the schema errors (the graph checks report
    them only for a file that parsed): every problem at once."""
    found = []
    for what, name, path, is_key in named(doc.data):
        problem = name_problem(name)
        where = doc.location(path, key=is_key)
        if problem and where not in reported:
            found.append(
                Diagnostic(Code.BAD_NAME, f"{what} name {name!r} {problem}", where, suggest_label(name))
            )
    return found


def _deepest(problems: list[Diagnostic]) -> list[Diagnostic]:
    """A union of a string and a mapping (a dependsOn entry) reports a wrong type for the member the value
    is not, beside the mapping's own errors: keep the errors inside the value, which say what is wrong."""
    outer: set[str] = set()  # every path some other problem lies inside
    for d in problems:
        path = d.location.path
        for i, ch in enumerate(path):
            if ch in ".[" and i:
                outer.add(path[:i])
    return [d for d in problems if not (d.code == Code.WRONG_TYPE and d.location.path in outer)]


# pydantic's error kinds by the code they become, for telling apart errors at one place before any
# message is worded (only the reported ones are).
_KIND_CODES = {
    "extra_forbidden": Code.UNKNOWN_KEY,
    "missing": Code.MISSING_KEY,
    "union_tag_not_found": Code.MISSING_KEY,
    "literal_error": Code.NOT_A_CHOICE,
    "union_tag_invalid": Code.NOT_A_CHOICE,
    **dict.fromkeys(_TYPE_WORDS, Code.WRONG_TYPE),
}


def _distinct(doc: Document, errors: list[Any], skip: set[Location]) -> list[tuple[Location, Any]]:
    """pydantic's errors, one per problem, in the order of their positions.

    A union reports one error per member at the same place: the first of each kind is kept. Finding
    where an error is costs a few lookups; wording it (and its hint) costs more, so that is left to
    the errors that are reported.
    """
    seen: set[tuple[int, int, str, str]] = set()
    out: list[tuple[Location, Any]] = []
    for err in errors:
        kind = err["type"]
        path = _doc_path(doc, tuple(err["loc"]), kind)
        code = _KIND_CODES.get(kind, Code.BAD_VALUE)
        if code is Code.UNKNOWN_KEY:
            where, same = doc.location(path, key=True), key_path(path)
        elif code is Code.MISSING_KEY:
            parent = path if kind == "union_tag_not_found" else path[:-1]
            where, same = doc.location(parent, key=True), key_path(path)
        else:
            where, same = doc.location(path), ""
        key = (where.line, where.col, code, same)
        if key in seen or where in skip:
            continue
        seen.add(key)
        out.append((where, err))
    out.sort(key=lambda pair: (pair[0].line, pair[0].col))
    return out


def parse(doc: Document) -> Mesh:
    """Validate the document against the spec; raise MpcError with the problems found (the first
    MAX_REPORTED by position described, the rest counted)."""
    problems = _header_checks(doc) + find_secrets(doc) + _missing_one_of(doc)
    skip_paths = {d.location for d in problems}
    try:
        mesh = Mesh.model_validate(doc.data)
    except ValidationError as exc:
        found = _distinct(doc, exc.errors(include_url=False), skip_paths)
        reported = found[: max(0, MAX_REPORTED - len(problems))]
        suggest = Suggestions()
        problems.extend(_diagnostic(doc, err, suggest) for _, err in reported)
        problems += _bad_names(doc, {d.location for d in problems})
        raise MpcError(_merge_typos(_deepest(problems)), omitted=len(found) - len(reported)) from None
    if problems:
        raise MpcError(problems)
    return mesh


__all__ = ["API_VERSION", "dotted", "parse"]
