"""`mpc verify OUT`: read a rendered tree as the cluster receives it and ask mpc.verify what it allows.

Each overlay is rendered by `kubectl kustomize` when kubectl is installed, else by mpc's own reading of
the kustomizations mpc writes (`resources`, `namespace`, strategic-merge `patches`, `$patch: delete`:
the subset `render_overlay` implements, checked against kubectl in the tests). The mesh is the one given, else
`OUT/mpc.input.yaml` (what `mpc publish` writes beside the tree); when the tree's lock records the
digest of its input, the mesh must be that input.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpc.build.files import read_lock
from mpc.build.lock import INPUT_NAME, LOCK_NAME
from mpc.errors import Code, Diagnostic, EnvironmentFailure, Location, MpcError
from mpc.graph.front import Front
from mpc.render.plugins import Installed
from mpc.verify.objects import load_documents
from mpc.verify.report import Report, verify
from mpc.workflow.build import Source

KUBECTL_TIMEOUT_S = 120
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "APIService",
    }
)


@dataclass(frozen=True)
class VerifyOptions:
    out: Path
    mesh: Path | None = None
    renderer: str = "auto"  # auto | kubectl | mpc


def _load_all(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EnvironmentFailure.of(exc, str(path)) from None
    return load_documents(text)


def _merge(base: Any, patch: Any) -> Any:
    """A strategic merge patch as mpc's patches use it: maps merge, lists of named items merge by name,
    other lists and scalars are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(patch, list):
        named = all(isinstance(i, dict) and "name" in i for i in [*base, *patch])
        if named and base:
            merged = {i["name"]: i for i in base}
            for item in patch:
                merged[item["name"]] = _merge(merged[item["name"]], item) if item["name"] in merged else item
            return list(merged.values())
    return patch


def render_overlay(folder: Path) -> list[dict[str, Any]]:
    """The objects a kustomization folder builds, for the kustomization features mpc writes."""
    kustomization = _load_all(folder / "kustomization.yaml")
    spec = kustomization[0] if kustomization else {}
    objects: list[dict[str, Any]] = []
    for resource in spec.get("resources") or []:
        path = folder / str(resource)
        objects.extend(render_overlay(path) if path.is_dir() else _load_all(path))
    for patch in spec.get("patches") or []:
        for doc in _load_all(folder / str(patch["path"])):
            name = (doc.get("metadata") or {}).get("name")
            matching = [
                i
                for i, obj in enumerate(objects)
                if obj.get("kind") == doc.get("kind") and (obj.get("metadata") or {}).get("name") == name
            ]
            if doc.get("$patch") == "delete":
                objects = [o for i, o in enumerate(objects) if i not in matching]
                continue
            for i in matching:
                objects[i] = _merge(objects[i], doc)
    namespace = spec.get("namespace")
    if namespace:
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED:
                obj.setdefault("metadata", {})["namespace"] = namespace
    return objects


def kubectl_overlay(kubectl: str, folder: Path) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [kubectl, "kustomize", str(folder)],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": "/nonexistent"},
        timeout=KUBECTL_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        words = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise MpcError(
            [
                Diagnostic(
                    Code.TREE_NOT_FROM_MESH,
                    f"kubectl kustomize refused the overlay: {words}",
                    Location(str(folder)),
                )
            ]
        )
    return load_documents(proc.stdout)


def _renderer(choice: str) -> tuple[str, str | None]:
    kubectl = shutil.which("kubectl") if choice in ("auto", "kubectl") else None
    if choice == "kubectl" and kubectl is None:
        raise EnvironmentFailure("kubectl", "not found on PATH (--renderer mpc reads the tree without it)")
    return ("kubectl kustomize", kubectl) if kubectl else ("mpc", None)


def render_tree(
    root: Path, overlays: Sequence[str], choice: str = "auto"
) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    name, kubectl = _renderer(choice)
    out: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for path in overlays:
        folder = root / path
        if not (folder / "kustomization.yaml").is_file():
            continue
        objects = kubectl_overlay(kubectl, folder) if kubectl else render_overlay(folder)
        out[path] = (name, objects)
    return out


def _mesh_front(options: VerifyOptions) -> tuple[Front, bytes]:
    mesh = options.mesh if options.mesh is not None else options.out / INPUT_NAME
    if options.mesh is None and not mesh.is_file():
        raise MpcError(
            [
                Diagnostic(
                    Code.TREE_NOT_FROM_MESH,
                    f"no mesh to verify against: {INPUT_NAME} is not in the tree",
                    Location(str(options.out)),
                    "give the mesh the tree was built from: mpc verify OUT --mesh mesh.yaml",
                )
            ]
        )
    source = Source.read(mesh)
    return source.analyse(Installed()), source.text


def _check_lock(out: Path, text: bytes, mesh: str) -> None:
    lock = read_lock(out)
    if lock is None or not lock.input_sha256:
        return
    if hashlib.sha256(text).hexdigest() != lock.input_sha256:
        raise MpcError(
            [
                Diagnostic(
                    Code.TREE_NOT_FROM_MESH,
                    f"{out} was built from another version of the mesh ({LOCK_NAME} records another digest)",
                    Location(mesh),
                    f"rebuild it (mpc build {mesh} -o {out}), or give the mesh it was built from",
                )
            ]
        )


def verify_front(front: Front, root: Path, renderer: str = "auto") -> Report:
    """Verify a tree against a mesh already analysed (`mpc build --validate` on its new tree)."""
    overlays = [o.path for o in front.model.overlays]
    rendered: Mapping[str, tuple[str, Sequence[Mapping[str, Any]]]] = render_tree(root, overlays, renderer)
    if not rendered:
        raise MpcError(
            [
                Diagnostic(
                    Code.TREE_NOT_FROM_MESH, "the tree has none of the mesh's overlays", Location(str(root))
                )
            ]
        )
    return verify(front.model, front.doc, rendered)


def verify_tree(options: VerifyOptions) -> Report:
    front, text = _mesh_front(options)
    _check_lock(options.out, text, front.doc.file)
    return verify_front(front, options.out, options.renderer)
