"""Images: a reference a container runtime accepts, pinned by a tag that is not `latest` or a digest.

Every rule judges the full name the manifests carry (mpc.lang.images: as written, `defaults.registry`
applied, or Docker Hub's), while the messages quote the image as the user wrote it.
"""

from __future__ import annotations

from collections.abc import Iterable

from mpc.errors import Code, Diagnostic, Location, Severity
from mpc.graph.checks.context import (
    IMAGE,
    LABEL_PART,
    Context,
)
from mpc.lang.images import floating, image_version, split_image


def service_images(c: Context, name: str) -> Iterable[tuple[tuple[str, ...], str, str]]:
    """(where, as written, with the registry) of each image one service runs: its own or each version's."""
    svc, raw = c.model.services[name], c.mesh.services[name]
    if raw.versions:
        for version in svc.versions:
            where = ("services", name, "versions", version.name, "image")
            yield where, raw.versions[version.name].image, version.image
    elif raw.image is not None:
        yield ("services", name, "image"), raw.image, svc.image


def images(c: Context) -> Iterable[tuple[str, tuple[str, ...], str, str]]:
    """(service, where, as written, with the registry) of every image of the mesh."""
    for name in c.model.services:
        for where, written, image in service_images(c, name):
            yield name, where, written, image


def check_images(c: Context) -> Iterable[Diagnostic]:
    for name, path, written, image in images(c):
        where = c.at(*path)
        if not IMAGE.match(image):
            yield Diagnostic(
                Code.BAD_VALUE,
                f"services.{name}.image {written!r} is not a valid image reference",
                where,
                "[registry/]repository:tag or @sha256:digest; the repository is lower case",
            )
            continue
        _, tag, digest = split_image(image)
        version = image_version(image)
        if version is not None and not LABEL_PART.match(version):
            yield Diagnostic(
                Code.BAD_VALUE,
                f"services.{name}.image: the tag {tag!r} cannot be the label app.kubernetes.io/version "
                f"({version!r} does not start and end with a letter or digit)",
                where,
                "tag the image so it starts and ends with a letter or digit (its first 63 characters "
                "become the label), e.g. 1.0 or 1.0-rc1",
            )
        if c.model.governance.require_digests and not (digest or "").startswith("sha256:"):
            yield _digest_required(c, name, written, where)
        elif digest is None and tag is None:
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
        elif digest is None and tag is not None and floating(tag):
            yield Diagnostic(
                Code.FLOATING_TAG,
                f"services.{name}.image {written!r}: the tag {tag!r} follows new releases, so the image "
                "can change without a change to mesh.yaml",
                where,
                "pin one release (e.g. :7.4.1-alpine) or a digest (@sha256:...)",
                Severity.WARNING,
            )


def _digest_required(c: Context, name: str, written: str, where: Location) -> Diagnostic:
    return Diagnostic(
        Code.DIGEST_REQUIRED,
        f"services.{name}.image {written!r} is not pinned by a sha256 digest",
        where,
        "write repository@sha256:<digest> (a tag may stay: repository:1.4.2@sha256:<digest>)",
        notes=((c.at("governance", "requireDigests"), "governance.requireDigests is set here"),),
    )
