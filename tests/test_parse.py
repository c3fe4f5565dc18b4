"""parse: the spec models, values parsed (durations, quantities), pydantic errors in mesh terms."""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import MINIMAL_MESH

from mpc.errors import Diagnostic, MpcError
from mpc.lang import spec
from mpc.lang.load import load_text
from mpc.lang.parse import parse
from mpc.lang.quantities import format_duration, parse_duration_ms, parse_quantity

BASE = MINIMAL_MESH


def mesh_of(text: str) -> spec.Mesh:
    return parse(load_text(text, "mesh.yaml"))


def problems(text: str) -> list[Diagnostic]:
    with pytest.raises(MpcError) as info:
        mesh_of(text)
    return info.value.diagnostics


@pytest.mark.parametrize(
    ("text", "ms"),
    [("250ms", 250), ("15s", 15_000), ("1.5s", 1_500), ("2m", 120_000), ("1h30m", 5_400_000), ("0s", 0)],
)
def test_durations_are_milliseconds(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms
    assert parse_duration_ms(format_duration(ms)) == ms


@pytest.mark.parametrize("bad", ["15", "15 s", "1.5ms", "fast", "", "-1s", 15, True, None])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(bad)


@pytest.mark.parametrize(
    ("text", "value"),
    [("100m", "0.1"), ("2", "2"), ("128Mi", str(128 * 2**20)), ("20Gi", str(20 * 2**30)), ("1.5k", "1500")],
)
def test_quantities_have_values(text: str, value: str) -> None:
    q = parse_quantity(text)
    assert q.value == Decimal(value)
    assert str(q) == text


def test_values_are_parsed_in_the_model() -> None:
    text = BASE.replace(
        "port: 8080}", "port: 8080, timeout: 2s, resources: {cpu: 250m, memory: 1Gi}, storage: 5Gi}"
    )
    svc = mesh_of(text).services["api"]
    assert svc.timeout == 2000
    assert svc.resources is not None and svc.resources.cpu is not None
    assert svc.resources.cpu.value == Decimal("0.25")
    assert svc.storage is not None and svc.storage.value == 5 * 2**30


def test_the_whole_spec_parses() -> None:
    mesh = mesh_of((__import__("conftest").EXAMPLES / "acme" / "mesh.yaml").read_text(encoding="utf-8"))
    assert isinstance(mesh.clusters["gke-prod"], spec.GkeCluster)
    assert isinstance(mesh.clusters["do-ams"], spec.DoCluster)
    assert mesh.gateway.rate_limit is not None and mesh.gateway.rate_limit.per == 1000
    assert mesh.observability is not None and mesh.observability.slos[0].latency_p99 == 500
    assert mesh.custom_resources[0].fields["modelUri"].required


def test_every_problem_is_reported_at_once_in_order() -> None:
    text = BASE.replace("port: 4000", "port: four").replace("port: 8080}", "port: 8080, replica: 2}")
    found = problems(text)
    assert [(d.code, d.location.line) for d in found] == [("E203", 6), ("E201", 9)]
    assert found[1].hint == "did you mean 'replicas'?"


def test_a_missing_key_points_at_its_parent() -> None:
    found = problems(BASE.replace("image: ghcr.io/shop/api:1.0.0, ", ""))
    assert [(d.code, d.location.line, d.location.col) for d in found] == [("E202", 9, 3)]
    assert "services.api is missing the required key 'image'" in found[0].message


def test_a_misspelt_required_key_is_one_error() -> None:
    found = problems(BASE.replace("services:", "service:"))
    assert [d.code for d in found] == ["E201"]
    assert found[0].hint == "did you mean 'services'?"


def test_did_you_mean_follows_the_cluster_provider() -> None:
    text = BASE + "clusters:\n  do: {provider: digitalocean, region: ams3, version: '1.31',\n"
    text += "        nodePools: {p: {size: s-1, count: 1, machineType: x}}}\n"
    found = problems(text)
    assert found[0].code == "E201"
    assert found[0].hint == "known: count, max, min, size"


def test_messages_speak_mesh_not_pydantic() -> None:
    text = BASE.replace("port: 8080}", "port: 8080, protocol: htp, env: {A: [1]}}")
    text = text.replace("metadata: {name: shop}", "metadata: {name: shop, owners: '@a/b'}")
    for d in problems(text):
        assert "Input should" not in d.message and "pydantic" not in d.message
        assert "function-" not in d.message and ".str" not in d.message


def test_unsupported_api_version_names_the_supported_one() -> None:
    found = problems(BASE.replace("v1alpha1", "v9"))
    assert found[0].code == "E205"
    assert "masterproxy.dev/v1alpha1" in found[0].hint


def test_secret_literal_is_refused() -> None:
    text = BASE.replace("port: 8080}", "port: 8080, secrets: {DB_PASSWORD: hunter2}}")
    assert [d.code for d in problems(text)] == ["E307"]


def test_version_written_as_a_number_gets_a_quoting_hint() -> None:
    cluster = "{provider: digitalocean, region: ams3, version: 1.30, nodePools: {p: {size: s, count: 1}}}"
    text = BASE + f"clusters:\n  c: {cluster}\n"
    found = problems(text)
    assert found[0].message.endswith("got 1.30")
    assert found[0].hint.startswith('quote it: "1.30"')
