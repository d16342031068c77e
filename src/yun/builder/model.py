"""What crosses the builder's boundary: a staging request in, a droplet (or one error line) out.

The build controller fills a `StagingRequest` from a Package and the app's manifest, calls
`yun.builder.stage`, and records the `StagingResult` as a Droplet. Nothing here knows about the
store or the API, so the builder can be run from a test, a CLI or another backend alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DETECT_ORDER = ("python", "nodejs", "java", "go", "static", "binary")


@dataclass(frozen=True)
class StagingRequest:
    source_dir: Path
    """The uploaded app bits; never modified (they are copied into the build dir)."""
    work_dir: Path
    """An empty throwaway folder owned by this staging; the droplet is written inside it."""
    cache_dir: Path
    """Persists across stagings of the same app; each buildpack gets a folder inside it."""
    buildpacks: Sequence[str]
    """[] = detect; else built-in names or aliases, absolute paths (folders or .zip), git URLs."""
    env: Mapping[str, str]
    """The app's environment variables, visible to buildpacks and hooks."""
    pre_staging: Sequence[str] = ()
    """Stackato hooks: shell commands run with `bash -c` in the build dir before buildpacks."""
    post_staging: Sequence[str] = ()
    """Stackato hooks run after the buildpacks, in the app's runtime environment."""
    pip_requirements: Sequence[str] = ()
    """Stackato `requirements.pip`: extra packages the python buildpack installs."""
    ubuntu_requirements: Sequence[str] = ()
    """Stackato `requirements.ubuntu`: Debian packages the stack must already have."""
    detect_order: Sequence[str] = DEFAULT_DETECT_ORDER
    stack_root: Path | None = None
    """The stack the staging runs on (in the sandbox); None: the host's userland."""


@dataclass(frozen=True)
class StagingResult:
    droplet: Path
    """A .tar.gz inside work_dir holding app/, deps/ and staging_info.json."""
    process_types: dict[str, str]
    """The buildpack's default process types, overridden entry by entry by the Procfile."""
    buildpacks: list[str]
    """Names of the buildpacks that ran, in order."""
    detected: str
    """Human name of the final buildpack."""

    @property
    def start_command(self) -> str:
        return self.process_types.get("web", "")


class StagingError(Exception):
    """Staging failed; the message is one line a developer can act on."""
