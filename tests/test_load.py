"""load: text to plain data with positions; refuses what a config has no use for, with a location."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mpc.errors import MpcError
from mpc.lang.load import MAX_ALIAS_EXPANSION, MAX_BYTES, Document, load_bytes, load_text
from mpc.workflow.front import read_mesh


def load_file(path: Path, display: str | None = None) -> Document:
    """A mesh file as the commands load it."""
    name = display or str(path)
    return load_bytes(read_mesh(path, name), name)


def errors(text: str) -> list[tuple[str, int, int, str]]:
    with pytest.raises(MpcError) as info:
        load_text(text, "mesh.yaml")
    return [(d.code, d.location.line, d.location.col, d.message) for d in info.value.diagnostics]


def test_positions_of_keys_and_values() -> None:
    doc = load_text("a:\n  b: 1\n  c: [x, {d: y}]\n", "mesh.yaml")
    assert doc.data == {"a": {"b": 1, "c": ["x", {"d": "y"}]}}
    assert doc.key_pos[("a", "b")] == (2, 3)
    assert doc.value_pos[("a", "b")] == (2, 6)
    assert doc.value_pos[("a", "c", 1, "d")] == (3, 14)
    assert str(doc.location(("a", "c", 1, "d"))) == "mesh.yaml:3:14"


def test_a_missing_key_points_at_its_parent() -> None:
    doc = load_text("a:\n  b: 1\n", "mesh.yaml")
    assert str(doc.location(("a", "zzz"), key=True)) == "mesh.yaml:1:1"
    assert str(doc.location(("a", "b", "deeper"))) == "mesh.yaml:2:3"


def test_billion_laughs_fails_fast() -> None:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    prev = "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ", ".join(["*" + prev] * 9) + "]\n"
        prev = name
    start = time.perf_counter()
    found = errors(text)
    assert time.perf_counter() - start < 1.0
    assert found[0][0] == "E106" and str(MAX_ALIAS_EXPANSION) in found[0][3]


def test_small_aliases_and_merge_keys_are_fine() -> None:
    doc = load_text("base: &b {cpu: 1}\nsvc:\n  <<: *b\n  memory: 2\nlist: &l [1, 2]\ncopy: *l\n", "m")
    assert doc.data["svc"] == {"cpu": 1, "memory": 2}
    assert doc.data["copy"] == [1, 2]


def test_recursive_alias_is_refused() -> None:
    assert errors("a: &x [1, *x]\n")[0][0] == "E106"


def test_size_bound(tmp_path: Path) -> None:
    big = "a: " + "x" * (MAX_BYTES + 1) + "\n"
    assert errors(big)[0][0] == "E102"
    path = tmp_path / "mesh.yaml"
    path.write_text(big, encoding="utf-8")
    with pytest.raises(MpcError) as info:
        load_file(path)
    assert info.value.diagnostics[0].code == "E102"
    assert "larger than 8 MiB" in info.value.diagnostics[0].message


def test_a_ten_thousand_service_sized_file_is_within_the_bound() -> None:
    # benchmarks/gen.py writes ~2 MB for 10,000 services: such a mesh must load, with room to grow.
    assert MAX_BYTES == 8 * 1024 * 1024
    text = "a: " + "x" * (4 * 1024 * 1024) + "\n"
    assert len(load_text(text, "mesh.yaml").text) == len(text)


def test_duplicate_keys_name_both_places() -> None:
    with pytest.raises(MpcError) as info:
        load_text("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n", "mesh.yaml")
    found = info.value.diagnostics
    assert [(d.code, d.location.line) for d in found] == [("E104", 4), ("E104", 5)]
    assert found[0].notes[0][0].line == 3


@pytest.mark.parametrize(
    "text",
    [
        "a: !!binary aGk=\n",
        "a: !!python/object:os.system ls\n",
        "a: !custom 1\n",
        "a: !!set {x}\n",
        "a: !t [1]\n",
    ],
)
def test_custom_tags_are_refused(text: str) -> None:
    assert errors(text)[0][:3] == ("E105", 1, 4)


def test_standard_tags_are_plain_data() -> None:
    doc = load_text("a: !!str 5\nb: !!int '7'\nc: 2024-01-02\nd: ~\ne: .5\n", "m")
    assert doc.data == {"a": "5", "b": 7, "c": "2024-01-02", "d": None, "e": 0.5}


def test_yaml_1_1_forms_do_not_crash() -> None:
    doc = load_text("%YAML 1.1\n---\na: yes\nb: 1:30\nc: 0o17\nd: 0x1F\n", "m")
    assert doc.data["a"] is True
    assert doc.data["d"] == 31


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "E107"),
        ("# only a comment\n", "E107"),
        ("- a\n- b\n", "E107"),
        ("plain text\n", "E107"),
        ("a: 1\n---\nb: 2\n", "E107"),
        ("a: [1, 2\n", "E103"),
        ("a:\n\tb: 1\n", "E103"),
        ("1: a\n", "E108"),
        ("[a]: 1\n", "E108"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", "E103"),
    ],
)
def test_refused_documents(text: str, code: str) -> None:
    found = errors(text)
    assert found[0][0] == code
    assert found[0][1] >= 1 and found[0][2] >= 1


def test_deep_block_nesting_is_refused_not_a_crash() -> None:
    text = "".join(" " * i + "k:\n" for i in range(500))
    assert errors(text)[0][0] == "E103"


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(MpcError) as info:
        load_file(tmp_path / "missing.yaml", "mesh.yaml")
    assert info.value.diagnostics[0].code == "E101"
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(MpcError) as info:
        load_file(latin, "mesh.yaml")
    d = info.value.diagnostics[0]
    assert (d.code, d.location.line, d.location.col) == ("E101", 2, 7)


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "mesh.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    assert load_file(path).data == {"a": 1}


# Issue 17 (hostile input): what the parser library fails on, or what no generated file can hold, is a
# located error in the loader, never an internal error.


def where(text: str) -> list[tuple[str, int, int]]:
    return [(code, line, col) for code, line, col, _ in errors(text)]


@pytest.mark.parametrize("version", ["1.0", "1.3", "1.9"])
def test_a_yaml_version_the_parser_does_not_implement_is_located(version: str) -> None:
    assert where(f"# a mesh\n%YAML {version}\n---\na: 1\n") == [("E103", 2, 7)]


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_the_yaml_versions_it_implements_load(version: str) -> None:
    assert load_text(f"%YAML {version}\n---\na: 1\n", "m").data == {"a": 1}


@pytest.mark.parametrize(
    "text",
    [
        "a: &a {<<: *a}\n",
        "a: &a {b: &b {<<: *a}}\n",
        "a: &a {<<: [{x: 1}, *a]}\n",
    ],
)
def test_a_merge_key_naming_the_mapping_it_is_in_is_refused(text: str) -> None:
    assert [code for code, _, _ in where(text)] == ["E106"]


def test_merges_count_towards_the_alias_bound() -> None:
    lines = ["a0: &a0 {k: 1}"]
    lines += [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}]}}" for i in range(1, 30)]
    started = time.process_time()
    assert errors("\n".join(lines) + "\n")[0][0] == "E106"
    assert time.process_time() - started < 2


def test_two_merge_keys_in_one_mapping_are_a_duplicate_key() -> None:
    text = "x: &x {p: 1}\ny: &y {q: 2}\na:\n  <<: *x\n  <<: *y\n"
    with pytest.raises(MpcError) as info:
        load_text(text, "m")
    (only,) = info.value.diagnostics
    assert (only.code, only.location.line, only.location.col) == ("E104", 5, 3)
    assert only.notes[0][0].line == 4
    assert "<<: [*first, *second]" in only.hint
    assert load_text("x: &x {p: 1}\ny: &y {q: 2}\na:\n  <<: [*x, *y]\n", "m").data["a"] == {"p": 1, "q": 2}


@pytest.mark.parametrize("text", [".nan", ".NaN", ".inf", "-.inf", "+.Inf", "1e999", "-1e400"])
def test_non_finite_numbers_are_refused(text: str) -> None:
    assert where(f"a: {text}\n") == [("E204", 1, 4)]


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ('a: "x\\0y"\n', (1, 4)),
        ('a: "\\e[31mred"\n', (1, 4)),
        ('a: ["ok", "\\x7f"]\n', (1, 11)),
        ('"k\\x1b": 1\n', (1, 1)),
        ('a: "line\\r\\n"\n', (1, 4)),
    ],
)
def test_control_characters_are_refused(text: str, at: tuple[int, int]) -> None:
    assert where(text) == [("E204", *at)]


def test_tabs_and_newlines_are_text() -> None:
    assert load_text('a: "x\\ty\\nz"\nb: |\n  one\n  two\n', "m").data == {"a": "x\ty\nz", "b": "one\ntwo\n"}
