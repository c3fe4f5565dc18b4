"""The envoy backend: the master proxy's Envoy bootstrap, its Kubernetes objects and `mpc dev`."""

from __future__ import annotations

from .backend import EnvoyBackend, backend

__all__ = ["EnvoyBackend", "backend"]
