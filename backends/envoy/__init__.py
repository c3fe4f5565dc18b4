"""The envoy backend."""
