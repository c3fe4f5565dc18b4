"""Golden error cases: tests/errors/NAME.yaml is a broken mesh, NAME.expected the exact stderr of
`mpc validate` on it (the file shown as mesh.yaml).

`pytest tests/test_errors.py --update-golden` rewrites the .expected files from the current output; review
every changed message before committing it (right line and column, mesh terms, a helpful hint).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, run_mpc

CASES = ROOT / "tests" / "errors"
# Every line that starts a diagnostic is located; warnings may come before the first error.
LOCATED = re.compile(r"^mesh\.yaml(:\d+:\d+)?: (error\[E|warning\[W)\d{3}\]: ")


def _cases() -> list[Path]:
    return sorted(CASES.glob("*.yaml"))


def validate_as_mesh_yaml(source: Path, tmp_path: Path) -> tuple[int, str]:
    """`mpc validate` on a copy named mesh.yaml; the temporary folder is cut from the output."""
    target = tmp_path / "mesh.yaml"
    shutil.copyfile(source, target)
    run = run_mpc("validate", target)
    assert run.out == "", "an invalid mesh prints nothing on stdout"
    return run.code, run.err.replace(f"{tmp_path}/", "")


@pytest.mark.parametrize("case", _cases(), ids=lambda p: p.stem)
def test_error_case(case: Path, tmp_path: Path, update_golden: bool) -> None:
    code, err = validate_as_mesh_yaml(case, tmp_path)
    assert code == 2, f"expected exit 2 (invalid input), got {code}:\n{err}"
    assert "Traceback" not in err and "internal error" not in err
    assert LOCATED.match(err) and "error[E" in err, err
    expected = case.with_suffix(".expected")
    if update_golden:
        expected.write_text(err, encoding="utf-8")
    assert expected.exists(), f"no {expected.name}; run pytest --update-golden and review it"
    assert err == expected.read_text(encoding="utf-8")


def test_every_expected_has_a_case() -> None:
    stale = sorted(p.name for p in CASES.glob("*.expected") if not p.with_suffix(".yaml").exists())
    assert stale == []


def _codes_in_cases() -> set[str]:
    found: set[str] = set()
    for path in CASES.glob("*.expected"):
        found.update(re.findall(r"(?:error|warning)\[([EW]\d{3})\]", path.read_text(encoding="utf-8")))
    return found


# Codes the front end cannot emit for a mesh file, with where they are tested instead.
NOT_FROM_A_MESH_FILE = {
    "E102": "a file over the size bound: tests/test_load.py builds one in memory",
    "E208": "a plugin's extension schema: needs a plugin that publishes one (tests/test_plugins.py)",
    "E313": "generated objects: backends",
    "E315": "a foreign file in the output folder: tests/test_swap.py",
    "E316": "an output folder that cannot be replaced: tests/test_swap.py",
    "E501": "a failing plugin",
    "E601": "git in mpc publish: tests/test_publish.py",
    "E602": "a dirty GitOps folder in mpc publish: tests/test_publish.py",
    "W301": "a warning, so no failing case: tests/test_cli.py",
    "E701": "mpc verify on a rendered tree: tests/test_verify.py",
    "E702": "mpc verify on a tree from another mesh: tests/test_verify.py",
    "W701": "mpc verify's retry bound: tests/test_verify.py",
    "E502": "a real validator, in mpc build --validate",
}


def test_cases_cover_every_front_end_code() -> None:
    from mpc.errors import CODES

    missing = sorted(set(CODES) - _codes_in_cases() - set(NOT_FROM_A_MESH_FILE))
    assert missing == [], f"no golden error case shows {missing}"


def test_there_are_enough_cases() -> None:
    assert len(_cases()) >= 40
