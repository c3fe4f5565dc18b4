"""mpc.lang.compose: the libyaml fast path gives ruamel's node tree (tags, values, positions, aliases)."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from conftest import ROOT, example_meshes
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from mpc.lang.compose import compose_fast, compose_libyaml
from mpc.render import yamlwriter

sys.path.insert(0, str(ROOT / "benchmarks"))
from gen import mesh_text

pytest.importorskip("yaml._yaml", reason="PyYAML without its libyaml extension: the fast path is off")


def shape(node: Any, seen: dict[int, int] | None = None) -> Any:
    """A comparable picture of a node tree; an alias shows as a back-reference to its anchor's number."""
    seen = {} if seen is None else seen
    if node is None:
        return None
    if id(node) in seen:
        return ("alias", seen[id(node)])
    seen[id(node)] = len(seen)
    head = (node.id, str(node.tag), node.start_mark.line, node.start_mark.column)
    if node.id == "scalar" and not node.value and not node.style:
        # An empty plain scalar: the two parsers place it differently; the reader composes such a
        # text with ruamel (mpc.lang.compose.Unlike), so only its presence is compared here.
        head = (node.id, str(node.tag), None, None)
    if node.id == "scalar":
        return (*head, node.value)
    if node.id == "sequence":
        return (*head, [shape(item, seen) for item in node.value])
    return (*head, [(shape(k, seen), shape(v, seen)) for k, v in node.value])


def ruamel_shape(text: str) -> Any:
    return shape(YAML(typ="safe", pure=True).compose(text))


def assert_same(text: str) -> None:
    fast = compose_libyaml(text)
    try:
        expected = ruamel_shape(text)
    except YAMLError:
        assert fast is None, "libyaml accepted text that ruamel refuses"
        return
    if fast is not None:  # None is always allowed: the caller then composes with ruamel
        assert shape(fast[0]) == expected


TRICKY = [
    "a: on\nb: yes\nc: no\nd: off\ne: y\nf: True\ng: FALSE\nh: ~\ni: null\nj:\n",
    "a: 0o17\nb: 017\nc: 0x1F\nd: 1_000\ne: 1:20\nf: .inf\ng: -.Inf\nh: .NaN\ni: 1e3\nj: 1.5e-3\nk: +12\n",
    "a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: '1'\nd: \"2\"\ne: !!str 3\nf: !!int '4'\n",
    "text: |\n  line one\n  line two\nfolded: >-\n  a\n  b\n\n  c\nkeep: |+\n  x\n\n",
    "base: &b {cpu: 100m, memory: 1Gi}\nsvc:\n  <<: *b\n  cpu: 2\nlist: [*b, *b]\n",
    "multi: this is\n  a plain\n  multi-line scalar\nq: 'it''s'\nd: \"tab\\there \\u00e9\"\n",
    'unicode: héllo wörld\nemoji: "🚀"\nkey ü: [a, b, {c: d}]\n',
    "crlf: 1\r\nnext:\r\n  - x\r\n  - y\r\n",
    "? [complex, key]\n: value\n? simple\n: v2\n",
    "custom: !foo bar\nseq: !!seq [a]\nmap: !!map {a: b}\nbin: !!binary aGVsbG8=\n",
    "flow: {a: 1, b: [2, 3], 'c': {d: e}}\nempty_map: {}\nempty_seq: []\n",
    "# only a comment\n",
    "",
    "- a\n- - b\n  - c\n- d: e\n  f: g\n",
    "a: 1\na: 2\n",
    "key: value # comment\n# comment\nother: -1\nneg: -.5\n",
    "a: [1, 2\n",
    "a: b: c\n",
    "\ta: 1\n",
    "--- a\n--- b\n",
    "%YAML 1.1\n---\na: on\n",
    "a: *undefined\n",
    "a: &x 1\nb: &x 2\nc: *x\n",
    "a: {b: c, b: d}\n",
    "port: 08080\nver: 1.31\nsemver: 1.4.2\nimg: ghcr.io/acme/auth:1.4.2\n",
    "deep: " + "[" * 40 + "]" * 40 + "\n",
    "---\nkey:\n- indentless\n- seq\nother:\n    - deeper\n    -   spaced\n...\n",
    "\ufeffbom: 1\n",
    "list:\n  -\n  - x\n  - {a: }\n",
    "flow: [a,\n  b, {c: d,\n  e: f}]\nwide:     spaced   \n",
    "a: 'multi\n  line'\nb: \"x\n  y\"\n",
    "gateway:\n  routes:\n    - prefix: /a\n      service: a\n    - {prefix: /b, service: b}\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_documents_compose_alike(text: str) -> None:
    assert_same(text)


@pytest.mark.parametrize("path", example_meshes(), ids=lambda p: p.parent.name)
def test_examples_compose_alike(path: Any) -> None:
    text = path.read_text("utf-8")
    assert compose_libyaml(text) is not None
    assert_same(text)


@pytest.mark.parametrize("n", [1, 7, 150])
def test_generated_meshes_compose_alike(n: int) -> None:
    assert_same(mesh_text(n))


def test_alias_is_the_anchor_node() -> None:
    fast = compose_libyaml("a: &x {b: 1}\nc: *x\n")
    assert fast is not None
    (_, first), (_, second) = fast[0].value
    assert first is second


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["on", "No", "0o7", "1:2", "- x", "a: b", "#c", "&a", "*b", "!t", "", " ", "~", "x\ny"]),
)
_data = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _data, min_size=1, max_size=5))
def test_emitted_documents_compose_alike(data: dict[str, Any]) -> None:
    assert_same(yamlwriter.dump(data))


def test_small_files_stay_on_ruamel_and_large_ones_use_libyaml() -> None:
    assert compose_fast("a: 1\n") is None
    big = mesh_text(200)
    fast = compose_fast(big)
    assert fast is not None and shape(fast[0]) == ruamel_shape(big)


@pytest.mark.parametrize("text", [t for t in TRICKY if t], ids=range(len([t for t in TRICKY if t])))
def test_the_reader_gives_one_document_whichever_parser_composed(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data, value positions and key positions are the same from libyaml's nodes as from ruamel's (an
    empty plain scalar sends the reader back to ruamel), and so is any error."""
    from mpc.errors import MpcError
    from mpc.lang import load

    def read() -> Any:
        try:
            doc = load.load_text(text, "mesh.yaml")
        except MpcError as exc:
            return str(exc)
        return doc.data, doc.value_pos, doc.key_pos

    monkeypatch.setattr(load, "compose_fast", lambda _: None)
    slow = read()
    monkeypatch.setattr(load, "compose_fast", compose_libyaml)
    assert read() == slow
