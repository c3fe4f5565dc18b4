"""The YAML emitter: every document it writes reads back as the same data, in YAML 1.1 and 1.2 readers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml as pyyaml
from conftest import example_meshes
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

    from mpc.build.serialize import to_files
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
