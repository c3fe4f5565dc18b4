"""The unit cache: a rebuild equals a full build, reuse is decided only by what mpc keeps itself, and a
service's context digest covers everything the service's output may depend on."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, MINIMAL_MESH, ROOT, run_mpc, tree_of

sys.path.insert(0, str(ROOT / "benchmarks"))
from gen import write_mesh

from mpc.build.digest import ContextDigests
from mpc.build.files import sha256
from mpc.build.identity import code_identity
from mpc.errors import Location
from mpc.graph.context import service_contexts
from mpc.graph.front import Front
from mpc.lang.model import SETTINGS, ServiceContext
from mpc.workflow.build import BuildOptions, build
from mpc.workflow.front import front_file, front_text

ACME = EXAMPLES / "acme" / "mesh.yaml"


def _digests(front: Front) -> dict[str, bytes]:
    digests = ContextDigests(front.model)
    return {name: digests.of(c) for name, c in service_contexts(front.model, front.graph).items()}


# --- a rebuild equals a full build ------------------------------------------------------------------

_SIZED = ("replicas: 2", "timeout: 5s", "retries: 2")


def _sized(text: str) -> str:
    """Every third service of a generated mesh gets fields the edits below can change."""
    out: list[str] = []
    count = 0
    for line in text.splitlines(keepends=True):
        out.append(line)
        if line.startswith("    image: "):
            count += 1
            if count % 3 == 0:
                out.extend(f"    {field}\n" for field in _SIZED)
    return "".join(out)


def _move_a_service(text: str, rng: random.Random) -> str:
    blocks = list(re.finditer(r"(?m)^  svc-\d{5}:\n(?:    .*\n)+", text))
    a, b = sorted(rng.sample(range(len(blocks)), 2))
    first, second = blocks[a], blocks[b]
    return (
        text[: first.start()]
        + second.group()
        + text[first.end() : second.start()]
        + first.group()
        + text[second.end() :]
    )


Edit = tuple[str, Callable[[re.Match[str], str], str]]
EDITS: tuple[Edit, ...] = (
    (r"(?m)^(\s+image: \S+?:)(\S+)$", lambda m, n: f"{m.group(1)}{m.group(2)}-m{n}"),
    (r"(?m)^(\s+port: )8080$", lambda m, n: f"{m.group(1)}8081"),
    (r"(?m)^\s+dependsOn: \[[^\]]*\]\n", lambda m, n: ""),
    (r"(?m)^(\s+health: \{path: )/healthz\}$", lambda m, n: f"{m.group(1)}/ready{n}}}"),
    (r"(?m)^(\s+LOG_LEVEL: )info$", lambda m, n: f"{m.group(1)}debug"),
    (r"(?m)^(\s+replicas: )2$", lambda m, n: f"{m.group(1)}3"),
    (r"(?m)^(\s+timeout: )5s$", lambda m, n: f"{m.group(1)}{n}s"),
    (r"(?m)^(\s+retries: )2$", lambda m, n: f"{m.group(1)}1"),
    (r"(?m)^(\s+resources: \{cpu: )(\d+)m", lambda m, n: f"{m.group(1)}{int(m.group(2)) + 50}m"),
    (r"(?m)^(\s+owners: \[)", lambda m, n: f"{m.group(1)}team-{n}, "),
    (r"(?m)^(\s+- \{prefix: /[\w-]+, service: [\w-]+)\}$", lambda m, n: f"{m.group(1)}, auth: bench-id}}"),
    (r"(?m)^(\s+- \{prefix: /[\w-]+, service: [\w-]+), auth: bench-id\}$", lambda m, n: f"{m.group(1)}}}"),
    # Lines added and removed: comments, blank lines, a field a service did not have.
    (r"(?m)^(  svc-\d{5}:\n)", lambda m, n: f"{m.group(1)}    # note {n}\n"),
    (r"(?m)^    # note \d+\n", lambda m, n: ""),
    (r"(?m)^(services:\n)", lambda m, n: f"{m.group(1)}\n  # services below\n\n"),
)


@pytest.mark.slow
def test_random_edits_rebuild_to_the_tree_of_a_build_without_cache(tmp_path: Path) -> None:
    """Rounds of random edits (values, dependencies, routes, added and removed lines, a moved service,
    new fields), each rebuilt over the previous tree with the cache, equal a build without any cache,
    lock included; exactly the services whose context digest changed are rendered again."""
    mesh = write_mesh(tmp_path / "mesh", 120)
    mesh.write_text(_sized(mesh.read_text("utf-8")), encoding="utf-8")
    out = tmp_path / "out"
    build(BuildOptions(mesh, out))
    before_digests = _digests(front_file(mesh))
    rng = random.Random(29)
    for round_ in range(5):
        text = mesh.read_text("utf-8")
        for n in range(rng.randint(2, 5)):
            pattern, replace = rng.choice(EDITS)
            matches = list(re.finditer(pattern, text))
            if matches:
                m = rng.choice(matches)
                text = text[: m.start()] + replace(m, f"{round_}{n}") + text[m.end() :]
        if round_ % 2:
            text = _move_a_service(text, rng)
        mesh.write_text(text, encoding="utf-8")
        digests = _digests(front_file(mesh))
        moved = {name for name, d in digests.items() if before_digests.get(name) != d}
        before_digests = digests
        before = tree_of(out)
        result = build(BuildOptions(mesh, out))
        fresh = tmp_path / f"fresh{round_}"
        build(BuildOptions(mesh, fresh, cache=False))
        after = tree_of(out)
        assert after == tree_of(fresh), f"round {round_}: the rebuilt tree differs from a build without cache"
        assert result.summary is not None
        changed = {p for p in after if before.get(p) != after[p]} - {"mpc.lock"}
        assert set(result.summary.changed) | set(result.summary.written) == changed
        service_backends = 2  # kustomize and istio render each service
        rendered = result.units[0] if result.units is not None else service_backends * len(digests)
        assert rendered == service_backends * len(moved), (round_, sorted(moved))


@pytest.mark.slow
def test_another_mpc_version_or_plugin_renders_everything_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(ACME.read_text())
    assert build(BuildOptions(mesh, tmp_path / "a")).summary is not None
    again = build(BuildOptions(mesh, tmp_path / "b"))
    assert again.units is not None and again.units[0] == 0  # all from the cache
    import mpc.build.identity as identity

    monkeypatch.setattr(identity, "__version__", "99.0.0")
    other = build(BuildOptions(mesh, tmp_path / "c"))
    assert other.units is None  # nothing came from the cache
    plugins = [("mpc-extra 1.0", "json")]
    assert code_identity(plugins) != code_identity([]) != code_identity([("mpc-extra 1.1", "json")])


def test_a_broken_cache_is_no_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache folder that is a file, or a database that is not one: the build works without it."""
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    monkeypatch.setenv("MPC_CACHE_DIR", str(blocked))
    assert run_mpc("build", ACME, "-o", tmp_path / "a").code == 0
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "mpc-cache.sqlite3").write_bytes(b"this is not SQLite" * 100)
    monkeypatch.setenv("MPC_CACHE_DIR", str(garbage))
    assert run_mpc("build", ACME, "-o", tmp_path / "b").code == 0
    assert tree_of(tmp_path / "a") == tree_of(tmp_path / "b")


