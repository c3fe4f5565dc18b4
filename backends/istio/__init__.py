"""The istio backend."""
