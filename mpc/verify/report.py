"""Verify's answer for a whole tree: each overlay's matrix, the disagreements as located diagnostics, the
retry bound. No file system here: the caller hands in each overlay's rendered objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mpc.errors import Code, Diagnostic, Location
from mpc.lang.load import Document
from mpc.lang.model import Model, Overlay

from .intent import intent
from .matrix import LAYERS, Answer, Cell, matrix
from .objects import ClusterView
from .retries import RetryReport, retry_report

LAYER_NAMES = {
    "network-egress": "NetworkPolicy egress",
    "network-ingress": "NetworkPolicy ingress",
    "mtls": "PeerAuthentication",
    "authorization": "AuthorizationPolicy",
    "sidecar": "Sidecar",
}


@dataclass
class OverlayResult:
    overlay: Overlay
    renderer: str  # what rendered it: "kubectl kustomize" or "mpc"
    cells: list[Cell]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.overlay.path,
            "environment": self.overlay.environment,
            "cluster": self.overlay.cluster,
            "namespace": self.overlay.namespace,
            "renderedBy": self.renderer,
            "cells": [c.to_json() for c in self.cells],
        }


@dataclass
class Report:
    overlays: list[OverlayResult]
    findings: list[Diagnostic]
    retries: list[RetryReport] = field(default_factory=list)

    @property
    def disagreements(self) -> list[Diagnostic]:
        return [f for f in self.findings if f.code == Code.LAYER_DISAGREES]

    def to_json(self) -> dict[str, Any]:
        return {
            "layers": list(LAYERS),
            "overlays": [o.to_json() for o in self.overlays],
            "retries": [r.to_json() for r in self.retries],
            "findings": [
                {
                    "code": f.code,
                    "severity": f.severity.value,
                    "location": str(f.location),
                    "path": f.location.path,
                    "message": f.message,
                    "notes": [{"location": str(loc), "note": note} for loc, note in f.notes],
                }
                for f in self.findings
            ],
        }


@dataclass
class _Group:
    """One disagreement, seen in one or more overlays of an environment, for one or more requests."""

    cell: Cell
    answer: Answer
    overlays: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def _group_key(env: str, cell: Cell, answer: Answer) -> tuple[Any, ...]:
    meant = answer.meant.where if answer.meant is not None else None
    return (
        env,
        cell.source.name,
        cell.dest.key(),
        answer.layer,
        answer.verdict.allowed,
        answer.verdict.by,
        meant,
    )


def _diagnostic(doc: Document, group: _Group) -> Diagnostic:
    cell, answer = group.cell, group.answer
    verdict = answer.verdict
    flow = f"{cell.source.name} -> {cell.dest.name}:{cell.dest.port}"
    layer = LAYER_NAMES[answer.layer]
    if answer.meant is not None:
        where = doc.source(f"#{answer.meant.where}")
        intent_text = f"the mesh allows it ({answer.meant.where})"
    else:
        sources = [r.source for r in verdict.by if r.source]
        where = doc.source(sources[0]) if sources else Location(doc.file, 1, 1)
        intent_text = "the mesh allows no such flow"
    requests = f" for {', '.join(group.requests)}" if group.requests else ""
    others = [
        f"{LAYER_NAMES[a.layer]} {'allows' if a.verdict.allowed else 'denies'}"
        for a in cell.answers
        if a.layer != answer.layer and a.request is None
    ]
    message = (
        f"{', '.join(group.overlays)}: {flow}{requests}: {layer} {verdict.describe()}, but {intent_text}"
        + (f" ({'; '.join(others)})" if others else "")
    )
    notes = tuple(
        (doc.source(r.source) if r.source else Location(doc.file), f"{r} decided") for r in verdict.by[:3]
    )
    hint = (
        "the tree no longer says what the mesh says: rebuild it with mpc build, or find who edited it"
        if answer.meant is not None or verdict.by
        else ""
    )
    return Diagnostic(Code.LAYER_DISAGREES, message, where, hint, notes=notes)


def findings(doc: Document, results: Sequence[OverlayResult]) -> list[Diagnostic]:
    groups: dict[tuple[Any, ...], _Group] = {}
    for result in results:
        label = result.overlay.path.removeprefix("kustomize/overlays/")
        for cell in result.cells:
            for answer in cell.disagreements():
                key = _group_key(result.overlay.environment, cell, answer)
                group = groups.setdefault(key, _Group(cell, answer))
                if label not in group.overlays:
                    group.overlays.append(label)
                if answer.request is not None and answer.request.describe():
                    described = answer.request.describe()
                    if described not in group.requests:
                        group.requests.append(described)
    return [_diagnostic(doc, g) for g in groups.values()]


def verify(
    model: Model, doc: Document, rendered: Mapping[str, tuple[str, Sequence[Mapping[str, Any]]]]
) -> Report:
    """Every overlay of the model, from its rendered objects (overlay path -> (renderer, objects))."""
    results = []
    views: dict[str, ClusterView] = {}
    for overlay in model.overlays:
        if overlay.path not in rendered:
            continue
        renderer, objects = rendered[overlay.path]
        view = ClusterView.of(objects)
        views[overlay.path] = view
        cells = matrix(view, model, intent(model, overlay.environment), overlay.namespace)
        results.append(OverlayResult(overlay, renderer, cells))
    found = findings(doc, results)
    retries = [
        retry_report(model, overlay, views[overlay.path])
        for overlay in model.overlays
        if overlay.path in views
    ]
    for report in retries:
        found.extend(report.findings(doc))
    return Report(results, found, retries)
