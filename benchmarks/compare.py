"""Compare two mpc commands on one synthetic mesh, alternating round by round.

On a shared machine the load changes from one minute to the next, so two benchmark runs made one after
the other measure the machine as much as the code. Here each round runs every step with one command and
then with the other (the order swapped every round), so both see the same conditions; the table gives
medians of wall time and CPU time (user + system) and the ratio of the medians.

    python benchmarks/compare.py OTHER_MPC [--size 1000] [--rounds 7] [--dir /dev/shm]

OTHER_MPC is the `mpc` executable of another checkout (its virtual environment's bin/mpc); this checkout's
`mpc` is the one beside the running Python. An mpc from before the user cache has no `--no-cache`: its
build into an empty folder renders everything anyway.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen import write_mesh

Sample = tuple[float, float]  # wall seconds, CPU seconds


def run(command: str, args: Sequence[str], env: dict[str, str]) -> Sample:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([command, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{command} {' '.join(args)} exited {done.returncode}:\n{done.stderr.decode()}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def has_no_cache(command: str) -> bool:
    help_text = subprocess.run([command, "build", "--help"], capture_output=True, text=True).stdout
    return "--no-cache" in help_text


def one_round(command: str, folder: Path, size: int, variant: int, env: dict[str, str]) -> dict[str, Sample]:
    mesh = write_mesh(folder, size)
    out = str(folder / "out")
    build = ["build", str(mesh), "-o", out, "-q"]
    samples = {
        "`mpc validate`": run(command, ["validate", str(mesh)], env),
        "build over the previous round's tree": run(command, build, env),
        "no-change rebuild": run(command, build, env),
    }
    write_mesh(folder, size, variant=variant)
    samples["one service's image changed and a line added above it"] = run(command, build, env)
    shutil.rmtree(out)
    full = build + (["--no-cache"] if has_no_cache(command) else [])
    samples["full build, nothing reused"] = run(command, full, env)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="compare two mpc commands, alternating round by round")
    parser.add_argument("other", help="the other checkout's mpc executable")
    parser.add_argument("--size", type=int, default=1000, help="services in the mesh (default 1000)")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (default 7)")
    parser.add_argument("--dir", type=Path, help="where to build (default: the system temp folder)")
    args = parser.parse_args(argv)
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # both run with compiled bytecode, as installed
    commands = {"other": args.other, "this": str(Path(sys.executable).parent / "mpc")}
    results: dict[str, dict[str, list[Sample]]] = {name: {} for name in commands}
    with tempfile.TemporaryDirectory(prefix="mpc-compare-", dir=args.dir) as tmp:
        envs = {name: dict(os.environ, MPC_CACHE_DIR=f"{tmp}/{name}/cache") for name in commands}
        for name, command in commands.items():  # a first tree and a warm cache; bytecode compiled
            mesh = write_mesh(Path(tmp, name), args.size)
            run(command, ["build", str(mesh), "-o", f"{tmp}/{name}/out", "-q"], envs[name])
        for number in range(args.rounds):
            order = list(commands.items())
            for name, command in order if number % 2 == 0 else reversed(order):
                samples = one_round(command, Path(tmp, name), args.size, number + 1, envs[name])
                for step, sample in samples.items():
                    results[name].setdefault(step, []).append(sample)
    print(f"{args.size:,} services, {args.rounds} alternating rounds, medians: wall / CPU")
    print(f"other: {commands['other']}\nthis:  {commands['this']}\n")
    print("| | other | this | this / other (wall) |\n| --- | --- | --- | --- |")
    for step, other in results["other"].items():
        this = results["this"][step]
        ow, oc = (statistics.median(s[i] for s in other) for i in (0, 1))
        tw, tc = (statistics.median(s[i] for s in this) for i in (0, 1))
        print(f"| {step} | {ow:.3f} s / {oc:.3f} s | {tw:.3f} s / {tc:.3f} s | {tw / ow:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
