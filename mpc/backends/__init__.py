"""Built-in backends of mpc, installed as mpc.backends and registered through its entry points."""
