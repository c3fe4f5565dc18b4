"""`mpc init`: the seed's `mix gen` in one command, writing a valid, commented mesh.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_mpc

from mpc.errors import MpcError
from mpc.workflow.front import front_file
from mpc.workflow.scaffold import render_scaffold


def test_the_seed_command(tmp_path: Path) -> None:
    target = tmp_path / "master_proxy"
    run = run_mpc(
        "init",
        target,
        "--port",
        "4000",
        "--gateway",
        "LocalAPIGateway",
        "--app",
        "auth",
        "--app",
        "brain",
        "--app",
        "data",
    )
    assert run.code == 0, run.err
    mesh = target / "mesh.yaml"
    text = mesh.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=./mesh.schema.json\n")
    # The schema the comment names sits beside the mesh, and the mesh passes it.
    import json

    import jsonschema
    from ruamel.yaml import YAML

    schema = json.loads((target / "mesh.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(YAML(typ="safe", pure=True).load(text), schema)
    front = front_file(mesh)
    model = front.model
    assert model.name == "master-proxy"  # from the folder's name
    assert model.gateway.name == "local-api-gateway"  # the seed's CamelCase name as a DNS label
    assert model.gateway.port == 4000
    assert [r.prefix for r in model.gateway.routes] == ["/auth", "/brain", "/data"]
    assert list(model.services) == ["auth", "brain", "data"]
    assert model.services["auth"].image == "ghcr.io/example/auth:0.1.0"
    assert run_mpc("validate", mesh).code == 0


@pytest.mark.parametrize(
    ("given", "label"),
    [
        ("LocalAPIGateway", "local-api-gateway"),
        ("Brain", "brain"),
        ("my_app", "my-app"),
        ("Auth2Service", "auth2-service"),
    ],
)
def test_camel_case_names_become_labels(given: str, label: str) -> None:
    text = render_scaffold(gateway=given, port=80, apps=["x"], name="m", registry="r.io/x")
    assert f"  name: {label}\n" in text


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    assert run_mpc("init", tmp_path, "--gateway", "gw", "--port", "80", "--app", "a").code == 0
    again = run_mpc("init", tmp_path, "--gateway", "gw", "--port", "80", "--app", "b")
    assert again.code == 2 and "already exists" in again.err and "--force" in again.err
    assert run_mpc("init", tmp_path, "--gateway", "gw", "--port", "80", "--app", "b", "--force").code == 0


@pytest.mark.parametrize(
    ("apps", "gateway", "registry", "code"),
    [
        (["a", "a"], "gw", "r.io/x", "E303"),
        (["gw"], "gw", "r.io/x", "E310"),
        (["!!!"], "gw", "r.io/x", "E308"),
        (["a"], "gw", "r.io/x: y", "E204"),
    ],
)
def test_bad_arguments(apps: list[str], gateway: str, registry: str, code: str) -> None:
    with pytest.raises(MpcError) as info:
        render_scaffold(gateway=gateway, port=80, apps=apps, name="m", registry=registry)
    assert info.value.diagnostics[0].code == code


def test_port_is_checked_by_the_cli(tmp_path: Path) -> None:
    run = run_mpc("init", tmp_path, "--gateway", "gw", "--port", "70000", "--app", "a")
    assert run.code == 2
