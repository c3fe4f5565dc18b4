"""golden/<example>/ pins the whole output tree of every bundled example, byte for byte.

A difference fails with the list of files that changed; `pytest --update-golden` rewrites them on purpose
(review the diff before committing it).
"""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT, example_meshes, run_mpc, tree_of

EXAMPLES = example_meshes()


def _explain(expected: dict[str, bytes], actual: dict[str, bytes]) -> str:
    lines = []
    for path in sorted(expected.keys() | actual.keys()):
        if path not in actual:
            lines.append(f"missing: {path}")
        elif path not in expected:
            lines.append(f"new:     {path}")
        elif expected[path] != actual[path]:
            lines.append(f"changed: {path}")
            diff = difflib.unified_diff(
                expected[path].decode(errors="replace").splitlines(),
                actual[path].decode(errors="replace").splitlines(),
                "golden",
                "built",
                lineterm="",
                n=1,
            )
            lines.extend("    " + d for d in list(diff)[:20])
    return "\n".join(lines[:200])


@pytest.mark.parametrize("mesh", EXAMPLES, ids=[m.parent.name for m in EXAMPLES])
def test_example_matches_golden(mesh: Path, tmp_path: Path, update_golden: bool) -> None:
    out = tmp_path / "out"
    result = run_mpc("build", mesh, "-o", out, "-q")
    assert result.code == 0, result.err
    golden = GOLDEN / mesh.parent.name
    actual = tree_of(out)
    if update_golden:
        if golden.exists():
            shutil.rmtree(golden)
        shutil.copytree(out, golden)
        return
    assert golden.is_dir(), f"no golden tree for {mesh.parent.name}: run pytest --update-golden and review it"
    expected = tree_of(golden)
    assert actual == expected, "output differs from golden:\n" + _explain(expected, actual)


@pytest.mark.slow
@pytest.mark.parametrize("mesh", EXAMPLES, ids=[m.parent.name for m in EXAMPLES])
def test_output_does_not_depend_on_hash_seed_or_run(mesh: Path, tmp_path: Path) -> None:
    trees = []
    for i, seed in enumerate(("0", "4242")):
        out = tmp_path / f"out{i}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-m", "mpc", "build", str(mesh), "-o", str(out), "-q"],
            check=True,
            env=env,
            cwd=tmp_path,
        )
        trees.append(tree_of(out))
    assert trees[0] == trees[1]


def test_output_holds_no_absolute_paths(tmp_path: Path) -> None:
    for mesh in EXAMPLES:
        out = tmp_path / mesh.parent.name
        assert run_mpc("build", mesh.resolve(), "-o", out, "-q").code == 0
        for path, data in tree_of(out).items():
            assert str(ROOT).encode() not in data, path
            assert str(tmp_path).encode() not in data, path
