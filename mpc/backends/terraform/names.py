"""Cloud-side names and labels: each provider's own length and character rules."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

from mpc.lang.model import Model

_GCP_LABEL_BAD = re.compile(r"[^a-z0-9_-]")


def short_hash(text: str, length: int = 6) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def fit(name: str, limit: int, suffix: str = "") -> str:
    """`name` + `suffix` within `limit` characters; too long names keep a hash so they stay unique."""
    if len(name) + len(suffix) <= limit:
        return name + suffix
    tag = "-" + short_hash(name)
    head = name[: limit - len(suffix) - len(tag)].rstrip("-")
    return head + tag + suffix


def service_account_id(cluster: str) -> str:
    """A GCP service account id: 6-30 characters, lower case, a letter first, no trailing dash."""
    return fit(cluster, 30, "-nodes")


def gcp_labels(model: Model, cluster: str) -> dict[str, str]:
    """Resource labels: keys and values of lower-case letters, digits, `_` and `-`, at most 63 long.

    The mesh's own labels are carried over where they can be made valid; a key that cannot (one that
    does not start with a letter) is left out rather than invented.
    """
    out = {"managed-by": "mpc", "mesh": model.name, "cluster": cluster}
    for k, v in sorted(model.labels.items()):
        key = _GCP_LABEL_BAD.sub("-", k.lower())[:63]
        if not key or not key[0].isalpha() or key in out:
            continue
        out[key] = _GCP_LABEL_BAD.sub("-", v.lower())[:63]
    return dict(sorted(out.items()))


def do_tags(model: Model, cluster: str) -> list[str]:
    """DigitalOcean tags (letters, digits, `:`, `-`, `_`)."""
    return [f"cluster:{cluster}", "managed-by:mpc", f"mesh:{model.name}"]


def node_labels(cluster: str, pool: str) -> Mapping[str, str]:
    """Kubernetes node labels, so workloads can select a pool by name."""
    return {"masterproxy.dev/cluster": cluster, "masterproxy.dev/node-pool": pool}
