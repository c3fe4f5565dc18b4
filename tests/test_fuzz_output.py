"""Property: hostile names and free text in any field either get a located error, or build (with every
real validator, as `mpc build --validate`) into a tree its tools accept, written only inside the output
folder, with CODEOWNERS, the DOT graph and the markdown report well-formed (issue 17).

The payloads are what breaks generated files when a renderer forgets to quote: newlines, quotes, `${`
(HCL and shell interpolation), NUL and other control characters, YAML and markdown syntax, very long
text. `MPC_FUZZ_EXAMPLES=200 pytest tests/test_fuzz_output.py` searches harder.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import EXAMPLES, run_mpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from realtools import kustomize

from mpc.errors import MpcError
from mpc.graph.checks.governance import OWNER
from mpc.lang.load import load_text
from mpc.workflow.build import BuildOptions, build

ACME = load_text((EXAMPLES / "acme" / "mesh.yaml").read_text(encoding="utf-8"), "mesh.yaml").data
RUNS = int(os.environ.get("MPC_FUZZ_EXAMPLES", "12"))

PAYLOADS = (
    "line one\nline two",
    'say "hi"',
    "it's",
    "${var.secret}",
    "%{ if true }x%{ endif }",
    "$(touch /tmp/pwned)",
    "back\\slash",
    "nul\x00byte",
    "esc\x1b[31m",
    "# not a comment",
    "key: value",
    "- item",
    "{{ template }}",
    "*/ -->",
    "a|b`c`",
    "ü ñ 中文",
    "x" * 5000,
    "",
    " ",
    "-f",
    "../../etc/passwd",
)

Path_ = tuple[str | int, ...]

# Free text that reaches a generated file: the proxy's bootstrap, Istio, Terraform, Argo CD, Flux,
# CODEOWNERS, ConfigMaps, custom resources.
VALUES: tuple[Path_, ...] = (
    ("metadata", "labels", "team"),
    ("metadata", "owners", 0),
    ("defaults", "registry"),
    ("gateway", "hosts", 0),
    ("gateway", "cors", "origins", 0),
    ("gateway", "cors", "headers", 0),
    ("gateway", "cors", "methods", 0),
    ("auth", "issuers", "acme-id", "issuer"),
    ("auth", "issuers", "acme-id", "audiences", 0),
    ("auth", "provider", "realm"),
    ("services", "auth", "env", "MODE"),
    ("services", "auth", "owners", 0),
    ("services", "auth", "oauth2Client", "redirectUris", 0),
    ("external", "stripe", "host"),
    ("clusters", "gke-prod", "project"),
    ("clusters", "gke-prod", "region"),
    ("clusters", "gke-prod", "version"),
    ("clusters", "gke-prod", "nodePools", "default", "machineType"),
    ("clusters", "gke-prod", "nodePools", "gpu", "gpu", "type"),
    ("clusters", "do-ams", "nodePools", "default", "size"),
    ("observability", "tracing", "endpoint"),
    ("customResources", 0, "fields", "modelUri", "description"),
    ("customResources", 0, "instances", 0, "spec", "modelUri"),
    ("gitops", "repo"),
)
# Names: the key of a mapping, renamed (references to it then dangle, which is a located error too).
NAMES: tuple[Path_, ...] = (
    ("services", "ledger"),
    ("external", "openai"),
    ("clusters", "do-ams"),
    ("environments", "staging"),
    ("auth", "issuers", "acme-id"),
)


def _set(data: Any, path: Path_, value: str) -> None:
    for part in path[:-1]:
        data = data[part] if not isinstance(data, dict) else data.setdefault(part, {})
    last = path[-1]
    if isinstance(data, list) and isinstance(last, int):
        data[last] = value
    else:
        data[last] = value


def _rename(data: Any, path: Path_, name: str) -> None:
    for part in path[:-1]:
        data = data[part]
    if path[-1] in data and name not in data:
        data[name] = data.pop(path[-1])


@st.composite
def hostile(draw: st.DrawFn) -> str:
    data = json.loads(json.dumps(ACME))
    data["services"]["auth"]["env"] = {"MODE": "x"}
    data["services"]["auth"]["oauth2Client"]["redirectUris"] = ["https://app.acme.dev/cb"]
    data["gitops"]["engine"] = draw(st.sampled_from(["argocd", "flux"]))
    texts = st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=12))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if draw(st.booleans()):
            _set(data, draw(st.sampled_from(VALUES)), draw(texts))
        else:
            _rename(data, draw(st.sampled_from(NAMES)), draw(texts))
    return json.dumps(data, indent=1)


def _codeowners_problems(text: str) -> list[str]:
    problems = []
    for line in text.split("\n"):
        if not line.strip() or line.startswith("#"):
            continue
        pattern, *owners = line.split()
        if not (pattern == "*" or pattern.startswith("/")) or not owners:
            problems.append(line)
        problems.extend(line for owner in owners if not OWNER.match(owner))
    return problems


def _dot_problems(text: str) -> list[str]:
    """Every statement on a line of its own, every quoted string closed on it."""
    problems = []
    for line in text.split("\n"):
        unescaped = re.sub(r"\\.", "", line)
        if unescaped.count('"') % 2:
            problems.append(line)
    if text.count("{") != text.count("}"):
        problems.append("unbalanced braces")
    return problems


def _markdown_problems(text: str) -> list[str]:
    problems = []
    if text.count("```") % 2:
        problems.append("an unclosed code fence")
    table: int | None = None
    for line in text.split("\n"):  # CommonMark ends lines at \n (and \r), not at U+2028
        if line.startswith("|"):
            cells = len(re.findall(r"(?<!\\)\|", line))
            table = table if table is not None else cells
            if cells != table:
                problems.append(line)
        else:
            table = None
    return problems


def _kustomize_roots(files: Sequence[str]) -> list[str]:
    roots = [p.removesuffix("/kustomization.yaml") for p in files if p.endswith("/kustomization.yaml")]
    return sorted(r for r in roots if r.startswith("gitops/"))


def check_output(text: str, tmp: Path) -> None:
    mesh = tmp / "mesh.yaml"
    mesh.write_text(text, encoding="utf-8")
    out = tmp / "out"
    try:
        result = build(BuildOptions(mesh, out, validate=True, cache=False))
    except MpcError as exc:
        # Bad input, located; never a validator's complaint about what a valid mesh built into.
        assert all(d.location.line > 0 for d in exc.diagnostics), str(exc)
        assert not any(d.code == "E502" for d in exc.diagnostics), f"{exc}\n--- mesh ---\n{text}"
        assert not out.exists()
        return
    assert result.findings == [] or all(f.severity.value == "warning" for f in result.findings)
    # Nothing written outside the output folder (no temporary folder left, nothing beside it).
    assert sorted(p.name for p in tmp.iterdir()) == ["mesh.yaml", "out"]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    for name in files:
        path = out / name
        assert path.resolve().is_relative_to(out.resolve()), name
        if name.endswith((".yaml", ".lock")) and name != "mpc.lock":
            list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        elif name.endswith(".json") or name == "mpc.lock":
            json.loads(path.read_text(encoding="utf-8"))
    for folder in _kustomize_roots(files):
        done = kustomize(out / folder)
        assert done.returncode == 0, f"{folder}: {done.stderr}"
    assert _codeowners_problems((out / "gitops" / "CODEOWNERS").read_text(encoding="utf-8")) == []
    dot = run_mpc("graph", mesh, "--format", "dot")
    assert dot.code == 0 and _dot_problems(dot.out) == [], dot.out
    base = tmp / "base.yaml"
    base.write_text(json.dumps(ACME), encoding="utf-8")
    report = run_mpc("diff", base, mesh, "--format", "markdown")
    assert report.code == 0 and _markdown_problems(report.out) == [], report.out


@pytest.mark.slow
@settings(
    max_examples=RUNS,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(text=hostile())
def test_hostile_values_are_refused_or_build_into_valid_files(
    tmp_path_factory: pytest.TempPathFactory, text: str
) -> None:
    check_output(text, tmp_path_factory.mktemp("fuzz"))


@pytest.mark.slow
@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_each_payload_in_free_text_that_is_free(tmp_path: Path, payload: str) -> None:
    """Where any text is valid (an env value, a description, an instance's string), the payload builds."""
    data = json.loads(json.dumps(ACME))
    if "${" not in payload:  # in env, ${NAME.address} is a reference to another service's address
        data["services"]["auth"]["env"] = {"MODE": payload}
    data["customResources"][0]["fields"]["modelUri"]["description"] = payload
    data["customResources"][0]["instances"][0]["spec"]["modelUri"] = payload
    text = json.dumps(data, indent=1)
    if any(ord(c) < 32 and c not in "\t\n" for c in payload):
        (tmp_path / "mesh.yaml").write_text(text)
        with pytest.raises(MpcError) as refused:
            build(BuildOptions(tmp_path / "mesh.yaml", tmp_path / "out", cache=False))
        assert {d.code for d in refused.value.diagnostics} == {"E204"}
        return
    check_output(text, tmp_path)
    assert (tmp_path / "out" / "mpc.lock").exists()
