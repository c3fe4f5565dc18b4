"""The language: mesh.yaml text to a located document, the spec, and the resolved model."""
