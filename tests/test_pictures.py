"""Pictures: `mpc graph` and the diff report's Mermaid blocks parse with the real Mermaid parser, stay
within the cap GitHub renders, and stay well-formed whatever the names (DOT included).

The Mermaid parser is the npm package `mermaid`, run by Node with jsdom (tests/node, installed by
`make test`); without Node or those packages the parser tests skip with the reason.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import EXAMPLES, MINIMAL_MESH, ROOT, example_meshes, run_mpc

from mpc.graph import draw
from mpc.workflow.front import front_text

sys.path.insert(0, str(ROOT / "benchmarks"))
from gen import mesh_text

NODE_TOOLS = ROOT / "tests" / "node"
DIFF_GOLDEN = ROOT / "tests" / "diff_golden"

# A route prefix the language accepts, holding everything that could end a label, a fence or a line.
NASTY_PREFIX = '/x"];|`<b>&{}\\[-->'


def mermaid_parse(blocks: list[str]) -> list[str | None]:
    """The real Mermaid parser's verdict on each block: None when it parses, else its message."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node is not installed: the Mermaid parser runs on Node")
    if not (NODE_TOOLS / "node_modules" / "mermaid").is_dir():
        pytest.skip("the npm package mermaid is not installed: run `make tests/node/node_modules/.installed`")
    done = subprocess.run(
        [node, str(NODE_TOOLS / "mermaid-parse.mjs")],
        input=json.dumps(blocks),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: list[str | None] = json.loads(done.stdout)
    return result


def mermaid_blocks(markdown: str) -> list[str]:
    return [body for _, body in re.findall(r"^(`{3,})mermaid\n(.*?)^\1$", markdown, flags=re.M | re.S)]


def test_the_parser_refuses_what_is_broken() -> None:
    """The parser test can fail: a label that runs on is refused."""
    assert mermaid_parse(['flowchart LR\n  a["x" --> b\n'])[0] is not None


def every_block() -> dict[str, str]:
    """Every Mermaid block mpc writes for the examples and the goldens."""
    blocks: dict[str, str] = {}
    for mesh in example_meshes():
        for args in ((), ("--only", "calls"), ("--around", "environment:default", "--depth", "2")):
            run = run_mpc("graph", mesh, "--format", "mermaid", *args)
            assert run.code == 0 or args[0] == "--around", run.err  # not every example has `default`
            if run.code == 0:
                blocks[f"graph {mesh.parent.name} {' '.join(args)}"] = run.out
    for report in sorted(DIFF_GOLDEN.glob("**/*.md")):
        for i, block in enumerate(mermaid_blocks(report.read_text())):
            blocks[f"{report.relative_to(DIFF_GOLDEN)} #{i}"] = block
    nasty = MINIMAL_MESH.replace("prefix: /api", f"prefix: '{NASTY_PREFIX}'")
    blocks["graph with a hostile route prefix"] = front_text(nasty).graph.to_mermaid()
    blocks["too large"] = draw.message_chart(draw.too_large(1000))
    return blocks


def test_every_mermaid_block_parses() -> None:
    blocks = every_block()
    assert len(blocks) >= 10 and any("diff" not in k and "graph" in k for k in blocks)
    verdicts = mermaid_parse(list(blocks.values()))
    failed = {name: v for name, v in zip(blocks, verdicts, strict=True) if v is not None}
    assert failed == {}


def test_graph_mermaid_of_1000_services_is_capped_and_says_so(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(mesh_text(1000))
    run = run_mpc("graph", mesh, "--format", "mermaid")
    assert run.code == 0
    assert run.out.startswith("flowchart LR\n  note[") and len(run.out) < 1000
    assert "more than the 50 one picture can show" in run.err and "--around NAME" in run.err
    near = run_mpc("graph", mesh, "--format", "mermaid", "--around", "svc-00500", "--depth", "1")
    assert near.code == 0 and near.err == "" and "svc-00500" in near.out
    assert len(near.out) <= draw.MAX_CHARS
    uncapped = run_mpc("graph", mesh, "--format", "mermaid", "--max-nodes", "0")
    assert uncapped.code == 0 and uncapped.out.count('["service: ') == 1000
    blocks = [run.out, near.out]
    assert mermaid_parse(blocks) == [None, None]


def test_only_calls_hides_runs_and_places() -> None:
    mesh = EXAMPLES / "acme" / "mesh.yaml"
    full = run_mpc("graph", mesh, "--format", "json")
    calls = run_mpc("graph", mesh, "--format", "json", "--only", "calls")
    assert {e["kind"] for e in json.loads(full.out)["edges"]} >= {"runs", "calls", "routes"}
    data = json.loads(calls.out)
    assert {e["kind"] for e in data["edges"]} == {"calls"}
    assert {n["kind"] for n in data["nodes"]} == {"service", "external"}
    # Every service is still there, those that call nothing too.
    services = {n["name"] for n in json.loads(full.out)["nodes"] if n["kind"] == "service"}
    assert {n["name"] for n in data["nodes"] if n["kind"] == "service"} == services


def test_around_a_node_with_a_depth() -> None:
    mesh = EXAMPLES / "acme" / "mesh.yaml"

    def nodes(*args: str) -> set[str]:
        run = run_mpc("graph", mesh, "--format", "json", "--only", "calls", *args)
        assert run.code == 0, run.err
        return {n["id"] for n in json.loads(run.out)["nodes"]}

    assert nodes("--around", "data", "--depth", "0") == {"service:data"}
    assert nodes("--around", "data") == {
        "service:data",
        "service:auth",
        "service:billing-worker",
        "service:brain",
    }
    assert nodes("--around", "service:data", "--depth", "2") >= nodes("--around", "data")
    unknown = run_mpc("graph", mesh, "--around", "nope")
    assert unknown.code == 2 and "no node named 'nope'" in unknown.err


def test_dot_stays_well_formed_with_hostile_names() -> None:
    dot_binary = shutil.which("dot")
    text = front_text(MINIMAL_MESH.replace("prefix: /api", f"prefix: '{NASTY_PREFIX}'")).graph.to_dot()
    # Every quoted string closes on its line: no unescaped quote from the name.
    for line in text.splitlines()[3:-1]:
        assert len(re.findall(r'(?<!\\)"', line.replace("\\\\", ""))) % 2 == 0, line
    if dot_binary is None:
        return  # Graphviz is optional; the quoting check above stands without it
    done = subprocess.run([dot_binary, "-Tsvg"], input=text, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "&lt;b&gt;" in done.stdout  # the name, as text


def test_mermaid_labels_hold_no_markup() -> None:
    assert draw.mermaid_text('a"b|c`d<e>f#g') == "a#34;b#124;c#96;d#60;e#62;f#35;g"
    assert draw.dot_text('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
