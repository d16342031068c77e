"""The classic buildpack contract, one executable at a time.

Heroku and Cloud Foundry buildpacks are folders with `bin/` scripts that the platform calls with
positional arguments:

    bin/detect   BUILD_DIR                               exit 0 = "this app is mine"
    bin/supply   BUILD_DIR CACHE_DIR DEPS_DIR INDEX      (Cloud Foundry) provide dependencies
    bin/finalize BUILD_DIR CACHE_DIR DEPS_DIR INDEX      (Cloud Foundry) last buildpack only
    bin/compile  BUILD_DIR CACHE_DIR ENV_DIR             (Heroku) do everything
    bin/release  BUILD_DIR                               YAML with default_process_types

This module runs those scripts with the same arguments, working directory and environment as the
real platforms, so that third-party buildpacks work unchanged; `staging.py` decides which ones run
and in what order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from .buildpack_sources import Buildpack
from .model import StagingError
from .processes import Output, Runner, run_streaming

DETECT_TIMEOUT = 60.0
RELEASE_TIMEOUT = 60.0


@dataclass(frozen=True)
class Layout:
    """The folders of one staging. `app` and `deps` sit side by side, as in the droplet."""

    work_dir: Path

    @property
    def app(self) -> Path:
        return self.work_dir / "app"

    @property
    def deps(self) -> Path:
        return self.work_dir / "deps"

    @property
    def env_dir(self) -> Path:
        return self.work_dir / "env"

    @property
    def buildpacks(self) -> Path:
        return self.work_dir / "buildpacks"

    def create(self) -> None:
        for folder in (self.app.parent, self.deps, self.env_dir, self.buildpacks):
            folder.mkdir(parents=True, exist_ok=True)

    def write_env_dir(self, env: Mapping[str, str]) -> None:
        """Heroku's ENV_DIR: one file per variable, named after it, holding its value."""
        for name, value in env.items():
            if name and "/" not in name and name not in (".", ".."):
                (self.env_dir / name).write_text(value)


def detect(
    bp: Buildpack, *, build_dir: Path, env: Mapping[str, str], run: Runner = run_streaming
) -> str | None:
    """The name `bin/detect` prints (or the buildpack's own) if it accepts the app, else None."""
    if not bp.has("detect"):
        return None
    try:
        done = run(
            [str(bp.script("detect")), str(build_dir)],
            cwd=build_dir,
            env=env,
            output=_ignore,
            capture_stdout=True,
            timeout=DETECT_TIMEOUT,
        )
    except OSError as exc:
        raise StagingError(f"buildpack {bp.name}: cannot run bin/detect ({exc.strerror})") from exc
    if done.returncode != 0 or done.timed_out:
        return None
    printed = done.stdout.strip().splitlines()
    return printed[0].strip() if printed and printed[0].strip() else bp.name


def _ignore(line: str) -> None:
    """Detect scripts explain rejections on stderr; a staging log does not need them."""


def steps_for(bp: Buildpack, *, final: bool) -> list[str]:
    """Which of supply/finalize/compile a buildpack runs, by position (Cloud Foundry's rules).

    A non-final buildpack supplies; a Heroku-style one without `bin/supply` compiles instead (as
    Heroku's multi-buildpack does). The final one supplies (if it can) and finalizes, or compiles.
    """
    if not final:
        if bp.has("supply"):
            return ["supply"]
        if bp.has("compile"):
            return ["compile"]
        raise StagingError(f"buildpack {bp.name}: cannot be a non-final buildpack (no bin/supply)")
    if bp.has("finalize"):
        return ["supply", "finalize"] if bp.has("supply") else ["finalize"]
    if bp.has("compile"):
        return ["compile"]
    raise StagingError(f"buildpack {bp.name}: has neither bin/finalize nor bin/compile")


def run_step(
    bp: Buildpack,
    step: str,
    *,
    layout: Layout,
    cache_dir: Path,
    index: int,
    env: Mapping[str, str],
    output: Output,
    run: Runner = run_streaming,
) -> None:
    """Run supply, finalize or compile with the positional arguments the contract defines."""
    if step == "compile":
        args = [str(layout.app), str(cache_dir), str(layout.env_dir)]
    else:
        args = [str(layout.app), str(cache_dir), str(layout.deps), str(index)]
    try:
        done = run([str(bp.script(step)), *args], cwd=layout.app, env=env, output=output)
    except OSError as exc:
        raise StagingError(f"buildpack {bp.name}: cannot run bin/{step} ({exc.strerror})") from exc
    if done.timed_out:
        raise StagingError(f"buildpack {bp.name}: bin/{step} timed out")
    if done.returncode != 0:
        raise StagingError(f"buildpack {bp.name}: bin/{step} exited with {done.returncode}")


def release(
    bp: Buildpack,
    *,
    build_dir: Path,
    env: Mapping[str, str],
    output: Output,
    run: Runner = run_streaming,
) -> dict[str, str]:
    """`default_process_types` from `bin/release`; stderr is streamed, stdout parsed as YAML."""
    if not bp.has("release"):
        return {}
    done = run(
        [str(bp.script("release")), str(build_dir)],
        cwd=build_dir,
        env=env,
        output=output,
        capture_stdout=True,
        timeout=RELEASE_TIMEOUT,
    )
    if done.returncode != 0:
        raise StagingError(f"buildpack {bp.name}: bin/release exited with {done.returncode}")
    return parse_release(done.stdout, buildpack=bp.name)


def parse_release(text: str, *, buildpack: str) -> dict[str, str]:
    try:
        doc = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise StagingError(
            f"buildpack {buildpack}: bin/release printed invalid YAML ({first})"
        ) from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise StagingError(f"buildpack {buildpack}: bin/release must print a YAML mapping")
    types = doc.get("default_process_types") or {}
    if not isinstance(types, dict):
        raise StagingError(f"buildpack {buildpack}: default_process_types must be a mapping")
    return {str(name): str(command) for name, command in types.items() if command is not None}


def exported_env(
    bp: Buildpack, *, env: Mapping[str, str], run: Runner = run_streaming
) -> dict[str, str]:
    """Heroku multi-buildpack: a buildpack may leave `export` in its folder for the next ones."""
    export = bp.path / "export"
    if not export.is_file():
        return {}
    done = run(
        ["bash", "-c", 'source "$1" >/dev/null 2>&1; env -0', "yun-export", str(export)],
        cwd=bp.path,
        env=env,
        output=_ignore,
        capture_stdout=True,
        timeout=DETECT_TIMEOUT,
    )
    if done.returncode != 0 or done.timed_out:
        why = "took too long" if done.timed_out else f"exit status {done.returncode}"
        raise StagingError(f"buildpack {bp.name}: its export file failed to load ({why})")
    after: dict[str, str] = {}
    for item in done.stdout.split("\0"):
        name, sep, value = item.partition("=")
        if sep and name:
            after[name] = value
    return {k: v for k, v in after.items() if env.get(k) != v and k not in ("_", "SHLVL", "PWD")}
