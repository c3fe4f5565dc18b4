"""The HCL emitter: `terraform fmt` layout, checked by an independent re-implementation of fmt's rules, and
round trips through python-hcl2 (terraform itself is not installable here)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import hcl2
import pytest
from conftest import example_meshes, run_mpc
from hypothesis import given, settings
from hypothesis import strategies as st

from mpc.backends.terraform.hcl import Attribute, Block, Comment, Expr, render
from mpc.backends.terraform.hclread import parse, roundtrip_problem, unquote

# --- an independent formatter: hclwrite's rules (indent by bracket depth, align `=` per run) ----------


def _code(line: str) -> str:
    """The line with string contents blanked and a trailing comment removed, for bracket counting."""
    out, in_str, i = [], False, 0
    while i < len(line):
        ch = line[i]
        if in_str:
            if ch == "\\":
                out.append("__")
                i += 2
                continue
            if ch == '"':
                in_str = False
            out.append(ch if ch == '"' else "_")
        elif ch == '"':
            in_str = True
            out.append(ch)
        elif ch == "#":
            break
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _net(code: str) -> int:
    return sum(code.count(c) for c in "{[(") - sum(code.count(c) for c in "}])")


def _assign_at(code: str) -> int | None:
    """Index of the assignment `=` when the rest of the line is a whole expression (hclwrite's test)."""
    for m in re.finditer(r"(?<![=!<>])=(?![=>])", code):
        if m.start() > 0:
            return m.start() if _net(code[m.start() :]) == 0 else None
    return None


def fmt(text: str) -> str:
    """Re-indent and re-align `text` as hclwrite's formatIndent and formatCells do."""
    lines = text.split("\n")
    out: list[str] = []
    depth = 0
    cells: list[tuple[str, str] | None] = []
    for line in lines:
        stripped = line.strip()
        code = _code(stripped)
        net = _net(code)
        if net < 0:
            depth += net
        indent = "  " * depth if stripped else ""
        if net > 0:
            depth += net
        at = _assign_at(code) if stripped and not stripped.startswith("#") else None
        if at is None:
            cells.append(None)
            out.append(indent + stripped)
        else:
            lead = stripped[:at].rstrip()
            cells.append((indent + lead, "= " + stripped[at + 1 :].strip()))
            out.append("")
    # Align each run of consecutive assignment lines.
    i = 0
    while i < len(cells):
        if cells[i] is None:
            i += 1
            continue
        j = i
        while j < len(cells) and cells[j] is not None:
            j += 1
        run = [c for c in cells[i:j] if c is not None]
        width = max(len(lead) for lead, _ in run)
        for k, (lead, assign) in enumerate(run):
            out[i + k] = f"{lead.ljust(width)} {assign}"
        i = j
    return "\n".join(out)


def assert_fmt_canonical(text: str) -> None:
    assert text.endswith("\n") and not text.endswith("\n\n"), "one final newline"
    assert fmt(text) == text, "indentation or alignment differs from terraform fmt"
    lines = text.split("\n")
    for n, line in enumerate(lines, 1):
        assert line == line.rstrip(), f"line {n}: trailing whitespace"
        assert "\t" not in line, f"line {n}: a tab"
        code = _code(line)
        assert not re.search(r"[\[(] | [\])]", code), f"line {n}: space inside brackets: {line!r}"
        assert not re.search(r",\S| ,", code), f"line {n}: comma spacing: {line!r}"
    for a, b in itertools.pairwise(lines):
        assert not (a == "" and b == ""), "at most one blank line in a row"
        assert not (a.endswith("{") and b == ""), "no blank line after an opening brace"
        assert not (a == "" and b.strip() == "}"), "no blank line before a closing brace"


# --- the fmt re-implementation itself is checked on text terraform fmt is known to print ---------------

FMT_PRINTED = """\
resource "aws_instance" "ec2" {
  count         = var.instance_number
  ami           = var.ami
  instance_type = var.type
  tags = {
    Name = "x"
  }

  root_block_device {
    encrypted   = true
    volume_size = 8
  }

  instance_initiated_shutdown_behavior = var.shutdown_behavior
}
"""


def test_fmt_model_accepts_fmt_output_and_rejects_misalignment() -> None:
    assert fmt(FMT_PRINTED) == FMT_PRINTED
    broken = FMT_PRINTED.replace("  ami           = var.ami", "  ami = var.ami")
    assert fmt(broken) != broken
    indented = FMT_PRINTED.replace("    encrypted", "      encrypted")
    assert fmt(indented) != indented


# --- the emitter ---------------------------------------------------------------------------------------


def test_aligns_runs_and_breaks_them_at_multiline_values_and_blocks() -> None:
    text = render(
        [
            Block(
                "resource",
                ("google_x", "this"),
                (
                    Comment("checkov:skip=CKV_X_1: a reason"),
                    Attribute("name", "a"),
                    Attribute("location", Expr("var.region")),
                    Attribute("labels", {"team": "core", "app.kubernetes.io/name": "x"}),
                    Attribute("enabled", True),
                    Block("empty"),
                    Block("inner", (), (Attribute("n", 1), Attribute("ratio", 0.5))),
                    Attribute("depends_on", [Expr("google_y.this")]),
                ),
            )
        ]
    )
    assert text == (
        'resource "google_x" "this" {\n'
        "  # checkov:skip=CKV_X_1: a reason\n"
        '  name     = "a"\n'
        "  location = var.region\n"
        "  labels = {\n"
        '    team                     = "core"\n'
        '    "app.kubernetes.io/name" = "x"\n'
        "  }\n"
        "  enabled = true\n"
        "\n"
        "  empty {}\n"
        "\n"
        "  inner {\n"
        "    n     = 1\n"
        "    ratio = 0.5\n"
        "  }\n"
        "\n"
        "  depends_on = [google_y.this]\n"
        "}\n"
    )
    assert_fmt_canonical(text)
    assert roundtrip_problem(text) is None


def test_top_level_blocks_are_separated_by_one_blank_line() -> None:
    text = render([Block("a", ("x",), (Attribute("v", None),)), Block("b", (), ())])
    assert text == 'a "x" {\n  v = null\n}\n\nb {}\n'


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ('say "hi"', r'"say \"hi\""'),
        ("back\\slash", r'"back\\slash"'),
        ("line\nbreak\ttab", r'"line\nbreak\ttab"'),
        ("${not.a.ref}", '"$${not.a.ref}"'),
        ("%{if x}", '"%%{if x}"'),
        ("$ and % alone", '"$ and % alone"'),
        ("ünïcode", '"ünïcode"'),
    ],
)
def test_string_literals_escape_templates_and_specials(text: str, literal: str) -> None:
    rendered = render([Attribute("v", text)])
    assert rendered == f"v = {literal}\n"
    assert unquote(literal) == text
    assert parse(rendered) == [Attribute("v", text)]


