"""Retries that are safe, as both proxies apply them (the master proxy's Envoy and the sidecars' Istio
routes): a request that may have reached the service is retried only when its method is idempotent;
what never reached it (a failed connection, a refused HTTP/2 stream) is retried for every method."""

from __future__ import annotations

IDEMPOTENT_METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
# The failures that prove a request never reached the service: retried whatever its method.
RETRY_ON_UNDELIVERED = "connect-failure,refused-stream"
