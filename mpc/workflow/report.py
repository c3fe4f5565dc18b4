"""Rendering a DiffReport: markdown for a pull-request comment, JSON for machines (docs/diff-json.md)."""

from __future__ import annotations

import json
from typing import Any

from mpc.workflow.diff import Blast, Call, DiffReport, NodeChange

JSON_FORMAT = "mpc-diff/v1"

_KIND_TITLES = {
    "gateway": "gateway",
    "route": "routes",
    "service": "services",
    "external": "external",
    "issuer": "issuers",
    "cluster": "clusters",
    "environment": "environments",
}


# --- JSON -------------------------------------------------------------------------------------------


def _call(call: Call) -> dict[str, str]:
    return {"from": call.caller, "to": call.callee}


def _node(node: NodeChange) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": node.id,
        "kind": node.kind,
        "name": node.name,
        "change": node.change,
        "source": node.source,
    }
    if node.change == "changed":
        out["fields"] = [{"field": f.field, "old": f.old, "new": f.new} for f in node.fields]
    return out


def to_json(report: DiffReport) -> dict[str, Any]:
    """The stable, documented shape (docs/diff-json.md). Keys are only ever added, within one format."""
    return {
        "format": JSON_FORMAT,
        "old": report.old,
        "new": report.new,
        "changed": report.changed,
        "summary": {
            "nodes": report.node_counts(),
            "edges": {c: sum(1 for e in report.edges if e.change == c) for c in ("added", "removed")},
            "allowedCalls": {
                "added": len(report.security.calls_added),
                "removed": len(report.security.calls_removed),
            },
            "authChanges": len(report.security.auth),
            "files": report.file_counts(),
        },
        "graph": {
            "nodes": [_node(n) for n in report.nodes],
            "edges": [
                {"from": e.source, "to": e.target, "kind": e.kind, "change": e.change} for e in report.edges
            ],
        },
        "security": {
            "allowedCalls": {
                "added": [_call(c) for c in report.security.calls_added],
                "removed": [_call(c) for c in report.security.calls_removed],
            },
            "auth": [
                {"route": a.route, "service": a.service, "old": a.old, "new": a.new, "change": a.change}
                for a in report.security.auth
            ],
        },
        "blastRadius": [
            {"node": b.node, "services": list(b.services), "routes": list(b.routes)} for b in report.blast
        ],
        "outputs": [
            {
                "backend": b.backend,
                "files": [
                    {
                        "path": f.path,
                        "change": f.change,
                        "additions": f.additions,
                        "deletions": f.deletions,
                        "redacted": f.redacted,
                        "diff": f.diff,
                    }
                    for f in b.files
                ],
            }
            for b in report.outputs
        ],
    }


def json_text(report: DiffReport) -> str:
    return json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n"


# --- markdown ---------------------------------------------------------------------------------------


def _code(value: Any) -> str:
    if value is None:
        return "*(none)*"
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)  # true, 3, ["a", "b"]: as in JSON and YAML
    text = str(value).replace("|", "\\|").replace("`", "'")
    return f"`{text}`"


def _caller(name: str) -> str:
    return f"the gateway `{name.partition(':')[2]}`" if name.startswith("gateway:") else f"`{name}`"


def _summary(report: DiffReport) -> list[str]:
    lines = ["| | added | removed | changed |", "| --- | ---: | ---: | ---: |"]
    for kind, row in report.node_counts().items():
        lines.append(f"| {_KIND_TITLES[kind]} | {row['added']} | {row['removed']} | {row['changed']} |")
    edges = {c: sum(1 for e in report.edges if e.change == c) for c in ("added", "removed")}
    if any(edges.values()):
        lines.append(f"| graph edges | {edges['added']} | {edges['removed']} | |")
    sec = report.security
    if sec.calls_added or sec.calls_removed:
        lines.append(f"| **allowed calls** | {len(sec.calls_added)} | {len(sec.calls_removed)} | |")
    if sec.auth:
        lines.append(f"| **route auth** | | | {len(sec.auth)} |")
    files = report.file_counts()
    if any(files.values()):
        lines.append(f"| files | {files['added']} | {files['removed']} | {files['changed']} |")
    return lines


def _security(report: DiffReport) -> list[str]:
    sec = report.security
    lines = ["### Security", ""]
    for call in sec.calls_added:
        lines.append(f"- **new allowed call**: {_caller(call.caller)} → `{call.callee}`")
    for call in sec.calls_removed:
        lines.append(f"- allowed call removed: {_caller(call.caller)} → `{call.callee}`")
    for a in sec.auth:
        if a.change == "dropped":
            lines.append(
                f"- **auth dropped**: route `{a.route}` → `{a.service}` is now public (was `{a.old}`)"
            )
        elif a.change == "added":
            lines.append(f"- auth added: route `{a.route}` → `{a.service}` now requires `{a.new}`")
        else:
            lines.append(f"- **auth changed**: route `{a.route}` → `{a.service}`: `{a.old}` → `{a.new}`")
    return lines


def _radius(blast: Blast | None) -> str:
    if blast is None or not (blast.services or blast.routes):
        return ""
    parts = []
    if blast.routes:
        parts.append("routes " + ", ".join(f"`{r}`" for r in blast.routes))
    if blast.services:
        parts.append("services " + ", ".join(f"`{s}`" for s in blast.services))
    return "; ".join(parts)


def _fields(node: NodeChange) -> str:
    return "<br>".join(f"{f.field}: {_code(f.old)} → {_code(f.new)}" for f in node.fields)


def _changes(report: DiffReport) -> list[str]:
    blast = {b.node: b for b in report.blast}
    lines = ["### Changes", "", "| | change | fields | blast radius |", "| --- | --- | --- | --- |"]
    for node in report.nodes:
        lines.append(
            f"| {node.kind} `{node.name}` | {node.change} | {_fields(node)} | {_radius(blast.get(node.id))} |"
        )
    if report.edges:
        lines += ["", "| edge | kind | change |", "| --- | --- | --- |"]
        for e in report.edges:
            lines.append(f"| `{e.source}` → `{e.target}` | {e.kind} | {e.change} |")
    return lines


def _outputs(report: DiffReport) -> list[str]:
    lines = ["### Output", ""]
    for b in report.outputs:
        counts = ", ".join(f"{b.count(c)} {c}" for c in ("added", "removed", "changed") if b.count(c))
        lines += [
            f"<details><summary><b>{b.backend}</b>: {counts}</summary>",
            "",
            "| file | change | lines |",
            "| --- | --- | ---: |",
        ]
        for f in b.files:
            size = "content not shown (Secret)" if f.redacted else f"+{f.additions} −{f.deletions}"
            lines.append(f"| `{f.path}` | {f.change} | {size} |")
        lines += ["", "</details>", ""]
    return lines


def markdown(report: DiffReport) -> str:
    lines = [f"## mpc diff: `{report.old}` → `{report.new}`", ""]
    if not report.changed:
        lines.append("No changes: the graph and the rendered output are the same.")
        return "\n".join(lines) + "\n"
    lines += _summary(report)
    if report.security.changed:
        lines += ["", *_security(report)]
    if report.mermaid:
        lines += ["", "### Graph", "", "```mermaid", report.mermaid.rstrip("\n"), "```"]
    if report.nodes or report.edges:
        lines += ["", *_changes(report)]
    if report.outputs:
        lines += ["", *_outputs(report)]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def render(report: DiffReport, fmt: str) -> str:
    return json_text(report) if fmt == "json" else markdown(report)
