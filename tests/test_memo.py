"""The render memo (mpc.build.memo): a rebuild takes the units whose inputs are unchanged from the previous tree,
renders the rest, and leaves exactly the tree a full build writes, mpc.lock included."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, run_mpc, tree_of

sys.path.insert(0, str(ROOT / "benchmarks"))
from gen import changed_service, write_mesh

from mpc.build import memo
from mpc.render.api import Artifact, Pieces, Stored
from mpc.workflow.build import BuildOptions, build

LOCK = "mpc.lock"


def _differing(a: Mapping[str, bytes], b: Mapping[str, bytes]) -> list[str]:
    return sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))


def _full_build(mesh: Path, out: Path) -> dict[str, bytes]:
    """The tree a full build of `mesh` writes into an empty folder."""
    assert not out.exists()
    build(BuildOptions(mesh, out))
    return tree_of(out)


def _lock(out: Path) -> dict[str, Any]:
    found = json.loads((out / LOCK).read_text("utf-8"))
    assert isinstance(found, dict)
    return found


def _write_lock(out: Path, lock: Mapping[str, Any]) -> None:
    (out / LOCK).write_text(json.dumps(lock, indent=2) + "\n", encoding="utf-8")


@dataclass
class Spy:
    """Every Memo a build creates, and (unit, service, scope) of each unit it rendered."""

    memos: list[memo.Memo] = field(default_factory=list)
    rendered: list[tuple[str, str, str]] = field(default_factory=list)

    def build(self, mesh: Path, out: Path) -> memo.Memo:
        """Build in-process; the build's Memo (one per build)."""
        known = len(self.memos)
        self.rendered.clear()
        build(BuildOptions(mesh, out))
        assert len(self.memos) == known + 1
        return self.memos[-1]

    def services(self) -> set[str]:
        return {service for _, service, _ in self.rendered}


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    found = Spy()
    init = memo.Memo.__init__

    def recording_init(self: memo.Memo, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        found.memos.append(self)

    monkeypatch.setattr(memo.Memo, "__init__", recording_init)
    for method in ("files", "documents"):
        original = getattr(memo.Memo, method)

        def recording(
            self: memo.Memo,
            unit: str,
            service: str,
            scope: str,
            make: Callable[[], Any],
            wave: bool = True,
            _original: Callable[..., Any] = original,
        ) -> Any:
            before = self.rendered
            result = _original(self, unit, service, scope, make, wave)
            if self.rendered > before:
                found.rendered.append((unit, service, scope))
            return result

        monkeypatch.setattr(memo.Memo, method, recording)
    return found


# --- 1. issuers declared below the services --------------------------------------------------------------

ISSUERS_BELOW = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata: {name: shop}
gateway:
  name: edge
  port: 4000
  routes:
    - {prefix: /api, service: api, auth: shop-id}
    - {prefix: /orders, service: orders}
services:
  api:
    image: ghcr.io/shop/api:1.0.0
    port: 8080
  orders:
    image: ghcr.io/shop/orders:1.0.0
    port: 8080
    dependsOn: [api]
  billing:
    archetype: worker
    image: ghcr.io/shop/billing:1.0.0
    dependsOn: [orders]
auth:
  issuers:
    shop-id:
      issuer: https://id.shop.dev/realms/shop
      jwksUri: https://id.shop.dev/realms/shop/certs
      audiences: [shop-api]
environments:
  staging: {replicas: 1}
  prod: {replicas: 2}
observability:
  metrics: {provider: prometheus}
"""

# Each edit adds or removes lines inside a service below `api`: `api`'s own lines stay where they are,
# the issuer's move.
ISSUER_EDITS = (
    ("    dependsOn: [api]\n", "    dependsOn: [api]\n    env: {LOG_LEVEL: debug}\n"),
    ("    dependsOn: [orders]\n", "    dependsOn: [orders]\n    replicas: 3\n"),
    ("    env: {LOG_LEVEL: debug}\n", ""),
    ("  orders:\n", "  orders:\n    owners: ['@shop/orders']\n    resources: {cpu: 200m, memory: 256Mi}\n"),
)


def _request_authentication_sources(out: Path) -> dict[str, str]:
    """environment -> the source annotation of api's RequestAuthentication."""
    found = {}
    for env in ("staging", "prod"):
        docs = yaml.safe_load_all((out / f"istio/{env}/services/api.yaml").read_text("utf-8"))
        (auth,) = [d for d in docs if d and d["kind"] == "RequestAuthentication"]
        found[env] = auth["metadata"]["annotations"]["masterproxy.dev/source"]
    return found


def test_issuers_below_the_services_follow_a_line_added_to_a_service(tmp_path: Path, spy: Spy) -> None:
    """`auth:` after `services:`: a line added to (or removed from) a service moves the issuer, which a
    routed service's RequestAuthentication points at while that service's own lines stay put. Each
    incremental rebuild equals a fresh full build byte for byte, lock included, and the
    RequestAuthentication names the issuer's new line."""
    mesh = tmp_path / "mesh.yaml"
    text = ISSUERS_BELOW
    mesh.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    spy.build(mesh, out)
    for n, (old, new) in enumerate(ISSUER_EDITS):
        assert old in text
        text = text.replace(old, new, 1)
        mesh.write_text(text, encoding="utf-8")
        used = spy.build(mesh, out)
        assert used.previous is not None, "the memo was not offered the previous tree"
        fresh = _full_build(mesh, tmp_path / f"fresh{n}")
        differing = _differing(tree_of(out), fresh)
        assert not differing, f"edit {n}: the rebuilt tree differs from a full build in {differing}"
        issuer_line = text.splitlines().index("    shop-id:") + 1
        assert set(_request_authentication_sources(out).values()) == {f"mesh.yaml:{issuer_line}"}


# --- 2. files of reused units edited on disk ------------------------------------------------------------

HAND_SERVICES = 12
VICTIM = "svc-00003"  # a service the one-service edit (changed_service) leaves alone
NETWORK_POLICIES = "kustomize/overlays/{}/app/network-policies.yaml"


def _replace_once(old: bytes, new: bytes) -> Callable[[Path, Path], None]:
    def edit(path: Path, _: Path) -> None:
        data = path.read_bytes()
        assert old in data
        path.write_bytes(data.replace(old, new, 1))

    return edit


def _delete(path: Path, _: Path) -> None:
    path.unlink()


def _symlink_outside(path: Path, elsewhere: Path) -> None:
    """The same bytes, but through a symlink to a file outside the tree."""
    elsewhere.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(elsewhere)


HAND_EDITS: dict[str, tuple[str, Callable[[Path, Path], None]]] = {
    "base-file-edited": (
        f"kustomize/base/{VICTIM}/deployment.yaml",
        _replace_once(f"ghcr.io/bench/{VICTIM}:".encode(), f"ghcr.io/bench/{VICTIM}:hotfix-".encode()),
    ),
    "base-file-deleted": (f"kustomize/base/{VICTIM}/deployment.yaml", _delete),
    "base-file-symlinked": (f"kustomize/base/{VICTIM}/deployment.yaml", _symlink_outside),
    "istio-file-edited": (
        f"istio/prod/services/{VICTIM}.yaml",
        _replace_once(b"action: ALLOW", b"action: DENY"),
    ),
    # The staging overlay's file is the only copy of the staging slices.
    "policy-slice-edited-staging": (
        NETWORK_POLICIES.format("staging/do-ams"),
        _replace_once(f"name: {VICTIM}\n".encode(), f"name: {VICTIM}-x\n".encode()),
    ),
    # Both prod overlays hold the prod slices; this is the second copy.
    "policy-slice-edited-prod-gke": (
        NETWORK_POLICIES.format("prod/gke-prod"),
        _replace_once(b"port: 8080", b"port: 8081"),
    ),
    "pod-monitor-slice-edited": (
        "kustomize/overlays/prod/do-ams/app/monitoring.yaml",
        _replace_once(b"interval: 30s", b"interval: 5s"),
    ),
}


def _forked_checks(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """Check the previous tree in a forked child whatever its size; what each check vouched for."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    monkeypatch.setattr(memo, "CHECK_PARALLEL_MIN", 0)
    monkeypatch.setattr("mpc.build.parallel.can_fork", lambda: True)
    found: list[set[str]] = []
    verified = memo.Checking.verified

    def recording(self: memo.Checking) -> set[str]:
        found.append(verified(self))
        return found[-1]

    monkeypatch.setattr(memo.Checking, "verified", recording)
    return found


@pytest.mark.parametrize("checked", ["here", "forked"])
@pytest.mark.parametrize("case", sorted(HAND_EDITS))
def test_a_hand_edited_file_of_a_reused_unit_is_restored(
    case: str, checked: str, tmp_path: Path, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A unit's bytes on disk are taken only when they still have the sha256 the lock records: a file (or
    a slice of a shared file) edited, deleted or replaced by a symlink is rendered again by the next
    rebuild, after an unrelated one-service edit, and the tree equals a full build's; also when a forked
    child checks the files while the mesh is parsed."""
    checks = _forked_checks(monkeypatch) if checked == "forked" else []
    assert changed_service(HAND_SERVICES) != VICTIM
    path, edit = HAND_EDITS[case]
    mesh = write_mesh(tmp_path / "mesh", HAND_SERVICES)
    out = tmp_path / "out"
    spy.build(mesh, out)
    before = (out / path).read_bytes()
    elsewhere = tmp_path / "elsewhere.yaml"
    edit(out / path, elsewhere)
    assert not (out / path).exists() or (out / path).is_symlink() or (out / path).read_bytes() != before

    write_mesh(tmp_path / "mesh", HAND_SERVICES, variant=1)
    used = spy.build(mesh, out)
    assert used.previous is not None and used.reused > 0, "the memo was not used at all"
    fresh = _full_build(mesh, tmp_path / "fresh")
    differing = _differing(tree_of(out), fresh)
    assert not differing, f"the rebuilt tree differs from a full build in {differing}"
    assert not (out / path).is_symlink()
    if elsewhere.exists():
        assert elsewhere.read_bytes() == before, "the rebuild wrote through the symlink"
    if checked == "forked":
        assert checks and checks[-1], "the forked check vouched for nothing"
        assert path not in checks[-1], "the forked check vouched for the edited file"


def test_a_failed_forked_check_falls_back_to_reading(
    tmp_path: Path, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child that fails (here: every check raises) vouches for nothing: this process reads and checks
    the files itself, and the rebuild equals a full build."""
    checks = _forked_checks(monkeypatch)

    def broken(root: str, recorded: object) -> bytes:
        raise OSError("the disk went away")

    monkeypatch.setattr("mpc.build.emit.matching", broken)  # only the child checks with it
    mesh = write_mesh(tmp_path / "mesh", HAND_SERVICES)
    out = tmp_path / "out"
    spy.build(mesh, out)
    write_mesh(tmp_path / "mesh", HAND_SERVICES, variant=1)
    used = spy.build(mesh, out)
    assert checks == [set()] and used.reused > 0
    differing = _differing(tree_of(out), _full_build(mesh, tmp_path / "fresh"))
    assert not differing, f"the rebuilt tree differs from a full build in {differing}"


# --- 3. a one-service edit renders a handful of units ---------------------------------------------------

SERVICES = 40


def test_an_image_change_renders_only_the_changed_services_units(tmp_path: Path, spy: Spy) -> None:
    """An image is read by its own service only (mpc.build.fingerprint.NEIGHBOUR): a rebuild renders exactly
    that service's units, the others are reused, and the tree equals a full build's."""
    mesh = write_mesh(tmp_path / "mesh", SERVICES)
    out = tmp_path / "out"
    first = spy.build(mesh, out)
    assert first.reused == 0
    total = first.rendered
    per_service = [r for r in spy.rendered if r[1] == changed_service(SERVICES)]
    assert total >= 5 * SERVICES and per_service

    write_mesh(tmp_path / "mesh", SERVICES, variant=1)
    used = spy.build(mesh, out)
    assert spy.services() == {changed_service(SERVICES)}
    assert sorted(spy.rendered) == sorted(per_service)
    assert used.rendered == len(per_service) and used.rendered * 10 < total
    assert used.reused == total - used.rendered
    differing = _differing(tree_of(out), _full_build(mesh, tmp_path / "fresh"))
    assert not differing, f"the rebuilt tree differs from a full build in {differing}"


def test_a_port_change_renders_the_service_and_its_neighbours_only(tmp_path: Path, spy: Spy) -> None:
    """A port is read by the services that call it and that it calls: a rebuild renders the units of
    those and of the service itself, no others, and the tree equals a full build's."""
    from mpc.workflow.front import front_file

    mesh = write_mesh(tmp_path / "mesh", SERVICES)
    name = changed_service(SERVICES)
    model = front_file(mesh).model
    target = model.services[name]
    callers = {s.name for s in model.services.values() if name in s.depends_on}
    neighbours = {*callers, *(d for d in target.depends_on if d in model.services)}
    assert target.port == 8080 and callers
    out = tmp_path / "out"
    total = spy.build(mesh, out).rendered
    units = Counter(service for _, service, _ in spy.rendered)

    text = mesh.read_text("utf-8")
    block = re.search(rf"(?ms)^  {name}:\n.*?(?=^  \S)", text)
    assert block is not None and "    port: 8080\n" in block[0]
    mesh.write_text(text.replace(block[0], block[0].replace("    port: 8080\n", "    port: 8081\n")))
    used = spy.build(mesh, out)
    assert name in spy.services() and spy.services() <= {name, *neighbours}
    assert spy.services() & callers, "a caller's egress names the port: its units must render again"
    assert used.rendered == sum(units[s] for s in spy.services()) < total // 5
    assert used.reused == total - used.rendered
    differing = _differing(tree_of(out), _full_build(mesh, tmp_path / "fresh"))
    assert not differing, f"the rebuilt tree differs from a full build in {differing}"


ROUTE_EDITS = {
    "token-required": (r"(?m)^(    - \{prefix: /[\w-]+, service: ([\w-]+))\}$", r"\1, auth: bench-id}"),
    "token-dropped": (r"(?m)^(    - \{prefix: /[\w-]+, service: ([\w-]+)), auth: bench-id\}$", r"\1}"),
}


@pytest.mark.parametrize("case", sorted(ROUTE_EDITS))
def test_a_route_edit_renders_the_routed_service_only(case: str, tmp_path: Path, spy: Spy) -> None:
    """A route is read by the service it names (its policy, its RequestAuthentication) and by the files
    of the whole mesh (the proxy's bootstrap): a rebuild renders that service's units only, and the tree
    equals a full build's."""
    mesh = write_mesh(tmp_path / "mesh", SERVICES)
    out = tmp_path / "out"
    total = spy.build(mesh, out).rendered
    pattern, replacement = ROUTE_EDITS[case]
    text = mesh.read_text("utf-8")
    match = re.search(pattern, text)
    assert match is not None, f"the generated mesh has no route to edit for {case}"
    mesh.write_text(text[: match.start()] + match.expand(replacement) + text[match.end() :], "utf-8")
    used = spy.build(mesh, out)
    assert spy.services() == {match[2]}
    assert used.reused == total - used.rendered > 0
    differing = _differing(tree_of(out), _full_build(mesh, tmp_path / "fresh"))
    assert not differing, f"the rebuilt tree differs from a full build in {differing}"


# --- 4. a lock this code did not write -------------------------------------------------------------------


def _lock_older_than_mpc(out: Path) -> None:
    newest = max(p.stat().st_mtime_ns for p in (ROOT / "mpc").rglob("*.py"))
    stamp = newest - 1_000_000_000
    os.utime(out / LOCK, ns=(stamp, stamp))


def _lock_of_another_version(out: Path) -> None:
    lock = _lock(out)
    lock["mpcVersion"] = "0.0.0+elsewhere"
    _write_lock(out, lock)


@pytest.mark.parametrize(
    "age", [_lock_older_than_mpc, _lock_of_another_version], ids=["older-than-code", "other-version"]
)
def test_a_lock_this_code_did_not_write_renders_everything(
    age: Callable[[Path], None], tmp_path: Path, spy: Spy
) -> None:
    """A memo key names a unit's inputs, not the code that renders it: when the lock is older than mpc's
    code, or written by another mpc version, no unit is taken from the previous tree."""
    mesh = write_mesh(tmp_path / "mesh", HAND_SERVICES)
    out = tmp_path / "out"
    total = spy.build(mesh, out).rendered
    write_mesh(tmp_path / "mesh", HAND_SERVICES, variant=1)
    age(out)
    used = spy.build(mesh, out)
    assert used.previous is None and used.reused == 0 and used.rendered == total
    differing = _differing(tree_of(out), _full_build(mesh, tmp_path / "fresh"))
    assert not differing, f"the rebuilt tree differs from a full build in {differing}"


# --- 5. a malformed lock ---------------------------------------------------------------------------------

POLICIES = NETWORK_POLICIES.format("staging/do-ams")
DEPLOYMENT = f"kustomize/base/{VICTIM}/deployment.yaml"


def _part(lock: dict[str, Any], index: int) -> tuple[int, str]:
    length, _, key = lock["parts"][POLICIES][index].partition(" ")
    assert key.startswith("u:")
    return int(length), key


def _parts_not_numbers(lock: dict[str, Any]) -> None:
    lock["parts"][POLICIES] = [None, 3, "many u:abc", ["1", "u:abc"]]


def _parts_not_a_mapping(lock: dict[str, Any]) -> None:
    lock["parts"] = sorted(lock["parts"])


def _part_beyond_the_file(lock: dict[str, Any]) -> None:
    length, key = _part(lock, 1)
    lock["parts"][POLICIES][1] = f"{length + 1_000_000} {key}"


def _part_negative(lock: dict[str, Any]) -> None:
    _, key = _part(lock, 1)
    lock["parts"][POLICIES][1] = f"-5 {key}"


def _part_shorter_than_its_slice(lock: dict[str, Any]) -> None:
    length, key = _part(lock, 1)
    lock["parts"][POLICIES][1] = f"{length - 7} {key}"


def _part_missing(lock: dict[str, Any]) -> None:
    del lock["parts"][POLICIES][1]


def _keys_not_strings(lock: dict[str, Any]) -> None:
    for path in [p for p in lock["keys"] if p.startswith(f"kustomize/base/{VICTIM}/")]:
        lock["keys"][path] = [12345]


def _key_for_a_path_not_in_the_tree(lock: dict[str, Any]) -> None:
    lock["keys"]["kustomize/base/ghost/deployment.yaml"] = lock["keys"][DEPLOYMENT]


def _key_for_a_path_outside_the_tree(lock: dict[str, Any]) -> None:
    lock["keys"]["../elsewhere.yaml"] = lock["keys"][DEPLOYMENT]


def _unit_file_unlisted(lock: dict[str, Any]) -> None:
    del lock["keys"][DEPLOYMENT]


def _unit_key_on_another_file(lock: dict[str, Any]) -> None:
    lock["keys"]["kustomize/overlays/staging/do-ams/app/namespace.yaml"] = lock["keys"][DEPLOYMENT]


MALFORMED: dict[str, Callable[[dict[str, Any]], None]] = {
    "parts-not-numbers": _parts_not_numbers,
    "parts-not-a-mapping": _parts_not_a_mapping,
    "part-beyond-the-file": _part_beyond_the_file,
    "part-negative-length": _part_negative,
    "part-shorter-than-its-slice": _part_shorter_than_its_slice,
    "part-missing": _part_missing,
    "keys-not-strings": _keys_not_strings,
    "key-for-a-path-not-in-the-tree": _key_for_a_path_not_in_the_tree,
    "key-for-a-path-outside-the-tree": _key_for_a_path_outside_the_tree,
    "unit-file-unlisted": _unit_file_unlisted,
    "unit-key-on-another-file": _unit_key_on_another_file,
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_lock_entry_never_breaks_the_rebuild(case: str, tmp_path: Path, spy: Spy) -> None:
    """The lock's `parts` and `keys` say where a unit's bytes are; an entry that is malformed, or does
    not match the files on disk, must cost at most a render: the rebuild (after a one-service edit)
    succeeds and equals a full build, lock included."""
    mesh = write_mesh(tmp_path / "mesh", HAND_SERVICES)
    out = tmp_path / "out"
    spy.build(mesh, out)
    (tmp_path / "elsewhere.yaml").write_bytes((out / DEPLOYMENT).read_bytes())
    lock = _lock(out)
    MALFORMED[case](lock)
    _write_lock(out, lock)

    write_mesh(tmp_path / "mesh", HAND_SERVICES, variant=1)
    used = spy.build(mesh, out)
    assert used.previous is not None
    differing = _differing(tree_of(out), _full_build(mesh, tmp_path / "fresh"))
    assert not differing, f"the rebuilt tree differs from a full build in {differing}"


# --- 6. --validate over a tree the memo could serve ------------------------------------------------------


@pytest.mark.slow
def test_validate_renders_every_unit_for_the_validators(
    tmp_path: Path, spy: Spy, kubectl: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`mpc build --validate` over a previously built tree renders every unit: the validators get plain
    documents, never bytes read back or assembled pieces; the tree equals a full build's, and its lock
    serves the memo of the next rebuild."""
    seen: list[Artifact] = []
    plain = memo.plain

    def recording(art: Artifact) -> Artifact:
        made = plain(art)
        seen.append(made)
        return made

    monkeypatch.setattr(memo, "plain", recording)
    mesh = write_mesh(tmp_path / "mesh", 6)
    out = tmp_path / "out"
    spy.build(mesh, out)
    write_mesh(tmp_path / "mesh", 6, variant=1)

    result = run_mpc("build", mesh, "-o", out, "--validate")
    assert result.code == 0, result.err
    used = spy.memos[-1]
    assert used.previous is None and used.reused == 0
    assert seen and not [a.path for a in seen if isinstance(a.content, (Stored, Pieces))]
    differing = _differing(tree_of(out), _full_build(mesh, tmp_path / "fresh"))
    assert not differing, f"the validated tree differs from a full build in {differing}"

    write_mesh(tmp_path / "mesh", 6, variant=2)
    used = spy.build(mesh, out)
    assert used.previous is not None and used.reused > used.rendered > 0
    shutil.rmtree(tmp_path / "fresh")
    differing = _differing(tree_of(out), _full_build(mesh, tmp_path / "fresh"))
    assert not differing, f"the rebuild after --validate differs from a full build in {differing}"


def test_the_build_summary_says_how_many_units_were_rendered(tmp_path: Path) -> None:
    """`mpc build` names the units it rendered once the memo is used, and says nothing of units when
    it rendered them all (a first build)."""
    mesh = write_mesh(tmp_path / "mesh", SERVICES)
    out = tmp_path / "out"
    first = run_mpc("build", mesh, "-o", out)
    assert first.code == 0, first.err
    assert "units" not in first.out
    write_mesh(tmp_path / "mesh", SERVICES, variant=1)
    again = run_mpc("build", mesh, "-o", out)
    assert again.code == 0, again.err
    found = re.search(r"\(rendered (\d+) of (\d+) units, the rest unchanged\)$", again.out.strip())
    assert found is not None, again.out
    assert 0 < int(found[1]) * 10 < int(found[2])
