"""Artifacts to bytes, bytes to an output folder: serialisation, the lock, the unit cache, the atomic swap."""
