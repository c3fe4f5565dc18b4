"""An example mpc plugin: the `compose` backend and the `batch` archetype.

Installed with `pip install -e examples/plugins/mpc-compose`, both are found through mpc's entry-point
groups (`mpc.backends`, `mpc.archetypes`) exactly as the built-in ones are; `mpc plugins` lists them.
"""

from __future__ import annotations

__version__ = "0.1.0"
