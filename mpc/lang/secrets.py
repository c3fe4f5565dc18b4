"""The one secret detector: a secret value written into mesh.yaml as a literal.

mesh.yaml is committed and reviewed, and what it says is copied into ConfigMaps, the proxy's bootstrap,
Istio objects and Argo CD applications: a secret written there is published. Services receive secrets by
reference (`secrets: {VAR: {secret: NAME, key: KEY}}`), the proxy fetches signing keys anonymously, and
Git credentials belong to the GitOps engine.

Two questions, asked of the whole document once, before the schema:

- **By value**, anywhere: a private key, credentials in a URL's userinfo, an authorization header, a
  token in a form its issuer documents (GitHub, GitLab, Slack, Stripe, AWS, Google, OpenAI).
- **By name**, where mesh.yaml takes free-form names with literal values (a service's `env`, a custom
  resource instance's `spec` at any depth): a name that says it holds a secret (`DB_PASS`,
  `GITHUB_PAT`, `stripeKey`, `password`).
"""

from __future__ import annotations

import re
from typing import Any

from mpc.errors import Code, Diagnostic
from mpc.lang.load import Document, PathKey, key_path

# Parts of a name that mean a secret wherever they appear (they rarely appear in other words).
_SECRET_PARTS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL", "APIKEY", "PRIVATEKEY")
# Whole words of a name that mean a secret (as parts they would match PASSAGE, PATH, COMPASS).
_SECRET_WORDS = frozenset({"PASS", "PWD", "PAT", "AUTHORIZATION", "CREDS", "BEARER"})
# `..._KEY` is a secret unless the word before it says what kind of key that is not.
_NOT_SECRET_KEYS = frozenset(
    {"PUBLIC", "CACHE", "PARTITION", "SORT", "PRIMARY", "FOREIGN", "ROUTING", "SHARD", "IDEMPOTENCY"}
)
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")

# Secrets recognisable by their form, whatever key holds them: (pattern, what it is).
_VALUE_FORMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"), "a private key"),
    (re.compile(r"\b(?:Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), "an authorization header"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}|\bgithub_pat_[A-Za-z0-9_]{20,}"), "a GitHub token"),
    (re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), "a GitLab token"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{10,}"), "a Stripe key"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "an AWS access key"),
    (re.compile(r"\bAIza[A-Za-z0-9_-]{35}"), "a Google API key"),
    (re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}"), "an OpenAI key"),
)
# scheme://userinfo@host: userinfo is a user and a password, or (over HTTP) a token used as the user.
_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://([^/?#@\s]*)@")
_TOKEN_AS_USER = frozenset({"http", "https"})
# Every value is searched for this first: only what matches is looked at closely.
_TRIGGER = re.compile(
    r"://|-----BEGIN|Bearer|Basic|gh[pousr]_|github_pat_|glpat-|xox|_live_|_test_|AKIA|ASIA|AIza|sk-"
)


def secret_name(name: str) -> bool:
    """Whether a free-form name says it holds a secret: DB_PASS, GITHUB_PAT, stripeKey, password."""
    upper = name.upper()
    joined = re.sub(r"[^A-Z0-9]", "", upper)
    if any(part in joined for part in _SECRET_PARTS):
        return True
    words = [w.upper() for w in _WORDS.findall(name)]
    if _SECRET_WORDS.intersection(words):
        return True
    if words and words[-1] in ("KEY", "KEYS"):
        return len(words) == 1 or words[-2] not in _NOT_SECRET_KEYS
    return False


def secret_value(text: str) -> str | None:
    """What secret a text holds, whatever its key (a private key, credentials in a URL...), or None."""
    for match in _USERINFO.finditer(text):
        scheme, userinfo = match.group(1).lower(), match.group(2)
        user, colon, password = userinfo.partition(":")
        if colon and password:
            return "a password in a URL"
        if user and scheme in _TOKEN_AS_USER:
            return "credentials in a URL"
    for pattern, what in _VALUE_FORMS:
        if pattern.search(text):
            return what
    return None


def _named(path: PathKey) -> bool:
    """Whether the mapping at `path` takes free-form names with literal values: a service's `env`, a
    custom resource instance's `spec` (at any depth)."""
    if path[:1] == ("services",) and (
        path[2:] == ("env",) or (path[2:3] == ("versions",) and path[4:] == ("env",))
    ):
        return True  # services.NAME.env, services.NAME.versions.VERSION.env
    return len(path) >= 5 and path[0] == "customResources" and path[2] == "instances" and path[4] == "spec"


def _skipped(path: PathKey) -> bool:
    """services.NAME.secrets: references (a literal there is reported on its own)."""
    return len(path) == 3 and path[0] == "services" and path[2] == "secrets"


def _scan(node: Any, path: PathKey, named: bool, found: list[tuple[PathKey, str]]) -> None:
    """(path, finding) for every secret below `node`. Paths are made only for containers and findings:
    a mesh of ten thousand services has a hundred thousand values."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                here = (*path, key)
                if not _skipped(here):
                    _scan(value, here, named or _named(here), found)
            elif isinstance(value, str) and _TRIGGER.search(value) and (what := secret_value(value)):
                found.append(((*path, key), f"holds {what}"))
            elif named and value not in (None, "") and secret_name(str(key)):
                found.append(((*path, key), "looks like a secret written as a literal"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, (dict, list)):
                _scan(value, (*path, i), named, found)
            elif isinstance(value, str) and _TRIGGER.search(value) and (what := secret_value(value)):
                found.append(((*path, i), f"holds {what}"))


def _hint(path: PathKey) -> str:
    name = str(path[-1])
    if path[0] == "services" and len(path) in (4, 6) and path[-2] == "env":
        return f"move it to secrets: {name}: {{secret: NAME, key: KEY}}"
    if path[0] == "customResources":
        return "keep the value in a Kubernetes Secret the resource's controller reads; mesh.yaml is committed"
    if path[-1] == "jwksUri":
        return "write the URL without credentials: the proxy fetches signing keys without any"
    if path == ("auth", "provider", "url"):
        return "write the URL without credentials; Terraform's Keycloak provider takes them from variables"
    if path == ("gitops", "repo"):
        return "write the URL without credentials; the GitOps engine gets them from its repository Secret"
    return "mesh.yaml is committed and copied into generated files: keep secrets in Kubernetes Secrets"


def _literal(doc: Document, path: PathKey, message: str) -> Diagnostic:
    return Diagnostic(Code.SECRET_LITERAL, f"{key_path(path)} {message}", doc.location(path), _hint(path))


def find_secrets(doc: Document) -> list[Diagnostic]:
    """Every secret written as a literal in the document: by value anywhere, by name where names are free."""
    found: list[Diagnostic] = []
    data = doc.data if isinstance(doc.data, dict) else {}
    services = data.get("services")
    for name, body in services.items() if isinstance(services, dict) else ():
        secrets = body.get("secrets") if isinstance(body, dict) else None
        for key, value in secrets.items() if isinstance(secrets, dict) else ():
            if not isinstance(value, dict):
                path: PathKey = ("services", name, "secrets", key)
                found.append(
                    Diagnostic(
                        Code.SECRET_LITERAL,
                        f"{key_path(path)} is a literal value",
                        doc.location(path),
                        f"reference an existing Secret: {key}: {{secret: NAME, key: KEY}}",
                    )
                )
    findings: list[tuple[PathKey, str]] = []
    _scan(data, (), False, findings)
    found.extend(_literal(doc, path, message) for path, message in findings)
    return found
