"""Pictures of a graph as text: Mermaid flowcharts and Graphviz DOT, escaped and within a size GitHub renders.

Names reach these pictures from the user's file (route prefixes may hold quotes, brackets, pipes and
backticks), so every label is escaped for its language: a picture stays well-formed whatever it names.

GitHub renders a Mermaid block only up to Mermaid's own limits (maxTextSize, 50,000 characters) and a
dense picture of more than a few dozen nodes is unreadable anyway. mpc caps a picture at MAX_NODES nodes
and MAX_CHARS characters; past the cap the caller draws less (the changed nodes only) or says so in a
sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

MAX_NODES = 50
MAX_CHARS = 40_000
CAP = f"{MAX_NODES} nodes / {MAX_CHARS // 1000} kB"

EdgeChange = Literal["added", "removed"] | None
NodeChange = Literal["added", "removed", "changed"] | None

# Edges that decide who may call whom, or who must show a token: marked in a picture of a change.
SECURITY_EDGES = frozenset({"calls", "authenticates", "routes"})
# Edges that say where something runs, drawn dotted: they are many and rarely the point.
_DOTTED = frozenset({"runs", "places", "authenticates"})

_SHAPES = {
    "gateway": ("{{", "}}"),
    "route": ("[/", "/]"),
    "service": ("[", "]"),
    "external": ("[(", ")]"),
    "issuer": ("{", "}"),
    "cluster": ("[(", ")]"),
    "environment": ("[[", "]]"),
}

CLASS_DEFS = (
    "classDef added fill:#dafbe1,stroke:#1a7f37,color:#1f2328",
    "classDef removed fill:#ffebe9,stroke:#cf222e,color:#1f2328,stroke-dasharray: 5 5",
    "classDef changed fill:#fff8c5,stroke:#9a6700,color:#1f2328",
    "classDef legend fill:#f6f8fa,stroke:#d0d7de,color:#1f2328",
)
_EDGE_STYLES = {
    "added": "stroke:#1a7f37,stroke-width:2px",
    "removed": "stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 5",
}
_SECURITY_WIDTH = "stroke-width:4px"
LEGEND = (
    ("added", "added"),
    ("removed", "removed"),
    ("changed", "changed"),
    (
        "legend",
        "edges: + green = added, − red dashed ending in x = removed, thick = security (calls, routes, auth)",
    ),
)

# Characters that may stand in a Mermaid label as they are; anything else becomes an entity (#NN;).
_MERMAID_SAFE = re.compile(r"[A-Za-z0-9 ./:_+,()=@-]")


def mermaid_text(text: str) -> str:
    """Text for a quoted Mermaid label: quotes, brackets, pipes, backticks, `<` and `#` as entity codes,
    so a label can neither end its node nor its code fence nor become HTML."""
    return "".join(ch if _MERMAID_SAFE.fullmatch(ch) else f"#{ord(ch)};" for ch in text)


def dot_text(text: str) -> str:
    """Text for a quoted DOT string: backslashes and quotes escaped, line breaks as \\n."""
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    return out.replace("\r", "").replace("\n", "\\n")


@dataclass(frozen=True, slots=True)
class Node:
    id: str  # "<kind>:<name>"
    kind: str
    name: str
    change: NodeChange = None


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    kind: str
    change: EdgeChange = None


def too_large(nodes: int, what: str = "graph") -> str:
    """The sentence that stands in for a picture past the cap."""
    return (
        f"The {what} has {nodes:,} nodes, more than the {MAX_NODES} one picture can show "
        f"(mpc caps pictures at {CAP} so that GitHub renders them)."
    )


def flowchart(nodes: Sequence[Node], edges: Iterable[Edge], *, legend: bool = False) -> str:
    """A Mermaid flowchart: nodes in the given order, styled by change; edges between them, added ones
    green with a plus, removed ones red, dashed, ending in an x, with a minus; security edges thick."""
    ids = {n.id: f"n{i}" for i, n in enumerate(nodes)}
    lines = ["flowchart LR"]
    for n in nodes:
        left, right = _SHAPES.get(n.kind, ("[", "]"))
        suffix = f":::{n.change}" if n.change else ""
        lines.append(f'  {ids[n.id]}{left}"{mermaid_text(f"{n.kind}: {n.name}")}"{right}{suffix}')
    styles: list[str] = []
    count = 0
    for e in edges:
        if e.source not in ids or e.target not in ids:
            continue
        if e.change == "removed":
            arrow, label = "-.-x", f"− {e.kind}"
        elif e.change == "added":
            arrow, label = "==>", f"+ {e.kind}"
        else:
            arrow, label = ("-.->" if e.kind in _DOTTED else "-->"), e.kind
        lines.append(f'  {ids[e.source]} {arrow}|"{mermaid_text(label)}"| {ids[e.target]}')
        if e.change:
            style = _EDGE_STYLES[e.change]
            if e.kind in SECURITY_EDGES:
                style = style.replace("stroke-width:2px", _SECURITY_WIDTH)
            styles.append(f"  linkStyle {count} {style}")
        count += 1
    if legend:
        lines.append('  subgraph legend_box["legend"]')
        for i, (cls, text) in enumerate(LEGEND):
            lines.append(f'    legend{i}["{mermaid_text(text)}"]:::{cls}')
        lines.append("  end")
    lines += styles
    if legend or any(n.change for n in nodes):
        lines += [f"  {d}" for d in CLASS_DEFS]
    return "\n".join(lines) + "\n"


def message_chart(sentence: str) -> str:
    """A one-node flowchart holding a sentence: what stands in a Mermaid block past the cap."""
    return f'flowchart LR\n  note["{mermaid_text(sentence)}"]\n'


def fits(text: str, nodes: int, max_nodes: int = MAX_NODES) -> bool:
    return nodes <= max_nodes and len(text) <= MAX_CHARS


_DOT_SHAPES = {
    "gateway": "doubleoctagon",
    "route": "note",
    "service": "box",
    "external": "component",
    "issuer": "diamond",
    "cluster": "cylinder",
    "environment": "folder",
}


def dot(nodes: Iterable[Node], edges: Iterable[Edge]) -> str:
    lines = ["digraph mesh {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for n in nodes:
        shape = _DOT_SHAPES.get(n.kind, "box")
        lines.append(f'  "{dot_text(n.id)}" [label="{dot_text(n.name)}", shape={shape}];')
    for e in edges:
        style = " style=dashed" if e.kind in _DOTTED else ""
        lines.append(
            f'  "{dot_text(e.source)}" -> "{dot_text(e.target)}" [label="{dot_text(e.kind)}"{style}];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
