"""Located diagnostics, the one way mpc reports a problem in the user's input, and every code it uses."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A 1-based line and column in a named file, and the key path written there.

    Diagnostics show the line and column; generated files name only the key path
    (`mesh.yaml#services.accounts`), which does not move when lines are added above it.
    """

    file: str
    line: int = 0
    col: int = 0
    path: str = ""  # dotted key path, e.g. services.accounts or gateway.routes[2]

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


# Diagnostics reported for one input: a file with a hundred thousand mistakes is answered with the
# first ones by position and a count of the rest, in seconds, not with a megabyte of text.
MAX_REPORTED = 200


class MpcError(Exception):
    """The user's input is wrong: the diagnostics found, sorted by position, at most MAX_REPORTED of them.

    `omitted` counts those left out (here, or by a stage that stopped describing them once the cap was
    reached); the message ends with "... and N more".
    """

    def __init__(self, diagnostics: list[Diagnostic], omitted: int = 0) -> None:
        # Errors first: warnings are reported only where the cap leaves room.
        errors = [d for d in diagnostics if d.severity is Severity.ERROR]
        kept = sorted(errors, key=Diagnostic.sort_key)[:MAX_REPORTED]
        if len(kept) < MAX_REPORTED:
            warnings = [d for d in diagnostics if d.severity is not Severity.ERROR]
            kept += sorted(warnings, key=Diagnostic.sort_key)[: MAX_REPORTED - len(kept)]
        self.diagnostics = sorted(kept, key=Diagnostic.sort_key)
        self.omitted = omitted + len(diagnostics) - len(kept)
        self.omitted_errors = omitted + len(errors) - sum(1 for d in kept if d.severity is Severity.ERROR)
        lines = [d.render() for d in self.diagnostics]
        if self.omitted:
            lines.append(omitted_line(self.omitted, self.omitted_errors))
        super().__init__("\n".join(lines))

    @property
    def errors(self) -> int:
        """How many errors were found (warnings aside), the omitted ones included."""
        return sum(1 for d in self.diagnostics if d.severity is Severity.ERROR) + self.omitted_errors


def omitted_line(omitted: int, errors: int) -> str:
    """`... and 99800 more`, naming the warnings among them when there are any."""
    warnings = omitted - errors
    if not warnings:
        return f"... and {omitted} more"
    if not errors:
        return f"... and {warnings} more warning{'s' if warnings != 1 else ''}"
    return f"... and {errors} more, and {warnings} warning{'s' if warnings != 1 else ''}"


class OutputRejected(Exception):
    """A real validator refused a file mpc wrote from a valid mesh: a bug in mpc, never the user's
    mistake (exit 3). Each diagnostic quotes the validator and points at the mesh entry that produced
    the file, with the file as a note."""

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