def test_a_tampered_cache_value_is_a_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    monkeypatch.setenv("MPC_CACHE_DIR", str(tmp_path / "cache"))
    assert run_mpc("build", ACME, "-o", tmp_path / "a").code == 0
    db = sqlite3.connect(tmp_path / "cache" / "mpc-cache.sqlite3")
    with db:
        for key, value in db.execute("SELECT key, value FROM units").fetchall():
            flipped = value[:-1] + bytes([value[-1] ^ 1])
            db.execute("UPDATE units SET value = ? WHERE key = ?", (flipped, key))
    db.close()
    result = run_mpc("build", ACME, "-o", tmp_path / "b", "--no-cache")
    assert result.code == 0
    again = run_mpc("build", ACME, "-o", tmp_path / "c")
    assert again.code == 0 and "from the cache" not in again.out  # every unit was rendered again
    assert tree_of(tmp_path / "b") == tree_of(tmp_path / "c")


# --- the output folder decides nothing --------------------------------------------------------------


def _forge(out: Path, path: str, text: str) -> None:
    """Edit a file and write its new sha256 into the lock, as someone who can write the tree could."""
    (out / path).write_text(text)
    lock = json.loads((out / "mpc.lock").read_text())
    lock["files"][path] = sha256((out / path).read_bytes())
    (out / "mpc.lock").write_text(json.dumps(lock, indent=2) + "\n")


