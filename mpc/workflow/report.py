"""Rendering a DiffReport: markdown for a pull-request comment, JSON for machines (docs/diff-json.md).

The markdown fits one GitHub comment (LIMIT characters) whatever the change: the summary, the cause and
the security section come first and whole; the picture is capped (mpc.graph.draw); the tables of changed
nodes and files are cut with counts where they would not fit. The JSON is always complete.

Every name and value shown comes from the user's file or a plugin: markdown text is escaped, code spans
are fenced with more backticks than they hold, so a route prefix cannot break a table, a fence or HTML.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from mpc.errors import Diagnostic, omitted_line
from mpc.workflow.diff import Blast, Call, DiffReport, FieldChange, Invalid, NodeChange

JSON_FORMAT = "mpc-diff/v1"
# GitHub refuses a comment over 65,536 characters; the rest is room for a marker and a footer.
LIMIT = 60_000
# What the sections after security need at least (their headings and a line of counts each).
_RESERVE = 3_000
# Rows of one table before the rest are counted instead of listed.
_MAX_ROWS = 200
_MAX_NAMES = 8  # names listed in one row of grouped nodes

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


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    loc = d.location
    return {
        "code": d.code,
        "severity": d.severity.value,
        "message": d.message,
        "file": loc.file,
        "line": loc.line,
        "column": loc.col,
        "path": loc.path,
        "hint": d.hint,
        "text": d.render(),
    }


def _invalid_json(report: DiffReport) -> list[dict[str, Any]]:
    return [
        {
            "side": i.side,
            "label": i.label,
            "diagnostics": [diagnostic_json(d) for d in i.diagnostics],
            "omitted": i.omitted,
        }
        for i in report.invalid
    ]


def to_json(report: DiffReport) -> dict[str, Any]:
    """The stable, documented shape (docs/diff-json.md). Keys are only ever added, within one format."""
    return {
        "format": JSON_FORMAT,
        "old": report.old,
        "new": report.new,
        "compared": report.compared,
        "changed": report.changed if report.compared else None,
        "invalid": _invalid_json(report),
        "causes": [{"field": f.field, "old": f.old, "new": f.new} for f in report.causes],
        "summary": {
            "nodes": report.node_counts(),
            "edges": {c: sum(1 for e in report.edges if e.change == c) for c in ("added", "removed")},
            "allowedCalls": {
                "added": len(report.security.calls_added),
                "removed": len(report.security.calls_removed),
            },
            "authChanges": len(report.security.auth),
            "callScopes": len(report.security.scopes),
            "weights": len(report.weights),
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
            "callScopes": [
                {"from": c.caller, "to": c.callee, "old": c.old, "new": c.new, "change": c.change}
                for c in report.security.scopes
            ],
        },
        "traffic": {
            "weights": [
                {"service": w.service, "version": w.version, "old": w.old, "new": w.new}
                for w in report.weights
            ]
        },
        "blastRadius": [
            {"node": b.node, "services": list(b.services), "routes": list(b.routes)} for b in report.blast
        ],
        "picture": {"mermaid": report.picture.mermaid, "note": report.picture.note},
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


# --- markdown: escaping -----------------------------------------------------------------------------


def code(value: Any) -> str:
    """A value as an inline code span that nothing in it can end or break out of (tables included)."""
    if value is None:
        return "*(none)*"
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False)  # true, 3, ["a", "b"]: as in JSON and YAML
    text = re.sub(r"[\r\n\t]+", " ", value).replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def text(value: str) -> str:
    """Plain text in markdown: HTML, emphasis, links and table pipes neutralised."""
    escaped = html.escape(re.sub(r"[\r\n]+", " ", value), quote=False)
    return re.sub(r"([\\`*_\[\]|#!~])", r"\\\1", escaped)


def fenced(body: str, info: str = "") -> list[str]:
    """A fenced code block that no line of `body` can close."""
    longest = max((len(run) for run in re.findall(r"^ {0,3}(`{3,}|~{3,})", body, flags=re.M)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{info}", *body.rstrip("\n").split("\n"), fence]


# --- markdown: sections -----------------------------------------------------------------------------


def _caller(name: str) -> str:
    return f"the gateway {code(name.partition(':')[2])}" if name.startswith("gateway:") else code(name)


def _summary(report: DiffReport) -> list[str]:
    lines = ["| | added | removed | changed |", "| --- | ---: | ---: | ---: |"]
    for kind, row in report.node_counts().items():
        lines.append(f"| {_KIND_TITLES[kind]} | {row['added']:,} | {row['removed']:,} | {row['changed']:,} |")
    edges = {c: sum(1 for e in report.edges if e.change == c) for c in ("added", "removed")}
    if any(edges.values()):
        lines.append(f"| graph edges | {edges['added']:,} | {edges['removed']:,} | |")
    sec = report.security
    if sec.calls_added or sec.calls_removed:
        lines.append(f"| **allowed calls** | {len(sec.calls_added):,} | {len(sec.calls_removed):,} | |")
    if sec.auth:
        lines.append(f"| **route auth** | | | {len(sec.auth):,} |")
    if sec.scopes:
        lines.append(f"| **call scopes** | | | {len(sec.scopes):,} |")
    if report.weights:
        lines.append(f"| version weights | | | {len(report.weights):,} |")
    files = report.file_counts()
    if any(files.values()):
        lines.append(f"| files | {files['added']:,} | {files['removed']:,} | {files['changed']:,} |")
    return lines


def _change(f: FieldChange) -> str:
    return f"{code(f.field)}: {code(f.old)} → {code(f.new)}"


def _causes(report: DiffReport) -> list[str]:
    if not report.causes:
        return []
    shown = report.causes[:10]
    more = len(report.causes) - len(shown)
    changed = sum(1 for n in report.nodes if n.kind == "service" and n.change == "changed")
    line = "**Cause**: " + "; ".join(_change(f) for f in shown)
    if more:
        line += f"; and {more:,} more settings"
    if changed:
        line += f" (settings every service inherits; {changed:,} services changed)"
    return [line]


def _security_lines(report: DiffReport) -> list[str]:
    sec = report.security
    lines = [f"- **new allowed call**: {_caller(c.caller)} → {code(c.callee)}" for c in sec.calls_added]
    lines += [f"- allowed call removed: {_caller(c.caller)} → {code(c.callee)}" for c in sec.calls_removed]
    for a in sec.auth:
        route, service = code(a.route), code(a.service)
        if a.change == "dropped":
            lines.append(f"- **auth dropped**: route {route} → {service} is now public (was {code(a.old)})")
        elif a.change == "added":
            lines.append(f"- auth added: route {route} → {service} now requires {code(a.new)}")
        else:
            lines.append(f"- **auth changed**: route {route} → {service}: {code(a.old)} → {code(a.new)}")
    for c in sec.scopes:
        # A widened call admits requests it did not before: as loud as a new call.
        word = f"**call {c.change}**" if c.change != "narrowed" else "call narrowed"
        lines.append(f"- {word}: {code(c.caller)} → {code(c.callee)}: {c.old} → {c.new}")
    return lines


def _share(weight: int | None) -> str:
    return "none" if weight is None else f"{weight}%"


def _traffic(report: DiffReport) -> list[str]:
    lines = ["### Traffic", ""]
    for w in report.weights:
        lines.append(f"- {code(w.service)} version {code(w.version)}: {_share(w.old)} → {_share(w.new)}")
    return lines


def _radius(blast: Blast | None) -> str:
    if blast is None or not (blast.services or blast.routes):
        return ""
    parts = []
    if blast.routes:
        parts.append("routes " + _names(blast.routes))
    if blast.services:
        parts.append("services " + _names(blast.services))
    return "; ".join(parts)


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(code(n) for n in names[:_MAX_NAMES])
    more = len(names) - _MAX_NAMES
    return f"{shown} and {more:,} more" if more > 0 else shown


def _fields(fields: Sequence[FieldChange]) -> str:
    return "<br>".join(_change(f) for f in fields)


def _node_rows(report: DiffReport) -> list[str]:
    """One row per node; nodes of one kind with the same change to the same fields share a row."""
    blast = {b.node: b for b in report.blast}
    groups: dict[tuple[str, str, str], list[NodeChange]] = {}
    for node in report.nodes:
        signature = json.dumps([[f.field, f.old, f.new] for f in node.fields], sort_keys=True)
        groups.setdefault((node.kind, node.change, signature), []).append(node)
    rows = []
    for (kind, change, _), members in groups.items():
        changed = members[0].fields
        if len(members) == 1:
            node = members[0]
            radius = _radius(blast.get(node.id))
            rows.append(f"| {kind} {code(node.name)} | {change} | {_fields(changed)} | {radius} |")
        else:
            title = f"{len(members):,} {_KIND_TITLES[kind]}: {_names([m.name for m in members])}"
            rows.append(f"| {title} | {change} | {_fields(changed)} | |")
    return rows


def _cut(rows: Sequence[str], budget: int, noun: str, columns: int = 4) -> list[str]:
    """As many table rows as fit in the budget (and _MAX_ROWS), then a row counting the rest."""
    rest = " |" * (columns - 1)
    return _fit(
        rows,
        budget,
        _MAX_ROWS,
        lambda n: f"| … and {n:,} more {noun} (`--format json` lists them all) |{rest}",
    )


def _fit(lines: Sequence[str], budget: int, most: int, more: Callable[[int], str]) -> list[str]:
    """As many lines as fit in the budget (less a margin for the last one) and `most`, then `more(left)`."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        if i >= most or used + len(line) + 1 > budget - 200:
            out.append(more(len(lines) - i))
            return out
        out.append(line)
        used += len(line) + 1
    return out


