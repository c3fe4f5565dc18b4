"""Image references: the full name a container runtime pulls, and what a tag promises.

A name written without a registry is completed the way Docker completes it (`redis:alpine` is
`docker.io/library/redis:alpine`), unless `defaults.registry` is set: then it gets that prefix. Writing
the full name into the manifests keeps the choice out of each node's configuration (CRI-O and Podman
refuse, or ask about, a short name that their search registries make ambiguous), and lets
`governance.allowedRegistries` judge the registry the image really comes from.
"""

from __future__ import annotations

import re
from enum import StrEnum

DOCKER_HUB = "docker.io"
# Docker Hub's old index host names the same registry; its official images live under `library/`.
DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io"})
OFFICIAL = "library"

# Tags that follow new releases: the image changes without a change to mesh.yaml. `latest` is refused
# outright (E306); these are warned about (W304), alone or as the parts of a tag (`16-alpine`).
FLOATING_WORDS = frozenset(
    {
        "alpine",
        "slim",
        "stable",
        "mainline",
        "lts",
        "current",
        "edge",
        "nightly",
        "main",
        "master",
        "develop",
        "dev",
    }
)
_BARE_MAJOR = re.compile(r"^v?\d+$")


class Rule(StrEnum):
    """How the full name of an image was found."""

    WRITTEN = "as written"
    HUB_NAME = "Docker Hub's full name"
    REGISTRY = "defaults.registry applied"
    DOCKER_HUB = "a name without a registry is Docker Hub's"


def has_registry(image: str) -> bool:
    """Docker's rule: the first path component names a registry when it has a '.' or ':' or is localhost."""
    first, sep, _ = image.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def full_name(image: str, registry: str | None) -> tuple[str, Rule]:
    """The name a runtime pulls, and the rule that gave it: as written, `defaults.registry`, or Docker Hub."""
    if has_registry(image):
        domain, rest = image.split("/", 1)
        if domain in DOCKER_HUB_ALIASES:
            full = _docker_hub(rest)
            return full, Rule.WRITTEN if full == image else Rule.HUB_NAME
        return image, Rule.WRITTEN
    if registry is not None:
        return f"{registry.rstrip('/')}/{image}", Rule.REGISTRY
    return _docker_hub(image), Rule.DOCKER_HUB


def _docker_hub(path: str) -> str:
    """`redis:7` -> docker.io/library/redis:7; `istio/reviews:1` -> docker.io/istio/reviews:1."""
    repository = split_image(path)[0]
    return f"{DOCKER_HUB}/{path}" if "/" in repository else f"{DOCKER_HUB}/{OFFICIAL}/{path}"


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of an image reference."""
    digest = None
    if "@" in image:
        image, digest = image.split("@", 1)
    tag = None
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        image, tag = image[:colon], image[colon + 1 :]
    return image, tag, digest


def image_version(image: str) -> str | None:
    """The tag of an image as the app.kubernetes.io/version label carries it (at most 63 characters);
    None for a digest-only image. Validation refuses a tag that would make an invalid label value."""
    _, tag, _ = split_image(image)
    return None if tag is None else tag[:63]


def floating(tag: str) -> bool:
    """A tag that moves with new releases: a word like `alpine` or `stable`, a bare major like `16` or
    `v2`, or a mix of them (`16-alpine`, `lts-slim`). `7.4.1-alpine` names one release and does not, nor
    does a date (`2024-05-01`: more than one number)."""
    parts = tag.lower().split("-")
    majors = [p for p in parts if _BARE_MAJOR.match(p)]
    return len(majors) <= 1 and all(p in FLOATING_WORDS or p in majors for p in parts)
