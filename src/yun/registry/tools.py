"""Running skopeo and umoci: argument lists, no shell, and failures as one-line `ImageError`s."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from yun.registry.errors import ImageError, failure_reason

TOOL_TIMEOUT = 600.0
PACKAGES = {"skopeo": "skopeo", "umoci": "umoci", "docker-registry": "docker-registry"}


def run_tool(
    argv: Sequence[str], *, action: str, secret: str | None = None, timeout: float = TOOL_TIMEOUT
) -> str:
    """Run `argv`; return its stdout, or raise ImageError("{action}: {reason}")."""
    tool = argv[0]
    try:
        done = subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        package = PACKAGES.get(tool, tool)
        reason = f"{tool} is not installed (apt-get install {package})"
    except subprocess.TimeoutExpired:
        reason = f"{tool} did not finish within {timeout:g} s"
    else:
        if done.returncode == 0:
            return done.stdout
        reason = failure_reason(done.stderr or done.stdout, secret=secret)
    raise ImageError(f"{action}: {reason}", reason=reason)
