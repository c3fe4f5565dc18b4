"""The backend API (Artifact, Backend), shared Kubernetes helpers and plugin discovery."""