@pytest.mark.parametrize("where", ["same machine", "fresh clone"])
def test_a_forged_lock_never_keeps_a_tampered_file(tmp_path: Path, where: str) -> None:
    out = tmp_path / "out"
    assert run_mpc("build", ACME, "-o", out).code == 0
    clean = tree_of(out)
    deployment = "kustomize/base/auth/deployment.yaml"
    tampered = (out / deployment).read_text().replace("privileged: false", "privileged: true")
    assert tampered != clean[deployment].decode()
    if where == "fresh clone":
        clone = tmp_path / "clone"
        subprocess.run(["cp", "-a", str(out), str(clone)], check=True)
        out = clone
    _forge(out, deployment, tampered)
    check = run_mpc("build", ACME, "-o", out, "--check")
    assert check.code == 1 and deployment in check.err
    assert run_mpc("build", ACME, "-o", out).code == 0
    assert tree_of(out) == clean


def test_an_edit_that_keeps_size_and_mtime_is_still_seen(tmp_path: Path) -> None:
    """What mpc saw of a file (size, mtime, ctime, inode) vouches for it only while all of them hold:
    nobody can set a ctime back."""
    out = tmp_path / "out"
    assert run_mpc("build", ACME, "-o", out).code == 0
    path = out / "kustomize/base/auth/service.yaml"
    text = path.read_text()
    st = path.stat()
    path.write_text(text.replace("auth", "htua", 1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    check = run_mpc("build", ACME, "-o", out, "--check")
    assert check.code == 1 and "kustomize/base/auth/service.yaml" in check.err
    assert run_mpc("build", ACME, "-o", out).code == 0
    assert path.read_text() == text


def _seen_after_a_settled_build(out: Path, monkeypatch: pytest.MonkeyPatch) -> Mapping[str, Any]:
    import mpc.workflow.build as building
    from mpc.build.cache import Cache

    monkeypatch.setattr(building, "SETTLE_MIN", 0)  # the small tree waits for its status to settle too
    assert build(BuildOptions(ACME, out)).summary is not None
    seen = Cache().folder(str(out.resolve()))
    assert seen is not None
    return seen


def test_a_settled_tree_is_proven_current_without_reading_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mpc.build.swap as swap

    out = tmp_path / "out"
    seen = _seen_after_a_settled_build(out, monkeypatch)
    assert set(seen) == set(tree_of(out))  # the lock too
    reads: list[str] = []
    read = swap.read_regular
    monkeypatch.setattr(swap, "read_regular", lambda path: reads.append(path) or read(path))
    again = build(BuildOptions(ACME, out))
    assert again.front is None and reads == []  # proven current before parsing, by status alone


def test_a_settled_file_edited_with_size_and_mtime_kept_is_still_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    seen = _seen_after_a_settled_build(out, monkeypatch)
    relative = "kustomize/base/auth/service.yaml"
    assert relative in seen  # the status alone would vouch for it, while every part of it holds
    path = out / relative
    text = path.read_text()
    st = path.stat()
    path.write_text(text.replace("auth", "htua", 1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    check = run_mpc("build", ACME, "-o", out, "--check")
    assert check.code == 1 and relative in check.err
    assert run_mpc("build", ACME, "-o", out).code == 0
    assert path.read_text() == text


@pytest.mark.slow
def test_concurrent_builds_into_one_folder_end_with_a_whole_current_tree(tmp_path: Path) -> None:
    mesh = write_mesh(tmp_path / "mesh", 40)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "mpc", "build", str(mesh), "-o", str(out), "-q"]
    for round_ in range(3):
        if round_:
            text = mesh.read_text().replace(
                "image: ghcr.io/bench/svc-00010:", f"image: ghcr.io/bench/r{round_}:", 1
            )
            mesh.write_text(text)
        procs = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(20)]
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        fresh = tmp_path / f"fresh{round_}"
        assert run_mpc("build", mesh, "-o", fresh, "--no-cache").code == 0
        assert tree_of(out) == tree_of(fresh)
        assert run_mpc("build", mesh, "-o", out, "--check").code == 0
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mpc-tmp-")]


# --- the digest covers every field of a context ------------------------------------------------------


def _mutations(value: Any) -> Iterator[Any]:
    """Values of the same type that differ from `value` (none for None: its type is not known here)."""
    if isinstance(value, bool):
        yield not value
    elif isinstance(value, (int, float, Decimal)):
        yield value + 1
    elif isinstance(value, str):
        yield value + "x"
    elif isinstance(value, tuple) and value:
        yield value[:-1]
        yield (*value, value[-1])
    elif isinstance(value, Mapping) and value:
        first = next(iter(value))
        yield {k: v for k, v in value.items() if k != first}
    elif isinstance(value, frozenset) and value:
        yield frozenset(list(value)[1:])


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, value) of every field reachable in a frozen model value; a path step is a field name,
    a tuple index or a mapping key. A Location is one value (its line and column must not count, its
    key path must)."""
    if isinstance(value, Location):
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            child = getattr(value, f.name)
            yield (*path, f.name), child
            yield from _paths(child, (*path, f.name))
    elif isinstance(value, tuple):
        for i, child in enumerate(value):
            yield (*path, i), child
            yield from _paths(child, (*path, i))
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield (*path, ("key", key)), child
            yield from _paths(child, (*path, ("key", key)))


def _replace(root: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    step, rest = path[0], path[1:]
    if isinstance(step, str):
        return dataclasses.replace(root, **{step: _replace(getattr(root, step), rest, new)})
    if isinstance(step, int):
        items = list(root)
        items[step] = _replace(items[step], rest, new)
        return tuple(items)
    key = step[1]
    return {k: (_replace(v, rest, new) if k == key else v) for k, v in root.items()}


def _richest(front: Front) -> ServiceContext:
    """The context with the most fields set: its service has a port, callers, routes, env, secrets..."""
    contexts = service_contexts(front.model, front.graph)
    return max(
        contexts.values(), key=lambda c: sum(1 for _, v in _paths(c.service) if v not in (None, (), {}))
    )


@pytest.mark.parametrize("service", ["richest", "auth", "billing-worker", "data"])
def test_every_field_of_a_context_changes_its_digest_and_no_line_number_does(service: str) -> None:
    front = front_file(ACME, "mesh.yaml")
    digests = ContextDigests(front.model)
    contexts = service_contexts(front.model, front.graph)
    context = _richest(front) if service == "richest" else contexts[service]
    base = digests.of(context)
    tried = 0
    for field in ("service", "wave", "calls", "callers", "routes"):
        for path, value in [((field,), getattr(context, field)), *_paths(getattr(context, field), (field,))]:
            if isinstance(value, Location):
                moved = dataclasses.replace(value, line=value.line + 7, col=value.col + 1)
                assert digests.of(_replace(context, path, moved)) == base, f"{path}: a line counted"
                renamed = dataclasses.replace(value, path=value.path + ".x")
                assert digests.of(_replace(context, path, renamed)) != base, f"{path}: the key path did not"
                tried += 1
                continue
            for other in _mutations(value):
                changed = _replace(context, path, other)
                assert digests.of(changed) != base, f"{service}: {'.'.join(map(str, path))} is not digested"
                tried += 1
    assert tried > 40


def test_every_mesh_setting_changes_every_digest() -> None:
    front = front_file(ACME, "mesh.yaml")
    context = service_contexts(front.model, front.graph)["auth"]
    base = ContextDigests(front.model).of(context)
    assert len(SETTINGS) >= 18
    for name in SETTINGS:
        value = getattr(front.model, name)
        candidates = list(_mutations(value)) or [None]
        for other in candidates:
            if other is None and value is None:
                continue
            model = dataclasses.replace(front.model, **{name: other})
            assert ContextDigests(model).of(dataclasses.replace(context, mesh=model)) != base, name


# One edit per field of a service in mesh.yaml: a new field of the spec fails the test below until it
# is added here, and with it the question whether it reaches the digest.
SPEC_EDITS: dict[str, str] = {
    "image": "image: ghcr.io/shop/api:1.0.1",
    "port": "port: 8081",
    "protocol": "protocol: grpc",
    "archetype": "archetype: stateful\n    storage: 1Gi",
    "depends_on": "dependsOn: [db]",
    "replicas": "replicas: 3",
    "resources": "resources: {cpu: 300m}",
    "autoscale": "autoscale: {min: 2, max: 4, cpu: 70}",
    "health": "health: {path: /ready}",
    "env": "env: {A: b}",
    "secrets": "secrets: {DB_PASSWORD: {secret: db, key: password}}",
    "oauth2_client": "oauth2Client: {grantTypes: [client_credentials]}",
    "storage": "archetype: stateful\n    storage: 2Gi",
    "clustering": "clustering: dns",
    "owners": "owners: ['@shop/api']",
    "environments": "environments: [prod]",
    "timeout": "timeout: 7s",
    "retries": "retries: 1",
    "target_port": "targetPort: 9090",
    "ports": "ports: [{name: http, port: 8080, targetPort: 8081}]",
    "command": "command: [/bin/api]",
    "args": "args: [--verbose]",
    "annotations": "annotations: {example.com/team: shop}",
    "termination_grace_period": "terminationGracePeriod: 9s",
    "volumes": "volumes: [{name: scratch, mountPath: /scratch, emptyDir: {}}]",
    "versions": "versions: {v1: {image: ghcr.io/shop/api:1.0.0}, v2: {image: ghcr.io/shop/api:2.0.0}}",
    "extensions": "",
}


def _variant(edit: str) -> str:
    """The minimal mesh with service `api` edited (an edit of `image` or `port` replaces that line)."""
    lines = {"image": "image: ghcr.io/shop/api:1.0.0", "port": "port: 8080"}
    key = edit.split(":", 1)[0]
    # ports replaces port, versions replaces image (each pair excludes the other)
    lines.pop({"ports": "port", "versions": "image"}.get(key, ""), None)
    if key in lines:
        lines[key] = edit
    elif edit:
        lines["edit"] = edit
    body = "".join(f"    {line}\n" for line in lines.values())
    text = MINIMAL_MESH.replace("  api: {image: ghcr.io/shop/api:1.0.0, port: 8080}\n", f"  api:\n{body}")
    text += "  db: {image: ghcr.io/shop/db:1.0.0, port: 5432, protocol: tcp}\n"
    text += "environments: {dev: {}, prod: {}}\n"
    if "oauth2Client" in edit:
        text += "auth:\n  provider: {kind: keycloak, url: 'https://id.shop.dev', realm: shop}\n"
    return text


def _own_output(front: Front, name: str) -> list[Any]:
    """What the service backends render for one service from its context alone."""
    from mpc.render.api import ServiceBackend
    from mpc.render.plugins import Installed

    context = service_contexts(front.model, front.graph)[name]
    out: list[Any] = []
    for _, backend in Installed().select():
        if isinstance(backend, ServiceBackend):
            out.extend(backend.render_service(context))
    return out


def test_every_field_of_a_service_in_mesh_yaml_reaches_its_digest() -> None:
    """Each field of a service, edited: when the service's own output changes, so does its context's
    digest (otherwise a rebuild would take stale output from the cache)."""
    from mpc.lang import spec

    fields = set(spec.Service.model_fields)
    assert fields == set(SPEC_EDITS), f"add an edit for {sorted(fields ^ set(SPEC_EDITS))}"
    base = front_text(_variant(""))
    base_digest, base_output = _digests(base)["api"], _own_output(base, "api")
    for name, edit in SPEC_EDITS.items():
        if not edit:
            continue  # extensions: blocks for installed plugins, exercised in tests/test_plugins.py
        front = front_text(_variant(edit))
        if _own_output(front, "api") != base_output:
            assert _digests(front)["api"] != base_digest, (
                f"services.api.{name} changes output, not the digest"
            )
        else:
            assert name == "owners", f"the edit of {name} changes nothing: pick an edit that does"


def test_a_status_vouches_only_when_it_is_old_enough_and_finer_than_a_second() -> None:
    from types import SimpleNamespace

    from mpc.build.swap import _can_vouch

    def status(ctime_ns: int) -> os.stat_result:
        return SimpleNamespace(st_ctime_ns=ctime_ns)  # type: ignore[return-value]

    now = 1_800_000_000_123_456_789
    assert _can_vouch(status(now - 500_000_000), now - 100_000_000)
    assert not _can_vouch(status(now - 50_000_000), now - 100_000_000)  # too recent
    assert not _can_vouch(status(1_700_000_000_000_000_000), now)  # whole seconds: a coarse file system
