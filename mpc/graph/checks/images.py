"""Images: a reference a container runtime accepts, pinned by a tag that is not `latest` or a digest."""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic
from mpc.graph.checks.context import (
    IMAGE,
    Context,
)
from mpc.lang.resolve import split_image


def check_images(c: Context) -> Iterable[Diagnostic]:
    for name, svc in c.model.services.items():
        written = c.mesh.services[name].image  # as the user wrote it, before defaults.registry
        where = c.at("services", name, "image")
        if not IMAGE.match(svc.image):
            yield Diagnostic(
                Code.BAD_VALUE,
                f"services.{name}.image {written!r} is not a valid image reference",
                where,
                "[registry/]repository:tag or @sha256:digest; the repository is lower case",
            )
            continue
        _, tag, digest = split_image(svc.image)
        if digest is None and tag is None:
            yield Diagnostic(
                Code.IMAGE_TAG,
                f"services.{name}.image {written!r} has no tag",
                where,
                "pin a version tag or a digest, e.g. :1.4.2 or @sha256:...",
            )
        elif digest is None and tag == "latest":
            yield Diagnostic(
                Code.IMAGE_TAG,
                f"services.{name}.image {written!r} is tagged latest",
                where,
                "'latest' moves; pin a version tag or a digest",
            )
