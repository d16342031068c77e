"""Where the instance launcher lives.

`launcher.sh` is shipped as package data rather than generated, so the node agent, the runc
driver (which bind-mounts it into containers) and post-staging hooks all run the same file.
"""

from __future__ import annotations

from pathlib import Path

_LAUNCHER = Path(__file__).with_name("launcher.sh")


def launcher_path() -> Path:
    """Absolute path of `launcher.sh`; run it as `bash launcher.sh COMMAND`."""
    return _LAUNCHER
