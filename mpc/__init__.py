"""mpc: the masterproxy manifest compiler."""

__version__ = "0.1.0"
