"""The `batch` archetype: a service that runs on a schedule, compiled to a batch/v1 CronJob.

An archetype is an `mpc.lang.archetypes.Archetype`: its fields are presets that resolve reads (this one has
no port and no Service), and `shape()` may reshape the Kubernetes objects the kustomize backend built
for the service. Here it replaces the service's Deployment with a CronJob that runs the same pod on
the schedule given in `extensions.batch`, and drops what only a long-running Deployment has (an HPA,
a PodDisruptionBudget).

    services:
      nightly-report:
        image: ghcr.io/acme/report:1.0.0
        archetype: batch
        extensions:
          batch: {schedule: "*/5 * * * *"}
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mpc.lang.archetypes import Archetype

if TYPE_CHECKING:
    from mpc.lang.model import ServiceContext

# Five cron fields (numbers, names, *, ranges, steps, lists) or one of the @-macros Kubernetes accepts.
_FIELD = r"[0-9A-Za-z*?/,-]+"
CRON_PATTERN = rf"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|{_FIELD}( {_FIELD}){{4}})$"

# The JSON Schema of `services.<name>.extensions.batch`; mpc validates every block against it and
# reports violations at their line in mesh.yaml, so shape() can trust what it reads.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["schedule"],
    "properties": {
        "schedule": {
            "type": "string",
            "pattern": CRON_PATTERN,
            "description": 'a cron schedule of five fields, e.g. "*/5 * * * *", or @hourly, @daily, ...',
        },
        "timeZone": {
            "type": "string",
            "pattern": r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$",
            "description": "an IANA time zone for the schedule, e.g. Europe/Amsterdam (default: UTC)",
        },
        "concurrencyPolicy": {
            "enum": ["Allow", "Forbid", "Replace"],
            "description": "what to do when a run is still going at the next tick (default: Forbid)",
        },
        "suspend": {"type": "boolean", "description": "stop scheduling new runs"},
        "backoffLimit": {
            "type": "integer",
            "minimum": 0,
            "maximum": 20,
            "description": "retries of a failed run (default: 2)",
        },
        "activeDeadlineSeconds": {
            "type": "integer",
            "minimum": 1,
            "description": "a run that takes longer is stopped and counts as failed",
        },
    },
}

DEFAULTS: Mapping[str, Any] = {"concurrencyPolicy": "Forbid", "backoffLimit": 2}

# Objects that only make sense for a long-running workload named after the service.
_DROPPED_KINDS = frozenset({"HorizontalPodAutoscaler", "PodDisruptionBudget"})
_PROBES = ("readinessProbe", "livenessProbe", "startupProbe")
# Istio's proxy would otherwise keep every run's pod alive after the job's container exits: as a
# native sidecar (Kubernetes >= 1.28) it stops with the pod, and the run keeps its mTLS identity.
NATIVE_SIDECAR_ANNOTATION = "sidecar.istio.io/nativeSidecar"


def cronjob(deployment: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The CronJob that runs `deployment`'s pod on `config["schedule"]`. Pure: the input is not changed."""
    settings = {**DEFAULTS, **config}
    template = copy.deepcopy(dict(deployment["spec"]["template"]))
    meta = template.setdefault("metadata", {})
    meta["annotations"] = {**meta.get("annotations", {}), NATIVE_SIDECAR_ANNOTATION: "true"}
    pod = template["spec"]
    pod["restartPolicy"] = "OnFailure"  # a Job's pods may not use Always
    for container in pod.get("containers", []):
        for probe in _PROBES:  # a run that ends is not unhealthy; probes would only restart it
            container.pop(probe, None)
    job: dict[str, Any] = {"backoffLimit": settings["backoffLimit"]}
    if "activeDeadlineSeconds" in settings:
        job["activeDeadlineSeconds"] = settings["activeDeadlineSeconds"]
    job["template"] = template
    spec: dict[str, Any] = {"schedule": settings["schedule"]}
    if "timeZone" in settings:
        spec["timeZone"] = settings["timeZone"]
    spec["concurrencyPolicy"] = settings["concurrencyPolicy"]
    if "suspend" in settings:
        spec["suspend"] = settings["suspend"]
    spec["jobTemplate"] = {"metadata": {"labels": dict(meta.get("labels", {}))}, "spec": job}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": copy.deepcopy(dict(deployment["metadata"])),
        "spec": spec,
    }


@dataclass(frozen=True)
class BatchArchetype(Archetype):
    def shape(self, context: ServiceContext, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        service = context.service
        config = service.extensions.get(self.name, {})
        out: list[dict[str, Any]] = []
        for obj in objects:
            named = obj.get("metadata", {}).get("name") == service.name
            if named and obj.get("kind") == "Deployment":
                out.append(cronjob(obj, config))
            elif named and obj.get("kind") in _DROPPED_KINDS:
                continue
            else:
                out.append(obj)
        return out


BATCH = BatchArchetype(
    name="batch",
    description="a scheduled run: the service's pod as a batch/v1 CronJob (extensions.batch.schedule)",
    serves=False,
    protocols=frozenset(),
    extension_schema=SCHEMA,
)
