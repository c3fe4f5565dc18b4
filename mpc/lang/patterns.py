"""A CRD's `pattern` as the Kubernetes API server reads it: RE2 syntax, matched in linear time.

The API server compiles each `pattern` with Go's regexp, which is RE2: no lookaround, no backreferences,
no possessive quantifiers. mpc compiles the same pattern with RE2 when the mesh is checked, so a pattern
the API server would refuse is a located error rather than a CRD that fails to apply, and it matches
instances with RE2 too, so `^(a+)+$` against a long string answers at once instead of backtracking.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import re2

# RE2 takes `\C` (one byte, even inside a UTF-8 character); Go's regexp refuses it.
_SINGLE_BYTE = re.compile(r"(?<!\\)(?:\\\\)*\\C")


def _options() -> re2.Options:
    options = re2.Options()
    # Otherwise RE2 writes every pattern it refuses to stderr, beside mpc's own located diagnostic.
    options.log_errors = False
    return options


def syntax_error(pattern: str) -> str | None:
    """Why the API server would refuse `pattern` (RE2's words), or None when it compiles."""
    if _SINGLE_BYTE.search(pattern):
        return "invalid escape sequence: \\C"
    try:
        re2.compile(pattern, _options())
    except re2.error as err:
        reason = err.args[0] if err.args else ""
        return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    return None


def search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text` (JSON Schema's `pattern`), in time linear in both."""
    return re2.search(pattern, text, _options()) is not None


def schema_validator(schema: Mapping[str, Any]) -> Any:
    """A JSON Schema 2020-12 validator whose `pattern` is RE2's, as the API server matches it: linear in
    time, and with Go's meaning of each class (`\\d` is ASCII digits)."""
    import jsonschema  # only a mesh with custom resource instances pays for it
    from jsonschema.exceptions import ValidationError

    def pattern(validator: Any, regex: str, instance: object, schema: object) -> Iterable[ValidationError]:
        if isinstance(instance, str) and not search(regex, instance):
            yield ValidationError(f"{instance!r} does not match {regex!r}")

    kind = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator, {"pattern": pattern}
    )
    return kind(schema)
