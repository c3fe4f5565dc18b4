"""A real validator refusing what mpc wrote from a valid mesh is mpc's bug: exit 3, located at the mesh.

The defect is reintroduced on purpose (the YAML writer's old block literal, which lost the indentation of
a first line that starts with spaces); kubectl kustomize, the real one, refuses the file it wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_mpc

from mpc.render import yamlwriter

SEED = Path(__file__).parent.parent / "examples/local-api-gateway/mesh.yaml"


def _old_block_literal(text: str, indent: str) -> str | None:
    """The writer before block literals carried an indentation indicator."""
    if "\n" not in text or "\r" in text:
        return None
    body = text[:-1] if text.endswith("\n") else text
    if body.endswith("\n") or not body or body[0] == " ":
        return None
    lines = body.split("\n")
    header = "|" if text.endswith("\n") else "|-"
    return header + "".join("\n" + (indent + "  " + line if line else "") for line in lines)


@pytest.mark.slow
def test_a_validator_refusing_mpc_output_is_exit_3_at_the_mesh_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kubectl: str
) -> None:
    monkeypatch.setattr(yamlwriter, "_block_literal", _old_block_literal)
    mesh = tmp_path / "mesh.yaml"
    value = json.dumps("\n  indented\nx")
    mesh.write_text(
        SEED.read_text().replace(
            "    dependsOn: [data]\n", f"    dependsOn: [data]\n    env: {{X: {value}}}\n", 1
        )
    )
    assert run_mpc("validate", mesh).code == 0
    out = tmp_path / "out"
    result = run_mpc("build", mesh, "-o", out, "--validate", "--backend", "kustomize", "--no-cache")
    assert result.code == 3, result.err
    assert "a real validator refused a file mpc wrote from a valid mesh" in result.err
    line = next(i for i, text in enumerate(mesh.read_text().splitlines(), 1) if text.startswith("  auth:"))
    assert f"{mesh}:{line}:" in result.err  # services.auth, whose ConfigMap kustomize could not read
    assert "did not find expected key" in result.err  # kustomize's own words
    assert "kustomize/base/auth/configmap.yaml" in result.err
    assert ".mpc-tmp" not in result.err and str(tmp_path / "out") not in result.err.replace(str(mesh), "")
    assert "error[E502]" in result.err and "bug in mpc" in result.err
    assert not out.exists()
