"""Incremental rebuilds leave exactly the tree a full build writes (mpc.build.incremental, node hashes)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, run_mpc, tree_of

sys.path.insert(0, str(ROOT / "benchmarks"))
from gen import changed_service, write_mesh

from mpc.render.api import Artifact

SERVICES = 40


def _build(mesh: Path, out: Path, *extra: str) -> str:
    result = run_mpc("build", mesh, "-o", out, *extra)
    assert result.code == 0, result.err
    return result.out


def _nodes(out: Path) -> dict[str, str]:
    nodes = json.loads((out / "mpc.lock").read_text("utf-8"))["nodes"]
    assert isinstance(nodes, dict)
    return nodes


@pytest.mark.slow
def test_one_service_change_rebuilds_to_the_full_build_tree(tmp_path: Path) -> None:
    mesh = write_mesh(tmp_path / "mesh", SERVICES)
    incremental = tmp_path / "incremental"
    _build(mesh, incremental)
    before = tree_of(incremental)
    nodes_before = _nodes(incremental)

    write_mesh(tmp_path / "mesh", SERVICES, variant=1)  # one service's image tag
    summary = _build(mesh, incremental)
    fresh = tmp_path / "fresh"
    _build(mesh, fresh)

    after = tree_of(incremental)
    assert after == tree_of(fresh), "the rebuilt tree differs from a full build of the same mesh"
    changed = sorted(p for p in after if before.get(p) != after[p])
    assert "mpc.lock" in changed and len(changed) > 1
    # Only what derives from the changed service moved: its node and mesh-wide files (image lists).
    moved = {n for n in _nodes(incremental) if nodes_before.get(n) != _nodes(incremental)[n]}
    assert f"service:{changed_service(SERVICES)}" in moved
    assert not any(n.startswith("service:") and n != f"service:{changed_service(SERVICES)}" for n in moved)
    assert f"{len(changed) - 1} changed" in summary  # the lock is not counted among the output files


@pytest.mark.slow
def test_no_change_rebuild_and_check_keep_the_tree(tmp_path: Path) -> None:
    mesh = write_mesh(tmp_path / "mesh", SERVICES)
    out = tmp_path / "out"
    _build(mesh, out)
    first = tree_of(out)
    summary = _build(mesh, out)
    assert "0 written, 0 changed" in summary and "0 pruned" in summary
    assert tree_of(out) == first
    assert "up to date" in _build(mesh, out, "--check")


@pytest.mark.slow
@pytest.mark.parametrize("where", ["first-half", "second-half-forked"])
def test_a_file_edited_on_disk_is_restored_and_reported(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock vouches for the tree only while every file still has its recorded hash; also when a
    forked child checks the second half of the files (as on a large tree)."""
    if where.endswith("forked"):
        if not hasattr(os, "fork"):
            pytest.skip("no fork on this platform")
        from mpc.build import memo
        from mpc.build import parallel as forked

        monkeypatch.setattr(memo, "CHECK_PARALLEL_MIN", 0)
        monkeypatch.setattr(forked, "can_fork", lambda: True)
    mesh = write_mesh(tmp_path / "mesh", SERVICES)
    out = tmp_path / "out"
    _build(mesh, out)
    first = tree_of(out)
    owned = sorted(json.loads((out / "mpc.lock").read_text("utf-8"))["files"])
    half = owned[: len(owned) // 2] if where == "first-half" else owned[len(owned) // 2 :]
    victim = next(p for p in half if p.startswith("kustomize/") and p.endswith(".yaml"))
    (out / victim).write_text("edited by hand\n")

    check = run_mpc("build", mesh, "-o", out, "--check")
    assert check.code == 1 and victim in check.err
    _build(mesh, out)
    assert tree_of(out) == first

    (out / victim).unlink()
    _build(mesh, out)
    assert tree_of(out) == first


@pytest.mark.slow
def test_a_different_backend_selection_is_a_new_build(tmp_path: Path) -> None:
    mesh = write_mesh(tmp_path / "mesh", 5)
    out = tmp_path / "out"
    _build(mesh, out, "--backend", "kustomize")
    only = tree_of(out)
    assert all(p.startswith("kustomize/") or p == "mpc.lock" for p in only)
    _build(mesh, out)
    fresh = tmp_path / "fresh"
    _build(mesh, fresh)
    assert tree_of(out) == tree_of(fresh)


@pytest.mark.slow
def test_random_one_service_edits_rebuild_to_the_full_build_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many random one-service edits, each rebuilt over the previous tree, equal a fresh full build.

    Large enough that serialisation runs in two processes (mpc.build.emit.PARALLEL_MIN), in-process for speed.
    """
    import random
    import re

    from mpc.build import emit
    from mpc.build import parallel as forked
    from mpc.workflow.build import BuildOptions, build

    monkeypatch.setattr(forked, "can_fork", lambda: hasattr(os, "fork"))
    mesh = write_mesh(tmp_path / "mesh", 200)
    text = mesh.read_text("utf-8")
    images = list(re.finditer(r"(?m)^(\s+image: \S+?:)(\S+)$", text))
    assert len(images) >= 100
    incremental = tmp_path / "incremental"
    build(BuildOptions(mesh, incremental))
    assert len(tree_of(incremental)) >= emit.PARALLEL_MIN
    rng = random.Random(9)
    for edit in range(6):
        match = rng.choice(images)
        text = text[: match.start(2)] + f"{match.group(2)}-e{edit}" + text[match.end(2) :]
        images = list(re.finditer(r"(?m)^(\s+image: \S+?:)(\S+)$", text))
        mesh.write_text(text, encoding="utf-8")
        before = tree_of(incremental)
        result = build(BuildOptions(mesh, incremental))
        fresh = tmp_path / f"fresh{edit}"
        build(BuildOptions(mesh, fresh))
        after = tree_of(incremental)
        assert after == tree_of(fresh), f"edit {edit}: the rebuilt tree differs from a full build"
        changed = {p for p in after if before.get(p) != after[p]} - {"mpc.lock"}
        assert result.summary is not None and set(result.summary.changed) == changed
        assert 0 < len(changed) < 20  # one service's files (and mesh-wide lists), not the tree


_EDITS = (
    (r"(?m)^(\s+image: \S+?:)(\S+)$", lambda m, n: f"{m.group(1)}{m.group(2)}-m{n}"),
    (r"(?m)^(\s+port: )8080$", lambda m, n: f"{m.group(1)}8081"),
    (r"(?m)^\s+dependsOn: \[[^\]]*\]\n", lambda m, n: ""),
    (r"(?m)^(\s+health: \{path: )/healthz\}$", lambda m, n: f"{m.group(1)}/ready{n}}}"),
    (r"(?m)^(\s+LOG_LEVEL: )info$", lambda m, n: f"{m.group(1)}debug"),
    # Fields a service's neighbours do not read (mpc.build.fingerprint.NEIGHBOUR), see _SIZED.
    (r"(?m)^(\s+replicas: )2$", lambda m, n: f"{m.group(1)}3"),
    (r"(?m)^(\s+timeout: )5s$", lambda m, n: f"{m.group(1)}{n}s"),
    (r"(?m)^(\s+retries: )2$", lambda m, n: f"{m.group(1)}1"),
    (r"(?m)^(\s+resources: \{cpu: )(\d+)m", lambda m, n: f"{m.group(1)}{int(m.group(2)) + 50}m"),
    (r"(?m)^(\s+owners: \[)", lambda m, n: f"{m.group(1)}team-{n}, "),
    # Routes: a public one made to require a token, a token dropped from another.
    (r"(?m)^(\s+- \{prefix: /[\w-]+, service: [\w-]+)\}$", lambda m, n: f"{m.group(1)}, auth: bench-id}}"),
    (r"(?m)^(\s+- \{prefix: /[\w-]+, service: [\w-]+), auth: bench-id\}$", lambda m, n: f"{m.group(1)}}}"),
)
# Written into every third service of the generated mesh, for _EDITS to change.
_SIZED = ("replicas: 2", "timeout: 5s", "retries: 2")


def _sized(text: str) -> str:
    lines = iter(text.splitlines(keepends=True))
    out: list[str] = []
    count = 0
    for line in lines:
        out.append(line)
        if line.startswith("    image: "):
            count += 1
            if count % 3 == 0:
                out.extend(f"    {field}\n" for field in _SIZED)
    return "".join(out)


@pytest.mark.slow
def test_random_multi_service_edits_rebuild_to_the_full_build_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several random edits at once (images, ports, dependencies, probes, env, sizes, timeouts), each
    round rebuilt over the previous tree with its memo and content keys, equal a fresh full build, lock
    included; only the units of services whose context changed render again."""
    import random
    import re

    from mpc.build import emit
    from mpc.build import parallel as forked
    from mpc.build.fingerprint import Fingerprints
    from mpc.workflow.build import BuildOptions, build
    from mpc.workflow.front import front_file

    def contexts() -> dict[str, str]:
        front = front_file(mesh)
        prints = Fingerprints(front.model, front.graph)
        return {name: prints.service(name) for name in front.model.services}

    serialised: list[str] = []
    serialize = emit.serialize

    def counting(artifact: Artifact, writer: Any = None) -> bytes:
        serialised.append(artifact.path)  # in this process only: odd rounds serialise without a fork
        return serialize(artifact, writer)

    monkeypatch.setattr(emit, "serialize", counting)
    mesh = write_mesh(tmp_path / "mesh", 200)
    mesh.write_text(_sized(mesh.read_text("utf-8")), encoding="utf-8")
    incremental = tmp_path / "incremental"
    build(BuildOptions(mesh, incremental))
    contexts_before = contexts()
    rng = random.Random(19)
    for round_ in range(4):
        text = mesh.read_text("utf-8")
        for n in range(rng.randint(2, 5)):
            pattern, replace = rng.choice(_EDITS)
            matches = list(re.finditer(pattern, text))
            if matches:
                m = rng.choice(matches)
                text = text[: m.start()] + replace(m, f"{round_}{n}") + text[m.end() :]
        mesh.write_text(text, encoding="utf-8")
        before = tree_of(incremental)
        old_contexts, new_contexts = contexts_before, contexts()
        contexts_before = new_contexts
        forking = round_ % 2 == 0 and hasattr(os, "fork")
        monkeypatch.setattr(forked, "can_fork", lambda forking=forking: forking)
        serialised.clear()
        result = build(BuildOptions(mesh, incremental))
        if not forking:
            # Unchanged contents were read back, not serialised again: what was serialised changed
            # (an edit shifts the source lines of every object below it), bar a few text files.
            now = tree_of(incremental)
            same = sorted(p for p in set(serialised) if before.get(p) == now.get(p))
            lock = json.loads((incremental / "mpc.lock").read_text("utf-8"))
            units = [p for p in same if lock["keys"].get(p, "").startswith("u:")]
            moved = {n for n, c in new_contexts.items() if old_contexts.get(n) != c}
            assert units and all(re.search(r"svc-\d{5}", p)[0] in moved for p in units)  # type: ignore[index]
            assert len(same) - len(units) < len(before) // 50, same
        fresh = tmp_path / f"fresh{round_}"
        build(BuildOptions(mesh, fresh))
        after = tree_of(incremental)
        assert after == tree_of(fresh), f"round {round_}: the rebuilt tree differs from a full build"
        changed = {p for p in after if before.get(p) != after[p]} - {"mpc.lock"}
        assert result.summary is not None and set(result.summary.changed) == changed
        assert result.summary.unchanged and len(result.summary.unchanged) > len(changed)
        lock = json.loads((incremental / "mpc.lock").read_text("utf-8"))
        assert set(lock["keys"]) <= set(lock["files"]) and len(lock["keys"]) > len(lock["files"]) // 2
