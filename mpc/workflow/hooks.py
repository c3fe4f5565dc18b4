"""`mpc build-check`: is each rendered folder up to date with its mesh? For pre-commit and CI.

A repository may keep several meshes, each built into its own folder (`--map mesh.yaml=rendered`).
pre-commit passes the files a commit touches: a pair is checked when its mesh or anything under its
folder is among them (a hand edit under the folder is caught like a mesh edit), every pair when none are
given. A mesh that is not valid is not checked, and says so in one line: the mpc-validate hook prints
its diagnostics, so a commit shows them once.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mpc.errors import Diagnostic, MpcError, Severity


@dataclass(frozen=True)
class Pair:
    mesh: str  # as given, normalised (a/b/mesh.yaml)
    out: str

    @classmethod
    def parse(cls, text: str) -> Pair:
        mesh, sep, out = text.partition("=")
        if not sep or not mesh.strip() or not out.strip():
            raise ValueError(f"{text!r} is not MESH=FOLDER, e.g. mesh.yaml=rendered")
        return cls(_norm(mesh), _norm(out))

    def touched_by(self, path: str) -> bool:
        p = _norm(path)
        return p == self.mesh or p == self.out or p.startswith(self.out.rstrip("/") + "/")


def _norm(path: str) -> str:
    return posixpath.normpath(path.strip().replace("\\", "/"))


@dataclass
class Outcome:
    pair: Pair
    stale: list[str] = field(default_factory=list)
    invalid: int = 0  # errors in the mesh (mpc validate reports them): not checked
    problems: list[Diagnostic] = field(default_factory=list)  # the folder's own (E315, E316)


def selected(pairs: Sequence[Pair], files: Iterable[str]) -> list[Pair]:
    """The pairs the given files touch; all of them when no file is given."""
    given = list(files)
    if not given:
        return list(pairs)
    return [pair for pair in pairs if any(pair.touched_by(f) for f in given)]


def check(pairs: Sequence[Pair]) -> list[Outcome]:
    from mpc.render.plugins import Installed
    from mpc.workflow.build import BuildOptions, Source, build_source

    installed = Installed()  # found once for every pair
    outcomes = []
    for pair in pairs:
        options = BuildOptions(Path(pair.mesh), Path(pair.out), check=True)
        try:
            result = build_source(Source.read(options.mesh), options, installed=installed)
        except MpcError as exc:
            others = [d for d in exc.diagnostics if _norm(d.location.file) != pair.mesh]
            # Every error, those beyond the report's cap included, less the folder's own.
            errors = exc.errors - sum(1 for d in others if d.severity is Severity.ERROR)
            outcomes.append(Outcome(pair, invalid=errors, problems=others))
            continue
        outcomes.append(Outcome(pair, stale=list(result.stale)))
    return outcomes
