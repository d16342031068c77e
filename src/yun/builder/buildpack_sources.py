"""Turn what a manifest says about buildpacks into buildpack folders on disk.

A manifest names a buildpack the way Cloud Foundry or Heroku users already write it: a built-in
(`python`, `python_buildpack`, `heroku/nodejs`, `staticfile_buildpack`…), an absolute path to a
folder or a .zip on the server, or a git URL (optionally `#branch-or-tag`). Whatever the source,
the buildpack is copied into the staging work dir first: buildpacks may write into their own
folder (Heroku's `export` file), built-ins must not be changed by an app's staging, and files
installed as package data or unzipped may have lost their executable bits.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import stat
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .model import StagingError
from .processes import Output, Runner, run_streaming

BUILTIN_DIR = Path(__file__).parent / "buildpacks"
BUILTINS = ("python", "nodejs", "java", "go", "static", "binary")
_ALIASES = {"node": "nodejs", "staticfile": "static", "go-binary": "binary"}
_GIT_SCHEMES = ("http", "https", "git", "ssh", "file")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")


@dataclass(frozen=True)
class Buildpack:
    """One buildpack ready to run: a private copy with `bin/` scripts that are executable."""

    name: str
    path: Path
    cache_key: str

    def has(self, step: str) -> bool:
        return (self.path / "bin" / step).is_file()

    def script(self, step: str) -> Path:
        return self.path / "bin" / step


def builtin_name(name: str) -> str | None:
    """`python_buildpack`, `heroku/python`, `Python` → `python`; None when not a built-in."""
    key = name.strip().lower().removeprefix("heroku/").removeprefix("yun/")
    for suffix in ("_buildpack", "-buildpack"):
        key = key.removesuffix(suffix)
    key = _ALIASES.get(key, key)
    return key if key in BUILTINS else None


def is_git_url(name: str) -> bool:
    if _SCP_LIKE.match(name):
        return True
    return urlsplit(name).scheme in _GIT_SCHEMES


def resolve(
    name: str,
    *,
    into: Path,
    env: Mapping[str, str],
    output: Output,
    cache_key: str = "",
    run: Runner = run_streaming,
) -> Buildpack:
    """Materialize buildpack `name` as a private copy in the new folder `into`."""
    if (builtin := builtin_name(name)) is not None:
        _copy_folder(BUILTIN_DIR / builtin, into)
        return _ready(builtin, into, cache_key or builtin)
    if is_git_url(name):
        _clone(name, into=into, env=env, output=output, run=run)
        return _ready(_git_name(name), into, cache_key or _keyed(_git_name(name), name))
    path = Path(name)
    if path.is_absolute():
        if path.is_dir():
            _copy_folder(path, into)
        elif path.is_file() and zipfile.is_zipfile(path):
            _unzip(path, into)
        else:
            raise StagingError(f"buildpack {name}: no such folder or .zip on this server")
        label = path.name.removesuffix(".zip")
        return _ready(label, into, cache_key or _keyed(label, name))
    raise StagingError(
        f"unknown buildpack {name!r} (built-ins: {', '.join(BUILTINS)}; "
        "or give an absolute path or a git URL)"
    )


def _ready(name: str, path: Path, cache_key: str) -> Buildpack:
    bin_dir = path / "bin"
    if not bin_dir.is_dir():
        raise StagingError(f"buildpack {name}: has no bin/ folder")
    for script in bin_dir.iterdir():
        if script.is_file():
            mode = script.stat().st_mode
            script.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return Buildpack(name=name, path=path, cache_key=cache_key)


def _copy_folder(source: Path, into: Path) -> None:
    shutil.copytree(source, into, symlinks=True, ignore=shutil.ignore_patterns(".git"))


def _unzip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        for member in zf.infolist():
            target = (into / member.filename).resolve()
            if not target.is_relative_to(into.resolve()):
                raise StagingError(f"buildpack {archive.name}: unsafe path {member.filename!r}")
        zf.extractall(into)
    # GitHub-style archives wrap everything in one top folder.
    entries = list(into.iterdir())
    if not (into / "bin").is_dir() and len(entries) == 1 and entries[0].is_dir():
        inner = entries[0]
        for child in inner.iterdir():
            child.rename(into / child.name)
        inner.rmdir()


def _clone(url: str, *, into: Path, env: Mapping[str, str], output: Output, run: Runner) -> None:
    repo, _, ref = url.partition("#")
    argv = ["git", "clone", "--depth", "1", "--recurse-submodules", "--shallow-submodules"]
    if ref:
        argv += ["--branch", ref]
    argv += ["--", repo, str(into)]
    output(f"-----> Cloning buildpack {url}")
    into.parent.mkdir(parents=True, exist_ok=True)
    done = run(argv, cwd=into.parent, env=env, output=output, timeout=300)
    if done.returncode != 0:
        raise StagingError(f"could not clone buildpack {url} (git exited with {done.returncode})")


def _git_name(url: str) -> str:
    repo = url.partition("#")[0].rstrip("/")
    last = re.split(r"[/:]", repo)[-1]
    return last.removesuffix(".git") or "buildpack"


def _keyed(label: str, source: str) -> str:
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", label)[:40]
    return f"{safe}-{digest}"