@pytest.mark.slow
@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_any_string_survives_python_hcl2(text: str) -> None:
    block = Block("b", (), (Attribute("value", text),))
    rendered = render([block])
    assert parse(rendered) == [block]


def test_a_list_of_objects_is_refused() -> None:
    with pytest.raises(TypeError):
        render([Attribute("v", [{"a": 1}])])


def test_python_hcl2_dumps_is_not_fmt_canonical() -> None:
    """Why the backend has its own emitter: python-hcl2 writes whitespace-only lines and extra blank lines."""
    text = render(
        [
            Block("resource", ("a", "b"), (Attribute("x", 1), Block("c", (), (Attribute("y", 2),)))),
            Block("resource", ("a", "c"), (Attribute("x", Expr('toset(["p", "q"])')),)),
        ]
    )
    dumped = hcl2.dumps(hcl2.loads(text))
    assert dumped != text
    with pytest.raises(AssertionError):
        assert_fmt_canonical(dumped)


# --- every generated file ------------------------------------------------------------------------------


def _tf_files(tmp_path: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for mesh in example_meshes():
        out = tmp_path / mesh.parent.name
        result = run_mpc("build", mesh, "-o", out, "--backend", "terraform", "-q")
        assert result.code == 0, result.err
        for path in sorted(out.rglob("*.tf")):
            files[f"{mesh.parent.name}/{path.relative_to(out).as_posix()}"] = path.read_text("utf-8")
    return files


@pytest.mark.slow
def test_every_generated_file_is_fmt_canonical_and_round_trips(tmp_path: Path) -> None:
    files = _tf_files(tmp_path)
    assert files, "the examples produce Terraform"
    for path, text in files.items():
        assert_fmt_canonical(text)
        assert roundtrip_problem(text) is None, path
