"""Istio's own schemas as a validator: the cloudcoil-models-istio pydantic models, unknown fields rejected.

The models are generated from Istio's CRDs (Istio 1.24) but drop unknown fields silently; forcing
`extra="forbid"` onto every model class and rebuilding them (children before parents: two passes of
`model_rebuild(force=True)` in module order) turns a misspelt field into an error. That changes those
classes for the whole process, which is why it happens only when validation is asked for.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from mpc.errors import Code, Diagnostic, Location, Severity
from mpc.render.api import Artifact

MODULES = (
    "cloudcoil.apimachinery",
    "cloudcoil.models.istio.networking.v1",
    "cloudcoil.models.istio.security.v1",
    "cloudcoil.models.istio.telemetry.v1",
)
KINDS = {
    "networking.istio.io/v1": ("DestinationRule", "Gateway", "ServiceEntry", "Sidecar", "VirtualService"),
    "security.istio.io/v1": ("AuthorizationPolicy", "PeerAuthentication", "RequestAuthentication"),
    "telemetry.istio.io/v1": ("Telemetry",),
}
_MODULE_OF = {
    "networking.istio.io/v1": MODULES[1],
    "security.istio.io/v1": MODULES[2],
    "telemetry.istio.io/v1": MODULES[3],
}


def available() -> bool:
    """Whether the models validate_artifacts needs are installed (cloudcoil-models-istio, not only
    cloudcoil)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in MODULES)
    except ModuleNotFoundError:  # a parent package is missing
        return False


@cache
def strict_models() -> dict[tuple[str, str], Any]:
    """(apiVersion, kind) -> the strict model class. Raises ImportError without cloudcoil-models-istio."""
    import pydantic

    classes: list[type[pydantic.BaseModel]] = []
    for name in MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, pydantic.BaseModel) and value.__module__ == name:
                classes.append(value)
    for cls in classes:
        cls.model_config["extra"] = "forbid"
    for _ in range(2):
        for cls in classes:
            cls.model_rebuild(force=True)
    out: dict[tuple[str, str], Any] = {}
    for api, kinds in KINDS.items():
        module = importlib.import_module(_MODULE_OF[api])
        for kind in kinds:
            out[(api, kind)] = getattr(module, kind)
    return out


def is_istio(obj: Mapping[str, Any]) -> bool:
    return str(obj.get("apiVersion", "")).split("/")[0].endswith("istio.io")


def problems(obj: Mapping[str, Any]) -> list[str]:
    """Why Istio's schema rejects one object (empty when it is valid)."""
    import pydantic

    model = strict_models().get((str(obj.get("apiVersion")), str(obj.get("kind"))))
    if model is None:
        return [f"no Istio schema for {obj.get('apiVersion')} {obj.get('kind')}"]
    try:
        model.model_validate(dict(obj))
    except pydantic.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return []


def _documents(artifacts: Iterable[Artifact]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    for art in artifacts:
        content = art.content
        if isinstance(content, str):
            continue
        docs: Sequence[Mapping[str, Any]] = [content] if isinstance(content, Mapping) else content
        for doc in docs:
            if is_istio(doc):
                yield art.path, doc


def validate_artifacts(artifacts: Sequence[Artifact]) -> list[Diagnostic]:
    try:
        strict_models()
    except ImportError:
        return [
            Diagnostic(
                Code.VALIDATOR_REJECTED,
                "Istio objects not validated: cloudcoil-models-istio is not installed",
                Location("<istio>"),
                "pip install 'masterproxy[validate]'",
                Severity.WARNING,
            )
        ]
    found = []
    for path, doc in _documents(artifacts):
        for problem in problems(doc):
            name = doc.get("metadata", {}).get("name")
            found.append(
                Diagnostic(Code.VALIDATOR_REJECTED, f"{doc.get('kind')} {name}: {problem}", Location(path))
            )
    return found