def _changes(report: DiffReport, budget: int) -> list[str]:
    lines = ["### Changes", "", "| | change | fields | blast radius |", "| --- | --- | --- | --- |"]
    node_rows = _cut(_node_rows(report), budget // 2 if report.edges else budget, "changed nodes")
    lines += node_rows
    if report.edges:
        edge_rows = [f"| {code(e.source)} → {code(e.target)} | {e.kind} | {e.change} |" for e in report.edges]
        used = _size(lines)
        lines += ["", "| edge | kind | change |", "| --- | --- | --- |"]
        lines += _cut(edge_rows, budget - used, "changed edges", 3)
    return lines


def _outputs(report: DiffReport, budget: int) -> list[str]:
    lines = ["### Output", ""]
    for i, b in enumerate(report.outputs):
        counts = ", ".join(f"{b.count(c):,} {c}" for c in ("added", "removed", "changed") if b.count(c))
        head = f"<details><summary><b>{html.escape(b.backend)}</b>: {counts}</summary>"
        rows = []
        for f in b.files:
            size = "content not shown (Secret)" if f.redacted else f"+{f.additions} −{f.deletions}"
            rows.append(f"| {code(f.path)} | {f.change} | {size} |")
        used = _size(lines)
        left = (budget - used) // max(1, len(report.outputs) - i)
        if left < 600:  # not even room for a table: its counts only
            lines.append(f"- **{html.escape(b.backend)}**: {counts}")
            continue
        lines += [head, "", "| file | change | lines |", "| --- | --- | ---: |"]
        lines += _cut(rows, left - len(head) - 100, "files", 3)
        lines += ["", "</details>", ""]
    return lines


def _invalid(report: DiffReport) -> list[str]:
    lines = ["**Nothing was compared**: " + " and ".join(_side_name(i) for i in report.invalid) + "."]
    for i in report.invalid:
        count = i.errors
        title = f"{'Old' if i.side == 'old' else 'New'} mesh {code(i.label)}"
        lines += ["", f"### {title}: {count:,} error{'s' if count != 1 else ''}", ""]
        body = "\n\n".join(d.render() for d in i.diagnostics)
        if i.omitted:
            body += "\n" + omitted_line(i.omitted, i.omitted_errors)
        if len(body) > LIMIT // 2:
            body = body[: LIMIT // 2].rsplit("\n", 1)[0] + "\n… (mpc validate lists every problem)"
        lines += fenced(body, "text")
    return lines


def _side_name(i: Invalid) -> str:
    return f"the {i.side} mesh ({code(i.label)}) is not valid"


def _picture(report: DiffReport, budget: int) -> list[str]:
    pic = report.picture
    lines = ["### Graph", ""]
    if pic.mermaid and len(pic.mermaid) + 200 <= budget:
        lines += fenced(pic.mermaid, "mermaid")
        if pic.note:
            lines += ["", pic.note]  # mpc's own sentence (numbers only), markdown as it is
    elif pic.mermaid:
        lines.append(
            text(
                f"No picture: it would take {len(pic.mermaid):,} characters, more than this comment has left."
            )
        )
    else:
        lines.append(pic.note)
    return lines


def _size(lines: Sequence[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def markdown(report: DiffReport) -> str:
    lines = [f"## mpc diff: {code(report.old)} → {code(report.new)}", ""]
    if not report.compared:
        lines += _invalid(report)
        return "\n".join(lines) + "\n"
    if not report.changed:
        lines.append("No changes: the graph and the rendered output are the same.")
        return "\n".join(lines) + "\n"
    lines += _causes(report)
    if report.causes:
        lines.append("")
    lines += _summary(report)
    if report.security.changed:
        security = _security_lines(report)
        room = LIMIT - _RESERVE - _size(lines)
        if _size(security) > room:  # a change too large for one comment: even security is counted
            kept = _cut_list(security, room)
            security = kept
        lines += ["", "### Security", "", *security]
    if report.weights:
        lines += ["", *_traffic(report)]
    sections: list[Callable[[int], list[str]]] = []
    if report.picture.mermaid or report.picture.note:
        sections.append(lambda budget: _picture(report, budget))
    if report.nodes or report.edges:
        sections.append(lambda budget: _changes(report, budget))
    if report.outputs:
        sections.append(lambda budget: _outputs(report, budget))
    for i, section in enumerate(sections):
        # Each later section gets its share of what is left, the picture as much as it needs.
        left = LIMIT - _size(lines) - 200 * (len(sections) - i)
        share = left if i == 0 else left // (len(sections) - i)
        lines += ["", *section(max(share, 0))]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"


def _cut_list(items: Sequence[str], budget: int) -> list[str]:
    """As many list items as fit in the budget, then an item counting the rest."""
    return _fit(
        items,
        budget,
        len(items),
        lambda n: f"- … and {n:,} more security changes (`--format json` lists them all)",
    )


def render(report: DiffReport, fmt: str) -> str:
    return json_text(report) if fmt == "json" else markdown(report)
