"""`mpc build --validate` for the kustomize tree: the real tools, where they are installed.

Each overlay is rendered with `kubectl kustomize` (offline: no cluster, no kubeconfig), and every object
it prints is checked with kubernetes-validate in strict mode (unknown fields are errors) against
Kubernetes 1.31. Instances of the CRDs the overlay itself defines are checked against that CRD's schema
with jsonschema, each `pattern` matched by RE2 as the API server matches it; other custom kinds
(prometheus-operator, Istio) are left to their own validators.
"""

from __future__ import annotations

import importlib.util
import os
import posixpath
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from mpc.errors import Code, Diagnostic, Location
from mpc.lang import patterns
from mpc.render.api import Artifact

from .common import APP, ROOT

KUBERNETES_VERSION = "1.31"
CODE = Code.VALIDATOR_REJECTED
KUBECTL_TIMEOUT_S = 120
# kubectl logs through klog: `E1130 10:09:16.719772   27891 run.go:72] "command failed" err=...`.
KLOG_PREFIX = re.compile(r'^[IWEF]\d{4} [\d:.]+\s+\d+ \S+\] (?:"command failed" )?')


def overlay_roots(artifacts: Iterable[Artifact]) -> list[str]:
    """The folders of every overlay root kustomization (not their `app/` sub-kustomizations)."""
    prefix = f"{ROOT}/overlays/"
    return sorted(
        posixpath.dirname(a.path)
        for a in artifacts
        if a.path.startswith(prefix)
        and posixpath.basename(a.path) == "kustomization.yaml"
        and posixpath.basename(posixpath.dirname(a.path)) != APP
    )


def kustomize(kubectl: str, folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": "/nonexistent"}
    return subprocess.run(
        [kubectl, "kustomize", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=KUBECTL_TIMEOUT_S,
        check=False,
    )


def parse_objects(text: str) -> list[dict[str, Any]]:
    return [doc for doc in YAML(typ="safe", pure=True).load_all(text) if isinstance(doc, dict)]


def _name(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')}/{meta.get('name', '?')}"


def crd_schemas(objects: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every CRD version among the objects."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in objects:
        if obj.get("kind") != "CustomResourceDefinition":
            continue
        spec = obj["spec"]
        for version in spec.get("versions", []):
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema is not None:
                out[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema
    return out


def object_problems(objects: Sequence[dict[str, Any]], version: str = KUBERNETES_VERSION) -> list[str]:
    """Every finding of kubernetes-validate (strict) and of the CRD schemas, as `Kind/name: path: message`."""
    import kubernetes_validate  # type: ignore[import-untyped]

    schemas = crd_schemas(objects)
    problems: list[str] = []
    for obj in objects:
        custom = schemas.get((str(obj.get("apiVersion")), str(obj.get("kind"))))
        if custom is not None:
            # RE2 for `pattern`, as the API server: Python's `re` reads some patterns otherwise, or not at all
            for err in sorted(patterns.schema_validator(custom).iter_errors(obj), key=str):
                where = ".".join(str(p) for p in err.path) or "(root)"
                problems.append(f"{_name(obj)}: {where}: {err.message}")
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            where = ".".join(str(p) for p in err.path) or "(root)"
            problems.append(f"{_name(obj)}: {where}: {err.message}")
        except kubernetes_validate.SchemaNotFoundError:
            pass  # a kind Kubernetes does not define; its own backend validates it
    return problems


def tools() -> tuple[str | None, bool]:
    """kubectl (its path, None when absent) and whether kubernetes-validate is installed."""
    return shutil.which("kubectl"), importlib.util.find_spec("kubernetes_validate") is not None


def validate_tree(root: Path, artifacts: Sequence[Artifact]) -> list[Diagnostic]:
    kubectl, strict = tools()
    if kubectl is None:
        return []
    found: list[Diagnostic] = []
    for overlay in overlay_roots(artifacts):
        where = Location(overlay)
        result = kustomize(kubectl, root / overlay)
        if result.returncode != 0:
            message = result.stderr.strip().splitlines()[-1:] or ["no output"]
            words = KLOG_PREFIX.sub("", message[0])
            found.append(Diagnostic(CODE, f"kubectl kustomize failed: {words}", where))
            continue
        if strict:
            objects = parse_objects(result.stdout)
            found.extend(
                Diagnostic(CODE, f"kubernetes-validate {KUBERNETES_VERSION} (strict): {p}", where)
                for p in object_problems(objects)
            )
    return found
