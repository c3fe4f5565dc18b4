"""Hostile input (issue 17): each case as the issue states it, with the outcome mpc promises.

Bad input is a located error and exit 2, never exit 3 and never a file written that its target tool
refuses. docs/guarantees.md says what is promised and points here. The YAML-level cases are in
tests/test_load.py, the output folder's in tests/test_swap.py, the JWT bypass against a live Envoy in
tests/test_envoy_live.py.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from conftest import run_mpc

from mpc.errors import MAX_REPORTED
from mpc.lang.hosts import NOT_PUBLIC
from mpc.lang.load import MAX_BYTES

LOCATED = re.compile(r"^mesh\.yaml:\d+:\d+: error\[E\d{3}\]: ")

HEAD = """\
apiVersion: masterproxy.dev/v1alpha1
kind: Mesh
metadata: {name: shop}
gateway: {name: edge, port: 4000}
services:
"""


def _validate(tmp_path: Path, text: str) -> tuple[int, list[str], float]:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(text, encoding="utf-8")
    started = time.process_time()
    run = run_mpc("validate", mesh)
    spent = time.process_time() - started
    return run.code, run.err.replace(f"{tmp_path}/", "").splitlines(), spent


def _reported(lines: list[str]) -> list[str]:
    return [line for line in lines if LOCATED.match(line)]


# --- item 10: validation stays linear --------------------------------------------------------------------


def _unknown_keys(errors: int) -> str:
    """One service with `errors` unknown keys, their values padded so the file is just under 8 MiB."""
    head = HEAD + "  api:\n    image: ghcr.io/shop/api:1.0.0\n    port: 8080\n"
    line = len("    junk000000: \n")
    pad = (MAX_BYTES - len(head) - 64) // errors - line
    text = head + "".join(f"    junk{i:06d}: {'x' * pad}\n" for i in range(errors))
    return text + "#" * (MAX_BYTES - len(text) - 1) + "\n"


def _unknown_dependencies(services: int, errors: int) -> str:
    """`services` services whose dependsOn lists name `errors` services that do not exist."""
    per = -(-errors // services)
    lines = [HEAD]
    for s in range(services):
        deps = ", ".join(f"svc-{s * per + k:06d}x" for k in range(per) if s * per + k < errors)
        lines.append(f"  svc-{s:06d}: {{archetype: worker, image: 'r.io/a/b:1.0.0', dependsOn: [{deps}]}}\n")
    return "".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind",
    [
        "unknown keys at the 8 MiB bound",
        "unknown dependsOn names among 40,000 services",
    ],
)
def test_a_hundred_thousand_errors_are_reported_capped_in_seconds(tmp_path: Path, kind: str) -> None:
    errors = 100_000
    if kind.startswith("unknown keys"):
        text = _unknown_keys(errors)
        assert len(text.encode()) == MAX_BYTES
    else:
        # Each name is close to forty thousand others: "did you mean" for all of them took hours.
        text = _unknown_dependencies(40_000, errors)
    code, lines, spent = _validate(tmp_path, text)
    assert code == 2
    assert len(_reported(lines)) == MAX_REPORTED
    assert lines[-2] == f"... and {errors - MAX_REPORTED} more"
    assert lines[-1] == f"mpc: {errors} errors"
    # Seconds of CPU (a busy test machine stretches the wall clock, not this).
    assert spent < 45, f"{spent:.1f} s of CPU"


def test_the_cap_reports_errors_before_warnings_and_counts_each() -> None:
    from mpc.errors import Diagnostic, Location, MpcError, Severity

    warnings = [
        Diagnostic("W303", "w", Location("m", i + 1, 1), severity=Severity.WARNING) for i in range(300)
    ]
    errors = [Diagnostic("E301", "e", Location("m", 1000 + i, 1)) for i in range(250)]
    exc = MpcError([*warnings, *errors])
    assert [d.code for d in exc.diagnostics] == ["E301"] * MAX_REPORTED
    assert (exc.errors, exc.omitted, exc.omitted_errors) == (250, 350, 50)
    assert str(exc).endswith("... and 50 more, and 300 warnings")
    assert str(MpcError(errors[:10] + warnings)).endswith("... and 110 more warnings")


def test_a_valid_meshs_warnings_are_capped_and_counted_per_code(tmp_path: Path) -> None:
    # 300 services with a port that nothing calls: 300 W303 warnings, the mesh still valid.
    services = "".join(f"  svc-{i:03d}: {{image: 'r.io/a/b:1.0.0', port: 8080}}\n" for i in range(300))
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(HEAD + services, encoding="utf-8")
    for args in (("validate", mesh), ("build", mesh, "-o", tmp_path / "out")):
        run = run_mpc(*args)
        assert run.code == 0, run.err
        lines = run.err.splitlines()
        assert len([line for line in lines if "warning[W303]" in line]) == MAX_REPORTED
        assert f"... and {300 - MAX_REPORTED} more warnings (W303 {300 - MAX_REPORTED})" in lines


def test_a_few_errors_are_all_reported_with_hints(tmp_path: Path) -> None:
    text = _unknown_dependencies(3, 3).replace("svc-000001x", "svc-00001")
    code, lines, _ = _validate(tmp_path, text)
    assert code == 2
    assert len(_reported(lines)) == 3
    assert "  hint: did you mean 'svc-000001'?" in lines
    assert lines[-1] == "mpc: 3 errors"


# --- the mesh as the cases write it ----------------------------------------------------------

ACME = (Path(__file__).resolve().parent.parent / "examples" / "acme" / "mesh.yaml").read_text()


def _errors(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    """(code, key path) of every error `mpc validate` reports, located; nothing else is accepted."""
    from mpc.errors import MpcError
    from mpc.workflow.front import front_text

    code, lines, _ = _validate(tmp_path, text)
    assert code == 2, lines
    assert all(LOCATED.match(line) for line in _reported(lines)), lines
    try:
        front_text(text)
    except MpcError as exc:
        return [(d.code, d.location.path) for d in exc.diagnostics if d.severity.value == "error"]
    raise AssertionError("validate failed, the front end did not")


def _acme(old: str, new: str) -> str:
    assert old in ACME, old
    return ACME.replace(old, new)


JWKS = "jwksUri: https://id.acme.dev/realms/acme/protocol/openid-connect/certs"
JWKS_PATH = "auth.issuers.acme-id.jwksUri"


# item 9: secrets the check missed (names and values); each reached a generated file
@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("LOG_LEVEL", "DB_PASS", None),
        ("LOG_LEVEL", "DB_PWD", None),
        ("LOG_LEVEL", "STRIPE_KEY", None),
        ("LOG_LEVEL", "GITHUB_PAT", None),
        ("LOG_LEVEL", "AUTHORIZATION", None),
        (
            "LOG_LEVEL: info",
            'TLS_KEY: "-----BEGIN PRIVATE KEY-----\\nMIIB\\n-----END PRIVATE KEY-----"',
            None,
        ),
        ("LOG_LEVEL: info", "DATABASE_URL: postgres://app:hunter2@db:5432/app", None),
        (JWKS, "jwksUri: https://admin:hunter2@id.acme.dev/certs", JWKS_PATH),
        ("url: https://id.acme.dev", "url: https://admin:hunter2@id.acme.dev", "auth.provider.url"),
        ("repo: https://github.com/", "repo: https://ghp_secret@github.com/", "gitops.repo"),
        ("replicas: 2}}\n", "replicas: 2, password: hunter2}}\n", None),
    ],
)
def test_item_9_secrets_written_as_literals_are_refused(
    tmp_path: Path, old: str, new: str, path: str | None
) -> None:
    text = _acme("    secrets:\n", "    env: {LOG_LEVEL: info}\n    secrets:\n")
    text = text.replace(
        "      modelUri: {type: string, required: true}",
        "      modelUri: {type: string, required: true}\n      password: {type: string}",
    )
    assert old in text, old
    text = text.replace(old, new)
    found = _errors(tmp_path, text)
    assert [c for c, _ in found] == ["E307"], found
    if path is not None:
        assert found[0][1] == path


# item 15: owners reach CODEOWNERS; a two-label JWKS host is one host for the proxy and its policy
def test_item_15_an_owner_cannot_add_codeowners_lines(tmp_path: Path) -> None:
    text = _acme('owners: ["@acme/platform"]', 'owners: ["@acme/platform\\n* @attacker"]')
    assert _errors(tmp_path, text) == [("E204", "metadata.owners[0]")]


def test_item_15_the_proxy_and_its_network_policy_read_a_host_alike() -> None:
    from mpc.workflow.front import front_text, render

    text = _acme(JWKS, "jwksUri: https://idp.example/certs").replace(
        "url: https://id.acme.dev", "url: https://idp.example"
    )
    files = render(front_text(text)).by_path()
    bootstrap = files["envoy/local-api-gateway/prod/bootstrap.yaml"].content
    jwks = next(c for c in bootstrap["static_resources"]["clusters"] if c["name"] == "jwks_acme-id")  # type: ignore[index]
    address = jwks["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"]["address"] == "idp.example"  # dialled as a name on the Internet
    policy = files["kustomize/gateway/prod/networkpolicy.yaml"].content
    rule = next(r for r in policy["spec"]["egress"] if r["ports"] == [{"protocol": "TCP", "port": 443}])  # type: ignore[index]
    assert rule["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0", "except": list(NOT_PUBLIC)}}]
    # The collector, in Kubernetes' short form, is in the cluster for both.
    tracing = next(r for r in policy["spec"]["egress"] if r["ports"] == [{"protocol": "TCP", "port": 4317}])  # type: ignore[index]
    assert tracing["to"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}
    ]


# item 16: bad input that was exit 3 at build time
@pytest.mark.parametrize(
    "uri",
    [
        "https://id.acme.dev:99999/certs",
        "https://id.acme.dev:abc/certs",
        "https://[::1/certs",
        "https://[zz]/certs",
    ],
)
def test_item_16_urls_with_bad_ports_or_ipv6_are_located(tmp_path: Path, uri: str) -> None:
    assert _errors(tmp_path, _acme(JWKS, f'jwksUri: "{uri}"')) == [("E204", JWKS_PATH)]


def test_item_16_nan_in_a_custom_resource_and_a_long_group_are_located(tmp_path: Path) -> None:
    nan = _acme("replicas: {type: integer, minimum: 1}", "replicas: {type: integer, minimum: .nan}")
    assert [c for c, _ in _errors(tmp_path, nan)] == ["E204"]
    group = ".".join(["a" * 63] * 4) + ".dev"
    assert len(group) == 259
    long = _acme("  - group: acme.dev", f"  - group: {group}")
    assert _errors(tmp_path, long) == [("E210", "customResources[0].group")]


# item 19: valid meshes that built into files their tools refuse
@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ('hosts: ["api.acme.dev"]', 'hosts: ["api.acme.dev", "API.acme.dev"]', "gateway.hosts[1]"),
        (
            "rateLimit: {requests: 200, per: 1s}",
            "rateLimit: {requests: 4294967296, per: 1s}",
            "gateway.rateLimit.requests",
        ),
        (
            "rateLimit: {requests: 200, per: 1s}",
            "rateLimit: {requests: 200, per: 0s}",
            "gateway.rateLimit.per",
        ),
        ("timeout: 15s", "timeout: 99999999999999s", "defaults.timeout"),
        (
            "jaeger-collector.observability:4317",
            "jaeger-collector.observability:99999",
            "observability.tracing.endpoint",
        ),
        (JWKS, 'jwksUri: "https://"', JWKS_PATH),
        ("replicas: 2\n  resources", "replicas: 1e20\n  resources", "defaults.replicas"),
        ("replicas: 2\n  resources", "replicas: 100000000000000000000\n  resources", "defaults.replicas"),
        ("image: ghcr.io/acme/auth:1.4.2", "image: ghcr.io/acme/auth:1.0-", "services.auth.image"),
    ],
)
def test_item_19_values_a_target_tool_refuses_are_located(
    tmp_path: Path, old: str, new: str, path: str
) -> None:
    found = _errors(tmp_path, _acme(old, new))
    assert [p for _, p in found] == [path], found


# item 20: the gateway's egress to the Internet excludes the metadata server; plain http JWKS refused
def test_item_20_the_gateway_policy_excludes_link_local_addresses() -> None:
    from mpc.workflow.front import front_text, render

    files = render(front_text(ACME)).by_path()
    policy = files["kustomize/gateway/prod/networkpolicy.yaml"].content
    blocks = [p["ipBlock"] for r in policy["spec"]["egress"] for p in r.get("to", []) if "ipBlock" in p]  # type: ignore[index]
    assert blocks and all("169.254.0.0/16" in b["except"] for b in blocks)


def test_item_20_plain_http_jwks_from_the_internet_is_refused(tmp_path: Path) -> None:
    assert _errors(tmp_path, _acme(JWKS, "jwksUri: http://id.acme.dev/certs")) == [("E320", JWKS_PATH)]
    in_cluster = _acme(JWKS, "jwksUri: http://keycloak.identity.svc:8080/certs")
    assert _validate(tmp_path, in_cluster)[0] == 0


# item 21: an external host is one host
@pytest.mark.parametrize(
    "host", ['"*"', '""', "https://api.stripe.com", '"*.stripe.com"', "stripe", "API.stripe.com"]
)
def test_item_21_external_hosts_are_one_fully_qualified_name(tmp_path: Path, host: str) -> None:
    text = _acme("stripe: {host: api.stripe.com,", f"stripe: {{host: {host},")
    assert _errors(tmp_path, text) == [("E204", "external.stripe.host")]


# item 24: publish writes gitops.path on gitops.branch
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("path: rendered", "path: .git"),
        ("path: rendered", "path: .git/x"),
        ("path: rendered", "path: x/.GIT"),
    ],
)
def test_item_24_the_gitops_path_is_never_gits_own_folder(tmp_path: Path, old: str, new: str) -> None:
    assert _errors(tmp_path, _acme(old, new)) == [("E204", "gitops.path")]


BRANCHES = [
    "main",
    "release/1.2",
    "feature/x-y",
    "HEAD",
    "-f",
    "--force",
    "a..b",
    "a b",
    "x.lock",
    "a/.b",
    "a/",
    "a//b",
    "@",
    "a@{b",
    "a:b",
    "x~1",
    "a^",
    "a?",
    "a*",
    "a[",
    "a\\b",
    ".x",
    "x.",
]


@pytest.mark.parametrize("name", BRANCHES)
def test_item_24_branch_names_are_what_git_accepts(name: str) -> None:
    import subprocess

    from mpc.graph.checks.gitops import branch_problem

    git = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, check=False)
    # `git check-ref-format --branch` accepts HEAD and @ as spellings of the current branch: not names.
    assert (branch_problem(name) is None) == (git.returncode == 0 and name not in ("HEAD", "@")), name


# --- item 11: mpc dev writes where no other user can choose what Envoy loads -----------------------

SEED = Path(__file__).resolve().parent.parent / "examples" / "local-api-gateway" / "mesh.yaml"


def test_item_11_mpc_dev_uses_a_private_unpredictable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stat
    import tempfile

    from mpc.workflow.dev import DevOptions, bootstrap_file, plan

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    # Another user prepared the folder the old name would have been, with a link in it.
    planted = tmp_path / "mpc-dev-local-api-gateway"
    planted.mkdir()
    (tmp_path / "theirs.yaml").write_text("admin: {}\n")
    (planted / "bootstrap.yaml").symlink_to(tmp_path / "theirs.yaml")
    dev = plan(DevOptions(SEED))
    with bootstrap_file(dev) as path:
        assert path.parent != planted and path.parent.parent == tmp_path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert path.read_text() == dev.text and not path.is_symlink()
    assert not path.parent.exists()  # removed once Envoy is done
    assert (tmp_path / "theirs.yaml").read_text() == "admin: {}\n"


def test_item_11_a_link_at_the_chosen_bootstrap_path_is_replaced_not_followed(tmp_path: Path) -> None:
    from mpc.workflow.dev import DevOptions, plan, write

    target = tmp_path / "elsewhere.yaml"
    target.write_text("keep\n")
    out = tmp_path / "bootstrap.yaml"
    out.symlink_to(target)
    dev = plan(DevOptions(SEED, out=out))
    assert write(dev) == out
    assert not out.is_symlink() and out.read_text() == dev.text
    assert target.read_text() == "keep\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bootstrap.yaml", "elsewhere.yaml"]


# --- item 17: the machine refusing is exit 2 and one line, never exit 3 ---------------------------------


def _mpc(*args: str, limit_file_size: int | None = None) -> tuple[int, list[str]]:
    """mpc in a process of its own (a signal disposition or a resource limit must not leak into pytest)."""
    import resource
    import subprocess
    import sys

    def limit() -> None:
        if limit_file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

    proc = subprocess.run(
        [sys.executable, "-m", "mpc", *args],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
        check=False,
    )
    return proc.returncode, proc.stderr.splitlines()


def _one_line(code: int, lines: list[str], *words: str) -> None:
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("mpc: "), lines
    assert all(word in lines[0] for word in words), lines
    assert "internal error" not in lines[0]


def test_item_17_a_file_size_limit_is_one_line_naming_the_file(tmp_path: Path) -> None:
    code, lines = _mpc("build", str(SEED), "-o", str(tmp_path / "out"), "--no-cache", limit_file_size=1024)
    _one_line(code, lines, str(tmp_path / "out"), "File too large")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary folder left behind


@pytest.mark.parametrize("where", ["FILE/sub", "/proc/x"])
def test_item_17_output_paths_that_cannot_be_folders(tmp_path: Path, where: str) -> None:
    (tmp_path / "FILE").write_text("x\n")
    out = where if where.startswith("/") else str(tmp_path / where)
    code, lines = _mpc("build", str(SEED), "-o", out, "--no-cache")
    _one_line(code, lines)


def test_item_17_mpc_dev_with_an_envoy_that_is_no_program(tmp_path: Path) -> None:
    code, lines = _mpc("dev", str(SEED), "--envoy", "/etc/passwd")
    _one_line(code, lines, "/etc/passwd")
    script = tmp_path / "envoy"
    script.write_text("not a program\n")
    script.chmod(0o755)
    code, lines = _mpc("dev", str(SEED), "--envoy", str(script), "-o", str(tmp_path / "b.yaml"))
    assert code == 2 and lines[-1].startswith(f"mpc: {script}: "), lines


@pytest.mark.parametrize(
    ("option", "reason"), [("ro", "Read-only file system"), ("size=64k", "No space left on device")]
)
def test_item_17_a_read_only_or_full_file_system(tmp_path: Path, option: str, reason: str) -> None:
    import subprocess

    mount = tmp_path / "fs"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", option, "tmpfs", str(mount)], capture_output=True, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        acme = str(Path(__file__).resolve().parent.parent / "examples" / "acme" / "mesh.yaml")
        code, lines = _mpc("build", acme, "-o", str(mount / "out"), "--no-cache", "-q")
        _one_line(code, lines, str(mount), reason)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
