"""The mpc benchmark: validate, build, rebuild and check synthetic meshes of 100, 1,000 and 10,000 services.

Every mpc command runs in a subprocess, as a user runs it, so the figures include interpreter start-up and
imports (wall time is what a pre-commit hook feels). Each figure is the median of several runs; peak RSS is
the largest resident set of any build run (from wait4). The floor is measured in the same run: serialising
as many objects, of the same size, as mpc wrote with `json.dumps` and writing them to the same paths; each
build is printed as a multiple of it.

    make bench                       # 100, 1,000 and 10,000 services
    python benchmarks/bench.py --quick
    python benchmarks/bench.py --sizes 1000 --runs 7 --json result.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen import write_mesh

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ("examples/local-api-gateway/mesh.yaml", "examples/acme/mesh.yaml")


def mpc_command() -> list[str]:
    if os.environ.get("MPC_BENCH_COMMAND"):  # e.g. another checkout: "python -m mpc" with PYTHONPATH set
        return shlex.split(os.environ["MPC_BENCH_COMMAND"])
    script = Path(sys.executable).parent / "mpc"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mpc"]


@dataclass
class Timed:
    seconds: float
    rss_mib: float
    cpu: float  # user + system time of the child: what the machine's other load does not inflate
    out: str = ""  # what the command printed


def run(args: Sequence[str], *, ok: Sequence[int] = (0,)) -> Timed:
    """Run one mpc command; wall time and peak RSS of the child (ru_maxrss is in KiB on Linux)."""
    # Output goes to files, not pipes: wait4 reads no pipe, and a command that prints more than a pipe
    # holds (a large mesh's warnings) would block for ever.
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen([*mpc_command(), *args], stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        out = stdout.read().decode()
        err = stderr.read().decode()
    if proc.returncode not in ok:
        raise SystemExit(f"mpc {' '.join(args)} exited {proc.returncode}:\n{out}{err}")
    return Timed(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out)


def _has_no_cache() -> bool:
    return "--no-cache" in run(["build", "--help"]).out


def median_of(
    runs: int, action: Callable[[], Timed], before: Callable[[], None] | None = None
) -> list[Timed]:
    out = []
    for _ in range(runs):
        if before is not None:
            before()
        out.append(action())
    return out


def tree_stats(out: Path) -> tuple[list[str], int]:
    """The files mpc wrote (from its lock) and their total size."""
    lock = json.loads((out / "mpc.lock").read_text("utf-8"))
    paths = sorted(lock["files"])
    return paths, sum((out / p).stat().st_size for p in paths)


def floor(paths: list[str], total_bytes: int, runs: int, where: Path) -> float:
    """json.dumps of len(paths) objects of the average size mpc wrote, written to the same paths."""
    count = max(len(paths), 1)
    average = max(total_bytes // count, 64)
    template = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "namespace": "bench", "labels": {"app.kubernetes.io/name": "x"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "x", "image": "x:1"}]}}},
    }
    pad = max(average - len(json.dumps(template, indent=2)), 0)
    objects = []
    for i, _ in enumerate(paths or ["floor.json"]):
        obj = json.loads(json.dumps(template))
        obj["metadata"]["name"] = f"object-{i}"
        obj["metadata"]["annotations"] = {"pad": "p" * pad}
        objects.append(obj)
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="mpc-floor-", dir=where) as tmp:
            root = Path(tmp)
            start = time.perf_counter()
            made: set[str] = set()
            for path, obj in zip(paths or ["floor.json"], objects, strict=True):
                target = root / path
                parent = os.path.dirname(path)
                if parent not in made:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(parent)
                target.write_bytes(json.dumps(obj, indent=2).encode("utf-8"))
            times.append(time.perf_counter() - start)
    return statistics.median(times)


@dataclass
class Result:
    services: int
    runs: int
    validate: float = 0.0
    build: float = 0.0
    rebuild: float = 0.0
    check: float = 0.0
    one_change: float = 0.0
    first_build: float = 0.0  # a full build with an empty user cache (and filling it)
    units: str = "-"  # service units the one-service change rendered, of all ("2 of 2,000")
    rss_mib: float = 0.0
    files: int = 0
    megabytes: float = 0.0
    floor: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    raw: dict[str, list[float]] = field(default_factory=dict)


def bench_size(n: int, runs: int, work: Path) -> Result:
    folder = work / f"n{n}"
    mesh = write_mesh(folder, n)
    out = folder / "out"
    cache = folder / "cache"
    os.environ["MPC_CACHE_DIR"] = str(cache)  # the benchmark's own user cache, inherited by every run
    result = Result(n, runs)

    def record(name: str, timings: list[Timed]) -> float:
        result.raw[name] = [round(t.seconds, 4) for t in timings]
        result.cpu[name] = statistics.median(t.cpu for t in timings)
        return statistics.median(t.seconds for t in timings)

    result.validate = record("validate", median_of(runs, lambda: run(["validate", str(mesh)])))

    def clean() -> None:
        shutil.rmtree(out, ignore_errors=True)

    def clean_all() -> None:
        clean()
        shutil.rmtree(cache, ignore_errors=True)

    # A full build renders every service: --no-cache (the cache would otherwise hold them all); an mpc
    # from before the user cache (MPC_BENCH_COMMAND) has no such option and renders everything anyway.
    full = ["build", str(mesh), "-o", str(out), "-q", *(["--no-cache"] if _has_no_cache() else [])]
    builds = median_of(runs, lambda: run(full), clean)
    result.build = record("build", builds)
    result.rss_mib = max(t.rss_mib for t in builds)
    first = median_of(runs, lambda: run(["build", str(mesh), "-o", str(out), "-q"]), clean_all)
    result.first_build = record("first_build", first)
    result.rebuild = record(
        "rebuild", median_of(runs, lambda: run(["build", str(mesh), "-o", str(out), "-q"]))
    )
    result.check = record(
        "check", median_of(runs, lambda: run(["build", str(mesh), "-o", str(out), "--check"]))
    )
    paths, size = tree_stats(out)
    result.files, result.megabytes = len(paths), size / 1e6

    # Each run changes one service's image tag and adds a line above it, relative to the tree the
    # previous run left.
    changes: list[Timed] = []
    for variant in range(1, runs + 1):
        write_mesh(folder, n, variant=variant)
        changes.append(run(["build", str(mesh), "-o", str(out)]))  # its summary names the units rendered
    result.one_change = record("one_change", changes)
    rendered = [re.search(r"\((\d+) of (\d+) service units rendered", t.out) for t in changes]
    counts = sorted((int(m[1]), int(m[2])) for m in rendered if m is not None)
    if counts:
        median = counts[len(counts) // 2]
        result.units = f"{median[0]:,} of {median[1]:,}"
    result.floor = floor(paths, size, max(runs, 3), work)
    shutil.rmtree(folder, ignore_errors=True)
    return result


def example_validate(runs: int) -> dict[str, float]:
    return {
        example: statistics.median(run(["validate", str(ROOT / example)]).seconds for _ in range(runs))
        for example in EXAMPLES
    }


def _fmt(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.2f} s"


def table(results: list[Result]) -> str:
    head = "| | " + " | ".join(f"{r.services:,} services" for r in results) + " |"
    rule = "| --- |" + " --- |" * len(results)

    def row(label: str, cell: Callable[[Result], str]) -> str:
        return f"| {label} | " + " | ".join(cell(r) for r in results) + " |"

    def per_service(seconds: float, n: int) -> str:
        return f"{seconds / n * 1000:.2f} ms"

    rows = [
        head,
        rule,
        row("runs (median of)", lambda r: str(r.runs)),
        row("`mpc validate`", lambda r: _fmt(r.validate)),
        row("  CPU (user + system)", lambda r: _fmt(r.cpu["validate"])),
        row("full build (all backends, every service rendered)", lambda r: _fmt(r.build)),
        row("  CPU (user + system)", lambda r: _fmt(r.cpu["build"])),
        row("  per service", lambda r: per_service(r.build, r.services)),
        row("  multiple of the json floor", lambda r: f"{r.build / r.floor:.1f}x" if r.floor else "-"),
        row("first build, empty user cache", lambda r: _fmt(r.first_build)),
        row("no-change rebuild", lambda r: _fmt(r.rebuild)),
        row("  CPU (user + system)", lambda r: _fmt(r.cpu["rebuild"])),
        row("`build --check`", lambda r: _fmt(r.check)),
        row("one service changed, a line added", lambda r: _fmt(r.one_change)),
        row("  CPU (user + system)", lambda r: _fmt(r.cpu["one_change"])),
        row("  share of a full build", lambda r: f"{r.one_change / r.build:.0%}" if r.build else "-"),
        row("  service units rendered", lambda r: r.units),
        row("peak RSS (build)", lambda r: f"{r.rss_mib:.0f} MiB"),
        row("files written", lambda r: f"{r.files:,}"),
        row("MB written", lambda r: f"{r.megabytes:.1f}"),
        row("json floor (same objects, same paths)", lambda r: _fmt(r.floor)),
    ]
    return "\n".join(rows)


def targets(results: list[Result], examples: dict[str, float]) -> list[tuple[str, bool]]:
    by_n = {r.services: r for r in results}
    checks: list[tuple[str, bool]] = []
    for example, seconds in examples.items():
        checks.append((f"validate {example}: {_fmt(seconds)} < 0.3 s", seconds < 0.3))
    if 1000 in by_n:
        r = by_n[1000]
        checks.append((f"1,000: validate {_fmt(r.validate)} < 0.5 s", r.validate < 0.5))
        checks.append((f"1,000: build {_fmt(r.build)} < 1.5 s", r.build < 1.5))
        ratio = r.build / r.floor if r.floor else float("inf")
        checks.append((f"1,000: build {ratio:.1f}x the json floor <= 5x", ratio <= 5))
        checks.append((f"1,000: no-change rebuild {_fmt(r.rebuild)} < 0.5 s", r.rebuild < 0.5))
        share = r.one_change / r.build
        checks.append((f"1,000: one-service edit {share:.0%} of a full build <= 30%", share <= 0.3))
    if 10000 in by_n:
        r = by_n[10000]
        checks.append((f"10,000: build {_fmt(r.build)} < 15 s", r.build < 15))
        checks.append((f"10,000: peak RSS {r.rss_mib:.0f} MiB < 1536 MiB", r.rss_mib < 1536))
        share = r.one_change / r.build
        checks.append((f"10,000: one-service edit {share:.0%} of a full build <= 30%", share <= 0.3))
        if 1000 in by_n:
            growth = r.build / by_n[1000].build
            checks.append((f"10,000: build {growth:.1f}x the 1,000 figure <= 12x", growth <= 12))
    return checks


def warm_up(work: Path) -> None:
    """Compile mpc's bytecode before anything is timed, as an installed mpc has it: with
    PYTHONDONTWRITEBYTECODE set (some CI images and containers set it) every run would compile each module
    from source again, adding a fixed cost no user of an installed package pays."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    mesh = write_mesh(work / "warm-up", 10)
    os.environ["MPC_CACHE_DIR"] = str(work / "warm-up" / "cache")
    run(["validate", str(mesh)])
    run(["build", str(mesh), "-o", str(work / "warm-up" / "out"), "-q"])
    shutil.rmtree(work / "warm-up")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="benchmark mpc on synthetic meshes")
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 services, 3 runs each")
    parser.add_argument("--sizes", type=int, nargs="+", help="mesh sizes (default 100 1000 10000)")
    parser.add_argument("--runs", type=int, help="runs per figure (default 5, 3 at 10,000)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--dir", type=Path, help="where to build (default: the system temp folder)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([100, 1000] if args.quick else [100, 1000, 10000])
    results = []
    with tempfile.TemporaryDirectory(prefix="mpc-bench-", dir=args.dir) as tmp:
        warm_up(Path(tmp))
        for n in sizes:
            runs = args.runs or (3 if args.quick or n >= 10000 else 5)
            print(f"… {n:,} services, {runs} runs", file=sys.stderr, flush=True)
            results.append(bench_size(n, runs, Path(tmp)))
    examples = example_validate(args.runs or 5)
    where = args.dir or Path(tempfile.gettempdir())
    print(f"mpc benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, medians, in {where}")
    print(f"load average when done: {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print(table(results))
    print()
    for example, seconds in examples.items():
        print(f"`mpc validate {example}`: {_fmt(seconds)}")
    print("\ntargets:")
    for text, ok in targets(results, examples):
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")
    if args.json:
        args.json.write_text(
            json.dumps({"results": [asdict(r) for r in results], "examples": examples}, indent=2) + "\n",
            "utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
