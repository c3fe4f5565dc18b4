"""Source references name key paths, not lines: comments, blank lines and a moved service change nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import example_meshes, run_mpc, tree_of


def _shuffled(text: str) -> str:
    """The same mesh with comments and blank lines at the top, in the middle and at the end, and the
    first service block moved below the last one."""
    lines = text.splitlines(keepends=True)
    middle = len(lines) // 2
    while middle < len(lines) and lines[middle].startswith((" ", "-")):
        middle += 1  # between two top-level sections
    text = "# a note at the top\n\n" + "".join(lines[:middle]) + "\n# a note in the middle\n\n"
    text += "".join(lines[middle:]) + "\n# a note at the end\n"
    services = re.search(r"(?m)^services:\n((?:  .*\n|\s*\n)+)", text)
    assert services is not None
    blocks = re.findall(r"(?m)^  [a-z][\w-]*:.*\n(?:    .*\n|\s*\n)*", services.group(1))
    assert len(blocks) >= 2
    body = "".join(blocks[1:]) + blocks[0]
    return text[: services.start(1)] + body + text[services.end(1) :]


@pytest.mark.parametrize("mesh", example_meshes(), ids=[m.parent.name for m in example_meshes()])
def test_comments_blank_lines_and_a_moved_service_change_no_output(mesh: Path, tmp_path: Path) -> None:
    shuffled = tmp_path / "shuffled" / "mesh.yaml"
    shuffled.parent.mkdir()
    shuffled.write_text(_shuffled(mesh.read_text()))
    assert shuffled.read_text() != mesh.read_text()
    out = tmp_path / "out"
    assert run_mpc("build", mesh, "-o", out, "-q").code == 0
    before = tree_of(out)
    rebuilt = run_mpc("build", shuffled, "-o", out)
    assert rebuilt.code == 0, rebuilt.err
    after = tree_of(out)
    assert {p: d for p, d in after.items() if p != "mpc.lock"} == {
        p: d for p, d in before.items() if p != "mpc.lock"
    }
    assert "0 written, 0 changed" in rebuilt.out
    report = run_mpc("diff", mesh, shuffled, "--format", "json", "--exit-code")
    assert report.code == 0, report.out
