"""The terraform backend."""
