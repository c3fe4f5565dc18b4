"""Property: whatever is done to a valid mesh, `mpc validate` passes or reports located diagnostics.

Mutations of both bundled examples: delete keys, swap a value's type, insert junk keys and values,
duplicate a line, truncate the text, insert random unicode. The answer is exit 0, or exit 2 with every
diagnostic line located (`mesh.yaml:LINE:COL: error[EXXX]: ...`); never exit 3, never a traceback,
each run well under a second. `MPC_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py` searches harder.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, run_mpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpc.lang.load import load_text

SOURCES = {p.parent.name: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*/mesh.yaml"))}
DATA = {name: load_text(text, "mesh.yaml").data for name, text in SOURCES.items()}
DIAGNOSTIC = re.compile(r"^mesh\.yaml:\d+:\d+: error\[E\d{3}\]: \S")
WARNING = re.compile(r"^mesh\.yaml:\d+:\d+: warning\[W\d{3}\]: \S")
EXAMPLES_PER_TEST = int(os.environ.get("MPC_FUZZ_EXAMPLES", "100"))

FUZZ = settings(
    max_examples=EXAMPLES_PER_TEST,
    # Time is asserted per run in CPU seconds (check_validate): a wall-clock deadline would fail
    # whenever the machine is busy with other test workers.
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples every run: a failure here is reproducible, not flaky
)

Path_ = tuple[str | int, ...]

JUNK_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)
JUNK_KEYS = st.one_of(st.text(min_size=1, max_size=20), st.sampled_from(["image", "port", "services", "x"]))


def _paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    out: list[Path_] = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_paths(value, (*prefix, i)))
    return out


def _get(node: Any, path: Path_) -> Any:
    for part in path:
        node = node[part]
    return node


def _copy(data: Any) -> Any:
    return json.loads(json.dumps(data))


@st.composite
def mutated_data(draw: st.DrawFn) -> str:
    """A structural mutation of one example, written back out as YAML (JSON is YAML)."""
    name = draw(st.sampled_from(sorted(DATA)))
    data = _copy(DATA[name])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _get(data, path[:-1])
        key = path[-1]
        action = draw(st.sampled_from(["delete", "swap", "junk-key", "junk-value"]))
        if action == "delete":
            del parent[key]
        elif action == "swap":
            parent[key] = draw(JUNK_VALUES)
        elif action == "junk-key":
            target = _get(data, path) if isinstance(_get(data, path), dict) else parent
            if isinstance(target, dict):
                target[draw(JUNK_KEYS)] = draw(JUNK_VALUES)
        else:
            target = _get(data, path)
            if isinstance(target, list):
                target.append(draw(JUNK_VALUES))
            else:
                parent[key] = draw(JUNK_VALUES)
    return json.dumps(data, indent=1, ensure_ascii=draw(st.booleans()))


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    """A textual mutation: truncation, a duplicated line (duplicate keys), random unicode."""
    text = SOURCES[draw(st.sampled_from(sorted(SOURCES)))]
    lines = text.splitlines(keepends=True)
    action = draw(st.sampled_from(["truncate", "duplicate-line", "unicode", "delete-line", "indent"]))
    if action == "truncate":
        return text[: draw(st.integers(min_value=0, max_value=len(text)))]
    i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    if action == "duplicate-line":
        lines.insert(i, lines[i])
    elif action == "delete-line":
        del lines[i]
    elif action == "indent":
        lines[i] = draw(st.sampled_from([" ", "  ", "\t", "- "])) + lines[i]
    else:
        col = draw(st.integers(min_value=0, max_value=len(lines[i])))
        junk = draw(st.text(min_size=1, max_size=6))
        lines[i] = lines[i][:col] + junk + lines[i][col:]
    return "".join(lines)


def check_validate(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "mesh.yaml"
        target.write_text(text, encoding="utf-8", errors="surrogatepass")
        start = time.process_time()
        run = run_mpc("validate", target)
        elapsed = time.process_time() - start
        err = run.err.replace(f"{folder}/", "")
    assert run.code in (0, 2), f"exit {run.code}:\n{err}\n--- input ---\n{text}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert elapsed < 1.0, f"took {elapsed:.2f}s of CPU"
    if run.code == 0:
        # A valid mesh may still carry warnings; each is located like an error.
        for line in err.splitlines():
            assert line.startswith("  ") or WARNING.match(line), f"unexpected output: {line!r}"
        return
    lines = err.splitlines()
    assert lines[-1].startswith("mpc: "), err
    diagnostics = [line for line in lines[:-1] if not line.startswith("  ")]
    assert diagnostics, err
    assert any(DIAGNOSTIC.match(line) for line in diagnostics), err
    for line in diagnostics:
        assert DIAGNOSTIC.match(line) or WARNING.match(line), (
            f"unlocated diagnostic: {line!r}\n--- input ---\n{text}"
        )


@pytest.mark.slow
@FUZZ
@given(mutated_data())
def test_structural_mutations(text: str) -> None:
    check_validate(text)


@pytest.mark.slow
@FUZZ
@given(mutated_text())
def test_textual_mutations(text: str) -> None:
    check_validate(text)


@pytest.mark.slow
@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text(text: str) -> None:
    check_validate(text)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_examples_are_valid_starting_points(name: str) -> None:
    check_validate(SOURCES[name])
