"""Linking: each file's Listing entries added to the kustomization that it names.

Backends stay independent: the istio backend does not know whether the kustomize backend runs, and a
service's own files do not know what else its overlay holds. A kustomization that is not rendered (its
backend was not selected) simply receives nothing.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

from mpc.render.api import Artifact
from mpc.render.k8s import relative

KUSTOMIZATION = "kustomization.yaml"


def entry(path: str, kustomization: str, folders: dict[tuple[str, str], str] | None = None) -> str:
    """What a file adds to a kustomization: its folder for a kustomization.yaml, else itself.
    `folders` remembers each folder's relative path (many files share a few folders)."""
    folder, _, name = path.rpartition("/")
    if name == KUSTOMIZATION:
        return relative(folder, kustomization)
    key = (folder, kustomization)
    found = folders.get(key) if folders is not None else None
    if found is None:
        found = relative(folder, kustomization) if folder else relative(".", kustomization)
        if folders is not None:
            folders[key] = found
    return name if found == "." else f"{found}/{name}"


def link(artifacts: list[Artifact], listed: Iterable[tuple[str, str, str]] = ()) -> list[Artifact]:
    """The artifacts with the listings of each of them, and every further (path, kustomization, field),
    added to the kustomization named, after the entries it already has, in path order."""
    wanted: dict[str, dict[str, set[str]]] = {}
    folders: dict[tuple[str, str], str] = {}
    own = ((art.path, x.kustomization, x.field) for art in artifacts for x in art.listed_in)
    for path, kustomization, field in (*own, *listed):
        fields = wanted.setdefault(kustomization, {})
        fields.setdefault(field, set()).add(entry(path, kustomization, folders))
    if not wanted:
        return artifacts
    out: list[Artifact] = []
    for art in artifacts:
        folder = posixpath.dirname(art.path)
        if posixpath.basename(art.path) == KUSTOMIZATION and folder in wanted:
            assert isinstance(art.content, Mapping), "a kustomization is one document"
            art = Artifact(art.path, _extended(art.content, wanted[folder]), art.listed_in, art.node)
        out.append(art)
    return out


def _extended(content: Mapping[str, Any], entries: Mapping[str, set[str]]) -> dict[str, Any]:
    extended = dict(content)
    resources = list(extended.get("resources", []))
    resources.extend(sorted(entries.get("resources", set()) - set(resources)))
    extended["resources"] = resources
    patches = list(extended.get("patches", []))
    known = {p.get("path") for p in patches}
    patches.extend({"path": p} for p in sorted(entries.get("patches", set()) - known))
    if patches:
        extended["patches"] = patches
    return extended
