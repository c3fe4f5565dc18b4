"""The two ends of a flow verify evaluates: who sends (a workload, or the outside world) and what receives
(a port of a workload, or an external destination), and the verdict of one layer on it."""

from __future__ import annotations

from dataclasses import dataclass

from .objects import OUTSIDE_ADDRESS, POD_ADDRESS, PUBLIC_ADDRESS, Ref, Workload

OUTSIDE = "outside"  # the name of the outside world in reports


@dataclass(frozen=True, slots=True)
class Source:
    name: str  # a workload's name, or OUTSIDE
    workload: Workload | None  # None: a client outside the cluster

    @property
    def address(self) -> str:
        return POD_ADDRESS if self.workload is not None else OUTSIDE_ADDRESS

    @property
    def mtls(self) -> bool:
        """Its connections carry a mesh identity (an injected sidecar originates mutual TLS)."""
        return self.workload is not None and self.workload.sidecar


@dataclass(frozen=True, slots=True)
class Destination:
    """A port of a workload (`workload` set), or an external host or address (`host`/`address`)."""

    name: str  # a workload's name, or the external entry's name
    port: int
    protocol: str  # TCP | UDP
    workload: Workload | None = None
    host: str | None = None  # an external destination's host name (None: known by address only)
    address: str = PUBLIC_ADDRESS
    http: bool = False  # the port speaks HTTP or gRPC (methods and paths mean something)

    @property
    def external(self) -> bool:
        return self.workload is None

    def key(self) -> tuple[str, str, int]:
        return ("external" if self.external else "workload", self.name, self.port)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One layer's answer for one flow: allowed or not, the object that decided, and why."""

    allowed: bool
    reason: str
    by: tuple[Ref, ...] = ()

    def describe(self) -> str:
        said = "allows" if self.allowed else "denies"
        objects = ", ".join(str(r) for r in self.by)
        return f"{said} ({objects}: {self.reason})" if objects else f"{said} ({self.reason})"


def allow(reason: str, *by: Ref) -> Verdict:
    return Verdict(True, reason, by)


def deny(reason: str, *by: Ref) -> Verdict:
    return Verdict(False, reason, by)
