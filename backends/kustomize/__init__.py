"""The kustomize backend."""
