"""Host names and URLs, read one way: checked here, and classified once for every backend.

The master proxy dials a host; a NetworkPolicy must allow exactly where that leads. Both ask `place()`,
so they cannot disagree (a JWKS host the proxy fetches from the Internet must not be opened as the pods
of some namespace, nor the other way round):

- a literal address is that address;
- `NAME.NAMESPACE.svc` and `NAME.NAMESPACE.svc.cluster.local` are a Kubernetes service;
- a single label (`jaeger`) is a service of the namespace of whoever connects;
- `NAME.NAMESPACE`, Kubernetes' short form, is a service only where mesh.yaml documents that form
  (`observability.tracing.endpoint`); in a URL it is a name on the Internet (`idp.example`);
- anything else is a name on the Internet, whose addresses are not known in advance: egress to it is
  allowed to any address outside the private and link-local ranges (169.254.0.0/16 is where cloud
  metadata servers hand out credentials).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
LINK_LOCAL = "169.254.0.0/16"  # cloud metadata servers (169.254.169.254)
NOT_PUBLIC = (*PRIVATE_RANGES, LINK_LOCAL)
CLUSTER_DOMAIN = "svc.cluster.local"
DEFAULT_PORTS = {"https": 443, "http": 80}

_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_NAME = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
MAX_DNS_NAME = 253


@dataclass(frozen=True, slots=True)
class Place:
    """Where a host leads."""

    host: str  # as written
    service: str | None = None  # in the cluster: the Kubernetes service
    namespace: str | None = None  # in the cluster: its namespace (None: the namespace of whoever connects)
    address: str | None = None  # a literal IP address

    @property
    def in_cluster(self) -> bool:
        return self.service is not None

    def dial(self, namespace: str) -> str:
        """The name to connect to from `namespace`: a service's full name, else the host as written."""
        if self.service is None:
            return self.host
        return f"{self.service}.{self.namespace or namespace}.{CLUSTER_DOMAIN}"


def address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def place(host: str, *, short_form: bool) -> Place:
    """Where `host` leads. `short_form`: `NAME.NAMESPACE` is a service (where mesh.yaml documents it)."""
    name = host.lower().rstrip(".")
    if address(name) is not None:
        return Place(host, address=name.strip("[]"))
    labels = name.split(".")
    if name.endswith("." + CLUSTER_DOMAIN) and len(labels) >= 5:
        return Place(host, labels[-5], labels[-4])
    if name.endswith(".svc") and len(labels) >= 3:
        return Place(host, labels[-3], labels[-2])
    if len(labels) == 1:
        return Place(host, name)
    if len(labels) == 2 and short_form:
        return Place(host, labels[0], labels[1])
    return Place(host)


def host_problem(host: str) -> str | None:
    """Why a text is not a host name or an IP address, or None."""
    if not host:
        return "is empty"
    if "://" in host or "/" in host:
        return "is a URL, not a host name"
    if "*" in host:
        return "is a wildcard, not one host"
    if address(host) is not None:
        return None
    if len(host) > MAX_DNS_NAME or not DNS_NAME.match(host.lower()):
        return "is not a host name (letters, digits, '-' and '.')"
    return None


@dataclass(frozen=True, slots=True)
class Url:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


def parse_url(text: str) -> Url:
    """An http(s) URL with a host and a valid port; ValueError with the reason in mesh terms."""
    if any(c.isspace() for c in text):
        raise ValueError("it contains whitespace")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:  # a port that is no number or out of range, a broken IPv6 address
        raise ValueError(_url_reason(str(exc))) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("it is not an http:// or https:// URL")
    host = parts.hostname or ""
    if not host:
        raise ValueError("it has no host")
    problem = host_problem(host)
    if problem is not None:
        raise ValueError(f"its host {host!r} {problem}")
    if port == 0:
        raise ValueError("its port is 0")
    return Url(scheme, host, port or DEFAULT_PORTS[scheme], parts.path or "/")


def _url_reason(message: str) -> str:
    if "IPv6" in message:
        return "its IPv6 address is not valid (write it in brackets: https://[2001:db8::1]/)"
    if "out of range" in message:
        return "its port is not between 1 and 65535"
    if "port" in message.lower():
        return "its port is not a number"
    return message


def endpoint_problem(endpoint: str) -> str | None:
    """Why a `host:port` endpoint is not valid, or None."""
    host, _, port = endpoint.rpartition(":")
    problem = host_problem(host)
    if problem is not None:
        return f"host {host!r} {problem}"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"port {port} is not between 1 and 65535"
    return None


def link_local(host: str) -> bool:
    ip = address(host)
    return ip is not None and ip.is_link_local
