"""Located diagnostics, the one way mpc reports a problem in the user's input, and every code it uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A 1-based line and column in a named file."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    location: Location
    hint: str = ""
    severity: Severity = Severity.ERROR
    # Extra located lines (a cycle's edges, the earlier of two duplicates).
    notes: tuple[tuple[Location, str], ...] = field(default=())

    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.file, loc.line, loc.col, self.code, self.message)

    def render(self) -> str:
        lines = [f"{self.location}: {self.severity.value}[{self.code}]: {self.message}"]
        for note_loc, note in self.notes:
            lines.append(f"  {note_loc}: note: {note}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class MpcError(Exception):
    """The user's input is wrong: carries every diagnostic found, sorted by position."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__("\n".join(d.render() for d in self.diagnostics))


class PluginError(Exception):
    """A third-party plugin failed: reported with the plugin's name, never as an mpc bug."""

    def __init__(self, kind: str, name: str, distribution: str, cause: BaseException) -> None:
        self.kind = kind
        self.name = name
        self.distribution = distribution
        self.cause = cause
        super().__init__(f"{kind} plugin {name!r} ({distribution}) failed: {type(cause).__name__}: {cause}")


def did_you_mean(name: str, candidates: list[str] | tuple[str, ...] | set[str]) -> str:
    """A hint naming the closest known name, or listing the choices when there are few."""
    import difflib

    pool = sorted(candidates)
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if not pool:
        return ""
    if len(pool) <= 8:
        return "known: " + ", ".join(pool)
    return ""


CODES: dict[str, str] = {
    # E1xx: the file and its YAML
    "E101": "the file cannot be read",
    "E102": "the file is too large",
    "E103": "the text is not valid YAML",
    "E104": "a key appears twice in one mapping",
    "E105": "a YAML tag other than the standard ones",
    "E106": "aliases expand beyond the allowed bound",
    "E107": "the document is not a mapping, or there is more than one document",
    "E108": "a mapping key that is not a plain string",
    # E2xx: schema
    "E201": "unknown key",
    "E202": "a required key is missing",
    "E203": "a value has the wrong type",
    "E204": "a value is out of range or malformed",
    "E205": "unsupported apiVersion or kind",
    "E206": "a value is not one of the allowed choices",
    "E207": "a custom resource instance does not match its schema",
    "E208": "a plugin's extension block does not match its schema",
    # E3xx: references and the graph
    "E301": "a reference names something that does not exist",
    "E302": "dependency cycle",
    "E303": "two routes have the same prefix",
    "E304": "a route is shadowed by an earlier, shorter prefix",
    "E305": "a route names a service without an HTTP or gRPC port",
    "E306": "image without a tag, or tagged latest",
    "E307": "a secret value written as a literal",
    "E308": "a name is not a DNS-1123 label",
    "E309": "oauth2Client without auth.provider",
    "E310": "a name is used twice across services and external entries",
    "E311": "an archetype's requirements are not met",
    "E312": "a service depends on itself",
    "E313": "a generated object fails mpc's own analysis",
    "E314": "unknown archetype or backend",
    "E315": "the output would overwrite a file mpc does not own",
    # E4xx: governance
    "E401": "a service has no owner",
    "E402": "an image comes from a registry that is not allowed",
    "E403": "fewer replicas than the environment's minimum",
    "E404": "a protected name does not exist",
    # E5xx: plugins and validators
    "E501": "a plugin failed",
    "E502": "a real validator rejected the output",
    # Wxxx: warnings (reported, never fatal)
    "W301": "a GPU service is placed on a cluster without a GPU node pool",
    # E6xx: publishing to the GitOps repository
    "E601": "git failed, or the GitOps clone is not usable",
    "E602": "the GitOps folder has uncommitted changes",
}
