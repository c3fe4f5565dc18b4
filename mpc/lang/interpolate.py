"""`${NAME.address|host|port}` and `${NAME.ports.PORT}` in env values: service addresses written once.

NAME is a service, an external entry, or `self`. A reference resolves per environment (each has its own
namespace), so the text stays as written in the model and each renderer substitutes it with the
addresses of its environment. `$${` writes a literal `${`. The checks (mpc.graph.checks.calls) read the
same references to report unknown names, ports and calls nobody declared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

SELF = "self"
_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_FORM = re.compile(r"^([a-z][-a-z0-9]*)\.(address|host|port|ports\.([a-z0-9][-a-z0-9]*))$")


@dataclass(frozen=True, slots=True)
class Reference:
    """One `${...}` in a value: `name.attribute`, with the port name for `ports.PORT`."""

    text: str  # as written between the braces
    name: str
    attribute: str  # address | host | port | ports
    port: str | None  # the port name of `ports.PORT`


@dataclass(frozen=True, slots=True)
class Addressable:
    """What a reference can resolve to: a host and the ports callers dial, by name, the first one first."""

    host: str
    ports: tuple[tuple[str, int], ...]

    def value(self, ref: Reference) -> str:
        if ref.attribute == "host":
            return self.host
        if ref.attribute == "ports":
            return str(dict(self.ports)[ref.port or ""])
        first = str(self.ports[0][1])
        return first if ref.attribute == "port" else f"{self.host}:{first}"


class BadReference(ValueError):
    """A `${` that is not one of the forms above (the message says which part is wrong)."""


def parse(inner: str) -> Reference:
    match = _FORM.match(inner)
    if match is None:
        raise BadReference(
            f"${{{inner}}} is not a reference: write ${{NAME.address}}, ${{NAME.host}}, ${{NAME.port}} "
            "or ${NAME.ports.PORT}"
        )
    name, attribute, port = match.group(1), match.group(2), match.group(3)
    return Reference(inner, name, "ports" if port is not None else attribute, port)


def references(text: str) -> Iterator[Reference]:
    """Every reference in a value, in order; raises BadReference at the first malformed one."""
    for token in _TOKEN.finditer(text):
        if token.group(0) == "$${":
            continue
        if token.group(1) is None:
            raise BadReference("'${' is not closed with '}' (write $${ for a literal ${)")
        yield parse(token.group(1))


def substitute(text: str, resolve: Callable[[Reference], str]) -> str:
    """The value with every reference replaced and `$${` written as `${`."""

    def one(token: re.Match[str]) -> str:
        if token.group(0) == "$${":
            return "${"
        if token.group(1) is None:
            raise BadReference("'${' is not closed with '}'")
        return resolve(parse(token.group(1)))

    return _TOKEN.sub(one, text)


def render(text: str, targets: Mapping[str, Addressable]) -> str:
    """Substitute from a table of names (`self` included); a missing name is a bug, checks came first."""
    return substitute(text, lambda ref: targets[ref.name].value(ref))
