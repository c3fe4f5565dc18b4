"""Built-in backends of mpc, installed as mpc.backends and registered through the mpc.backends entry points."""
