"""The YAML emitter: every document it writes reads back as the same data, in YAML 1.1 and 1.2 readers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml as pyyaml
from conftest import example_meshes, run_mpc
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from mpc.render.yamlwriter import dump, dump_all

TRICKY = [
    "../../base/auth",
    "./app",
    "../",
    ".../x",
    "./.5",
    "..",
    ".",
    ".inf/x",
    "",
    " ",
    "on",
    "off",
    "yes",
    "No",
    "y",
    "n",
    "true",
    "False",
    "null",
    "Null",
    "~",
    "NULL",
    "1",
    "1.5",
    "-1",
    "+1",
    "0x1F",
    "0o17",
    "1e5",
    "1_000",
    "1:20",
    "2001-01-01",
    "2001-01-01T00:00:00Z",
    ".inf",
    "-.inf",
    ".nan",
    ".5",
    "- x",
    "-x",
    "* x",
    "*x",
    "&a",
    "!t",
    "%p",
    "@a",
    "`b",
    "|",
    ">",
    "'q'",
    '"q"',
    "a: b",
    "a:b",
    "a:",
    "x #y",
    "x#y",
    "#c",
    "{a}",
    "[a]",
    "a,b",
    "?",
    "? x",
    "=",
    "<<",
    "tab\there",
    "trailing ",
    " leading",
    "multi\nline",
    "multi\nline\n",
    "multi\n\nblank\n",
    "end\n\n",
    "  indented\nfirst",
    "unicode é ✓",
    "back\\slash",
    "ctrl\x07",
    "crlf\r\nx",
    "100m",
    "128Mi",
    "15s",
    "1.31",
    "v1",
    "ghcr.io/acme/auth:1.4.2",
    "https://x.y/z?q=1&r=2",
    "*/5 * * * *",
    "a b  c",
]


def _both(text: str) -> tuple[Any, Any]:
    return YAML(typ="safe", pure=True).load(text), pyyaml.safe_load(text)


@pytest.mark.parametrize("value", TRICKY)
def test_tricky_strings_round_trip(value: str) -> None:
    doc = {"k": value, "list": [value], value or "empty": 1}
    text = dump(doc)
    ruamel_data, pyyaml_data = _both(text)
    assert ruamel_data == doc
    assert pyyaml_data == doc


def test_kubernetes_style_layout() -> None:
    text = dump(
        {"apiVersion": "v1", "kind": "List", "items": [{"a": 1, "b": [{"c": "100m"}]}], "e": {}, "f": []}
    )
    assert text == ("apiVersion: v1\nkind: List\nitems:\n- a: 1\n  b:\n  - c: 100m\ne: {}\nf: []\n")


def test_multi_document() -> None:
    text = dump_all([{"a": 1}, {"b": 2}])
    assert text == "a: 1\n---\nb: 2\n"
    assert list(pyyaml.safe_load_all(text)) == [{"a": 1}, {"b": 2}]


def test_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        dump({"a": object()})
    with pytest.raises(TypeError):
        dump({1: "x"})
    with pytest.raises(ValueError):
        dump({"a": math.inf})


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=30),
    st.sampled_from(TRICKY),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(TRICKY)), children, max_size=4),
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), documents, max_size=5))
def test_any_plain_data_round_trips(doc: dict[str, Any]) -> None:
    text = dump(doc)
    ruamel_data, pyyaml_data = _both(text)
    assert ruamel_data == doc
    assert pyyaml_data == doc


@pytest.mark.parametrize("mesh", example_meshes(), ids=[m.parent.name for m in example_meshes()])
def test_every_written_file_parses_back_to_its_artifact(mesh: Path) -> None:
    """The emitter is ours, so every YAML and JSON file mpc writes is read back by two other parsers."""
    import json

    from conftest import to_files

    from mpc.workflow.front import front_file, render

    artifacts = render(front_file(mesh)).artifacts
    files = to_files(artifacts)
    checked = 0
    for art in artifacts:
        data = files[art.path].decode("utf-8")
        if isinstance(art.content, str):
            assert data == art.content, art.path
            continue
        expected = json.loads(json.dumps(art.content))  # tuples -> lists, as any reader gives them
        if art.path.endswith(".json"):
            assert json.loads(data) == expected, art.path
            continue
        docs = expected if isinstance(expected, list) else [expected]
        assert list(pyyaml.safe_load_all(data)) == docs, art.path
        assert list(YAML(typ="safe", pure=True).load_all(data)) == docs, art.path
        checked += 1
    assert checked > 20


# --- property: every shape of string, compared with libyaml ---------------------------------------------

# Pieces strings are made of: what a reader treats specially at the start, the end or inside a scalar.
ATOMS = [
    " ",
    "  ",
    "\n",
    "\n\n",
    "\t",
    " \n",
    "\n ",
    "\n  ",
    "\r\n",
    "#",
    " #",
    ": ",
    ":",
    "-",
    "- ",
    "---",
    "...",
    "?",
    ",",
    "[",
    "]",
    "{",
    "}",
    "&",
    "*",
    "!",
    "|",
    ">",
    "'",
    '"',
    "%",
    "@",
    "`",
    "\\",
    "~",
    "=",
    "<<",
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "n",
    "true",
    "False",
    "null",
    "Null",
    "0",
    "007",
    "0x1f",
    "0o17",
    "0b101",
    "1_000",
    "1:20",
    "1e3",
    "-1.5",
    ".inf",
    ".NaN",
    "2001-12-14",
    "é",
    "✓",
    "日本",
    "\u00a0",
    "\u0085",
    "\u2028",
    "\ufeff",
    "\x00",
    "\x1b",
    "😀",
    "x" * 90,
    "word " * 20,
]
shaped_strings = st.lists(st.one_of(st.sampled_from(ATOMS), st.text(max_size=8)), max_size=8).map("".join)


def _libyaml(text: str) -> Any:
    return list(pyyaml.load_all(text, Loader=pyyaml.CSafeLoader))


@pytest.mark.slow
@settings(max_examples=3000, deadline=None)
@given(shaped_strings)
def test_every_shape_of_string_reads_back_exactly_in_libyaml(value: str) -> None:
    doc = {"k": value, "nested": {"list": [value, {"k": value}], "deeper": [[value]]}, value or "e": value}
    assert _libyaml(dump(doc)) == [doc]


nested = st.recursive(
    st.one_of(shaped_strings, st.integers(), st.booleans(), st.none()),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(shaped_strings, children, max_size=3)
    ),
    max_leaves=12,
)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(st.lists(st.dictionaries(shaped_strings, nested, max_size=4), min_size=1, max_size=3))
def test_nested_documents_read_back_exactly_in_libyaml(docs: list[dict[str, Any]]) -> None:
    assert _libyaml(dump_all(docs)) == docs


@pytest.mark.parametrize("value", ["\n  indented\nx", "\n a6j9", " a\nb", "\n\n  x\n"])
def test_leading_space_block_literals_carry_an_indentation_indicator(value: str) -> None:
    text = dump({"k": value})
    assert text.startswith("k: |2"), text
    assert _libyaml(text) == [{"k": value}]


@pytest.mark.slow
def test_the_reported_env_values_round_trip_through_kubectl_kustomize(tmp_path: Path) -> None:
    """Two env values that once built with exit 0 and then broke kustomize or lost their leading space."""
    import json

    from realtools import kustomize_docs

    values = {"INDENTED": "\n  indented\nx", "LEADING": "\n a6j9"}
    mesh = tmp_path / "mesh.yaml"
    text = (Path(__file__).parent.parent / "examples/local-api-gateway/mesh.yaml").read_text()
    env = ", ".join(f"{k}: {json.dumps(v)}" for k, v in values.items())
    text = text.replace("    dependsOn: [data]\n", f"    dependsOn: [data]\n    env: {{{env}}}\n", 1)
    mesh.write_text(text)
    out = tmp_path / "out"
    assert run_mpc("build", mesh, "-o", out, "--no-cache").code == 0
    docs = kustomize_docs(out / "kustomize/overlays/default")
    (config,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "auth-env"]
    assert {k: config["data"][k] for k in values} == values
