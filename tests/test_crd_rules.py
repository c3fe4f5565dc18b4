"""The API server's rules for the CRDs mpc writes: reserved groups and their approval, names, RE2 patterns.

Patterns are compiled and matched with RE2, the engine the API server uses (Go's regexp): a pattern it
would refuse is a located error, and an instance is matched in linear time and with RE2's meaning of each
class (`\\d` is ASCII digits, as in Go, where Python's `re` also takes other scripts' digits).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from conftest import run_mpc

from mpc.errors import Code, MpcError
from mpc.graph.checks.custom_resources import protected
from mpc.lang import patterns
from mpc.workflow.front import front_text, render

MESH = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata:
  name: shop
  owners: ["@shop/platform"]
gateway:
  name: edge
  port: 4000
  routes:
    - {prefix: /api, service: api}
services:
  api:
    image: ghcr.io/shop/api:1.0.0
    port: 8080
customResources:
"""


def diagnostics(resources: str) -> list[tuple[str, str]]:
    try:
        front_text(MESH + resources)
    except MpcError as err:
        return [(d.code, d.message) for d in err.diagnostics]
    return []


@pytest.mark.parametrize(
    ("group", "reserved"),
    [
        ("k8s.io", True),
        ("kubernetes.io", True),
        ("sensors.k8s.io", True),
        ("a.b.kubernetes.io", True),
        ("k8s.io.example.com", False),
        ("myk8s.io", False),
        ("notkubernetes.io", False),
        ("acme.dev", False),
    ],
)
def test_reserved_groups(group: str, reserved: bool) -> None:
    assert protected(group) is reserved


def test_an_approved_crd_in_a_reserved_group_carries_the_annotation() -> None:
    url = "https://github.com/kubernetes/enhancements/pull/1111"
    front = front_text(
        MESH + f"  - {{group: sensors.k8s.io, kind: Sensor, version: v1, apiApproved: {url!r}}}\n"
    )
    files = render(front, ["kustomize"]).by_path()
    crd: Any = files["kustomize/crds/sensors.sensors.k8s.io.yaml"].content
    assert crd["metadata"]["annotations"]["api-approved.kubernetes.io"] == url
    kubernetes_validate.validate(crd, "1.31", strict=True)


def test_no_annotation_outside_reserved_groups() -> None:
    front = front_text(MESH + "  - {group: shop.dev, kind: Basket, version: v1}\n")
    crd: Any = render(front, ["kustomize"]).by_path()["kustomize/crds/baskets.shop.dev.yaml"].content
    assert "api-approved.kubernetes.io" not in crd["metadata"]["annotations"]


@pytest.mark.parametrize("value", ["unapproved", "unapproved, experimental-only", "http://example.com/x"])
def test_approval_values_the_api_server_takes(value: str) -> None:
    assert diagnostics(f"  - {{group: k8s.io, kind: Sensor, version: v1, apiApproved: {value!r}}}\n") == []


@pytest.mark.parametrize("value", ["yes", "approved", "github.com/kubernetes/x", "https://", "Unapproved"])
def test_approval_values_it_refuses(value: str) -> None:
    found = diagnostics(f"  - {{group: k8s.io, kind: Sensor, version: v1, apiApproved: {value!r}}}\n")
    assert [code for code, _ in found] == [Code.CRD_PROTECTED_GROUP]


@pytest.mark.parametrize("plural", ["Sensors", "sensor_readings", "1sensors", "sensors-", "s" * 64])
def test_plurals_it_refuses(plural: str) -> None:
    found = diagnostics(f"  - {{group: shop.dev, kind: Sensor, version: v1, plural: {plural}}}\n")
    assert [code for code, _ in found] == [Code.CRD_NAME]


