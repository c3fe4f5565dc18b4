"""The dependency graph of a resolved model, the checks that need the whole mesh, and per-service contexts."""