class EnvironmentFailure(Exception):
    """The machine refused what the user asked (a path that cannot be written, a full disk, a closed
    output): not the user's mesh and not a bug in mpc. Reported in one line naming the path; exit 2."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    @classmethod
    def of(cls, error: OSError, path: str | None = None) -> EnvironmentFailure:
        where = path or error.filename or "?"
        return cls(str(where), error.strerror or str(error))


def did_you_mean(name: str, candidates: Collection[str]) -> str:
    """A hint naming the closest known name, or listing the choices when there are few.

    Its cost grows with the candidates: where it may be asked many times over a large pool, go through
    a Suggestions budget.
    """
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


# Candidate names "did you mean" may compare against in one analysis (a comparison of two similar names
# costs microseconds): hints for a score of typos in a mesh of ten thousand services, and a bound of about
# a second on a file of a hundred thousand unknown names, each of which would otherwise be compared with
# every one of forty thousand services (hours).
HINT_BUDGET = 200_000


class Suggestions:
    """`did_you_mean` under one budget of comparisons: once spent, hints are left out (the diagnostics
    themselves never are). One per analysis; never shared between runs."""

    def __init__(self, budget: int = HINT_BUDGET) -> None:
        self.left = budget

    def __call__(self, name: str, candidates: Collection[str]) -> str:
        cost = len(candidates) + 1
        if cost > self.left:
            self.left = 0
            return ""
        self.left -= cost
        return did_you_mean(name, candidates)


class Code(StrEnum):
    """Every diagnostic code mpc can emit (docs/errors.md explains each); CODES has a one-line summary."""

    # E1xx: the file and its YAML
    UNREADABLE = "E101"
    TOO_LARGE = "E102"
    NOT_YAML = "E103"
    DUPLICATE_KEY = "E104"
    TAG = "E105"
    ALIAS_BOMB = "E106"
    NOT_ONE_MAPPING = "E107"
    KEY_NOT_A_STRING = "E108"
    # E2xx: schema
    UNKNOWN_KEY = "E201"
    MISSING_KEY = "E202"
    WRONG_TYPE = "E203"
    BAD_VALUE = "E204"
    API_VERSION = "E205"
    NOT_A_CHOICE = "E206"
    CUSTOM_RESOURCE_INSTANCE = "E207"
    EXTENSION_BLOCK = "E208"
    CRD_PROTECTED_GROUP = "E209"
    CRD_NAME = "E210"
    CRD_PATTERN = "E211"
    # E3xx: references and the graph
    UNKNOWN_REFERENCE = "E301"
    CYCLE = "E302"
    DUPLICATE_ROUTE = "E303"
    SHADOWED_ROUTE = "E304"
    ROUTE_NOT_HTTP = "E305"
    IMAGE_TAG = "E306"
    SECRET_LITERAL = "E307"
    BAD_NAME = "E308"
    OAUTH2_WITHOUT_PROVIDER = "E309"
    NAME_TAKEN = "E310"
    ARCHETYPE_REQUIREMENT = "E311"
    SELF_DEPENDENCY = "E312"
    GENERATED_OBJECT = "E313"
    UNKNOWN_PLUGIN = "E314"
    FOREIGN_FILE = "E315"
    OUTPUT_FOLDER = "E316"
    UNDECLARED_CALL = "E317"
    EXCLUSIVE_KEYS = "E318"
    NARROWING_NOT_HTTP = "E319"
    PLAIN_HTTP = "E320"
    RESERVED_NAME = "E321"
    # E4xx: governance
    NO_OWNER = "E401"
    REGISTRY_NOT_ALLOWED = "E402"
    TOO_FEW_REPLICAS = "E403"
    UNKNOWN_PROTECTED = "E404"
    DIGEST_REQUIRED = "E405"
    # E5xx: plugins and validators
    PLUGIN_FAILED = "E501"
    VALIDATOR_REJECTED = "E502"
    # Wxxx: warnings (reported, never fatal)
    GPU_WITHOUT_POOL = "W301"
    UNREPLICATED_STATE = "W302"
    FLOATING_TAG = "W304"
    UNCALLED_SERVICE = "W303"
    # E6xx: publishing to the GitOps repository
    GIT_FAILED = "E601"
    GITOPS_DIRTY = "E602"
    # E7xx/W7xx: mpc verify, on a rendered tree
    LAYER_DISAGREES = "E701"
    TREE_NOT_FROM_MESH = "E702"
    RETRY_AMPLIFICATION = "W701"


CODES: dict[Code, str] = {
    Code.UNREADABLE: "the file cannot be read",
    Code.TOO_LARGE: "the file is too large",
    Code.NOT_YAML: "the text is not valid YAML",
    Code.DUPLICATE_KEY: "a key appears twice in one mapping",
    Code.TAG: "a YAML tag other than the standard ones",
    Code.ALIAS_BOMB: "aliases expand beyond the allowed bound",
    Code.NOT_ONE_MAPPING: "the document is not a mapping, or there is more than one document",
    Code.KEY_NOT_A_STRING: "a mapping key that is not a plain string",
    Code.UNKNOWN_KEY: "unknown key",
    Code.MISSING_KEY: "a required key is missing",
    Code.WRONG_TYPE: "a value has the wrong type",
    Code.BAD_VALUE: "a value is out of range or malformed",
    Code.API_VERSION: "unsupported apiVersion or kind",
    Code.NOT_A_CHOICE: "a value is not one of the allowed choices",
    Code.CUSTOM_RESOURCE_INSTANCE: "a custom resource instance does not match its schema",
    Code.EXTENSION_BLOCK: "a plugin's extension block does not match its schema",
    Code.CRD_PROTECTED_GROUP: "a custom resource in a group Kubernetes reserves, without its approval",
    Code.CRD_NAME: "a custom resource's plural or kind is not a name the API server accepts",
    Code.CRD_PATTERN: "a field pattern is not RE2 syntax, which the API server compiles",
    Code.UNKNOWN_REFERENCE: "a reference names something that does not exist",
    Code.CYCLE: "dependency cycle",
    Code.DUPLICATE_ROUTE: "two routes have the same prefix",
    Code.SHADOWED_ROUTE: "a route is shadowed by an earlier, shorter prefix",
    Code.ROUTE_NOT_HTTP: "a route names a service without an HTTP or gRPC port",
    Code.IMAGE_TAG: "image without a tag, or tagged latest",
    Code.SECRET_LITERAL: "a secret value written as a literal",
    Code.BAD_NAME: "a name is not a DNS-1123 label",
    Code.OAUTH2_WITHOUT_PROVIDER: "oauth2Client without auth.provider",
    Code.NAME_TAKEN: "a name is used twice across services and external entries",
    Code.ARCHETYPE_REQUIREMENT: "an archetype's requirements are not met",
    Code.SELF_DEPENDENCY: "a service depends on itself",
    Code.GENERATED_OBJECT: "a generated object fails mpc's own analysis",
    Code.UNKNOWN_PLUGIN: "unknown archetype or backend",
    Code.FOREIGN_FILE: "the output would overwrite a file mpc does not own",
    Code.OUTPUT_FOLDER: "the output folder cannot be replaced as a whole",
    Code.UNDECLARED_CALL: "an env reference names a service or external entry that dependsOn does not list",
    Code.EXCLUSIVE_KEYS: "two keys that exclude each other are both set",
    Code.NARROWING_NOT_HTTP: "methods or paths narrow a call to a port that does not speak HTTP",
    Code.PLAIN_HTTP: "signing keys or an identity provider over plain HTTP from outside the cluster",
    Code.RESERVED_NAME: "a name would give an object or file that another name, or mpc, gives too",
    Code.NO_OWNER: "a service has no owner",
    Code.REGISTRY_NOT_ALLOWED: "an image comes from a registry that is not allowed",
    Code.TOO_FEW_REPLICAS: "fewer replicas than the environment's minimum",
    Code.UNKNOWN_PROTECTED: "a protected name does not exist",
    Code.DIGEST_REQUIRED: "an image is not pinned by digest, and governance requires digests",
    Code.PLUGIN_FAILED: "a plugin failed",
    Code.VALIDATOR_REJECTED: "a real validator rejected the output",
    Code.GPU_WITHOUT_POOL: "a GPU service is placed on a cluster without a GPU node pool",
    Code.UNREPLICATED_STATE: "a stateful service runs several pods that do not replicate",
    Code.FLOATING_TAG: "an image tag that follows new releases",
    Code.UNCALLED_SERVICE: "a service nobody calls: no dependsOn entry or route names it",
    Code.GIT_FAILED: "git failed, or the GitOps clone is not usable",
    Code.GITOPS_DIRTY: "the GitOps folder has uncommitted changes",
    Code.LAYER_DISAGREES: "a policy layer of the rendered tree disagrees with the mesh",
    Code.TREE_NOT_FROM_MESH: "the tree to verify was not built from this mesh, or has no overlays",
    Code.RETRY_AMPLIFICATION: "retries multiply beyond the bound along a call chain",
}