def test_a_59_character_kind_is_the_longest() -> None:
    kind = "K" + "a" * 58
    assert diagnostics(f"  - {{group: shop.dev, kind: {kind}, version: v1}}\n") == []
    found = diagnostics(f"  - {{group: shop.dev, kind: {kind}a, version: v1}}\n")
    assert [code for code, _ in found] == [Code.CRD_NAME]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"^(?!tmp/).*$", "invalid perl operator: (?!"),
        (r"^(?<=a)b$", "invalid perl operator: (?<="),
        (r"^(a)\1$", "invalid escape sequence: \\1"),
        (r"^a++$", "bad repetition operator: ++"),
        (r"^a{1001}$", "invalid repetition size: {1001}"),
        (r"^\C$", "invalid escape sequence: \\C"),
        (r"^[a-$", "invalid character class range: a-$"),
    ],
)
def test_patterns_re2_refuses(pattern: str, reason: str) -> None:
    assert patterns.syntax_error(pattern) == reason


@pytest.mark.parametrize(
    "pattern", [r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", r"^\\C$", r"(?i)^s3://", r"^\p{Greek}+$"]
)
def test_patterns_re2_takes(pattern: str) -> None:
    assert patterns.syntax_error(pattern) is None


def test_a_refused_pattern_is_located_and_stops_nothing_else() -> None:
    found = diagnostics(
        "  - group: shop.dev\n"
        "    kind: Upload\n"
        "    version: v1\n"
        "    plural: Uploads\n"
        "    fields:\n"
        '      path: {type: string, pattern: "^(?!tmp/).*$"}\n'
    )
    assert sorted(code for code, _ in found) == [Code.CRD_NAME, Code.CRD_PATTERN]


def test_instances_match_in_linear_time() -> None:
    """`^(a+)+$` against 40 characters that do not match backtracks for hours in a backtracking engine."""
    subject = "a" * 40 + "!"
    started = time.perf_counter()
    found = diagnostics(
        "  - group: shop.dev\n"
        "    kind: Word\n"
        "    version: v1\n"
        "    fields:\n"
        '      letters: {type: string, pattern: "^(a+)+$"}\n'
        "    instances:\n"
        f'      - {{name: slow, spec: {{letters: "{subject}"}}}}\n'
        '      - {name: fine, spec: {letters: "aaaa"}}\n'
    )
    assert time.perf_counter() - started < 5
    assert found == [
        (Code.CUSTOM_RESOURCE_INSTANCE, f"Word 'slow': letters: '{subject}' does not match '^(a+)+$'")
    ]


def test_instances_match_with_re2s_classes() -> None:
    """RE2's `\\d` is ASCII, as the API server's: Python's `re` would take an Arabic-Indic three."""
    three = "\u0663"
    assert re.search(r"^\d$", three) and not patterns.search(r"^\d$", three)
    found = diagnostics(
        "  - group: shop.dev\n"
        "    kind: Shelf\n"
        "    version: v1\n"
        "    fields:\n"
        '      number: {type: string, pattern: "^\\\\d$"}\n'
        "    instances:\n"
        f'      - {{name: three, spec: {{number: "{three}"}}}}\n'
        '      - {name: four, spec: {number: "4"}}\n'
    )
    assert [code for code, _ in found] == [Code.CUSTOM_RESOURCE_INSTANCE]


@pytest.mark.slow
def test_build_validate_matches_instances_with_re2(tmp_path: Path) -> None:
    """`\\z` is RE2 (the API server takes it) and no escape Python's `re` knows: the validator of the
    written tree matches with RE2 too, so a valid mesh builds (with `re`, a crash: exit 3)."""
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(
        MESH + "  - group: shop.dev\n"
        "    kind: Shelf\n"
        "    version: v1\n"
        "    fields:\n"
        '      label: {type: string, pattern: "^[a-z]+\\\\z"}\n'
        "    instances:\n"
        "      - {name: top, spec: {label: top}}\n"
    )
    with pytest.raises(re.error):
        re.compile(r"^[a-z]+\z")
    result = run_mpc("build", mesh, "-o", tmp_path / "out", "--validate", "--backend", "kustomize")
    assert result.code == 0, result.err
    assert "kubectl kustomize" in result.out
    # Without the istio backend the tree lacks its policy layers on purpose: nothing for verify to judge.
    assert "mpc: verify" not in result.out
