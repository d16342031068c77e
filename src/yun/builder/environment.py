"""The environment buildpacks and hooks run in: the host stack, never the platform's own Python.

Yun itself runs from a virtualenv (and on developer machines often under pyenv or nvm). If that
leaked into staging, `python3` in a buildpack would be the platform's interpreter and the droplet
would depend on a folder that the runtime does not have. So the staging environment keeps the
host's configuration (proxies, pip/npm settings, CA bundles) but drops virtualenv variables and
every PATH entry that belongs to the platform's interpreter or lives under a user's home, then
adds the app's own variables and the few that the buildpack contract defines.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

STACK = "host"
STACK_PATH = ("/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin")
# Variables that point an interpreter at the platform's own installation.
_DROPPED = frozenset(
    {
        "VIRTUAL_ENV",
        "VIRTUAL_ENV_PROMPT",
        "PYTHONHOME",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONUSERBASE",
        "CONDA_PREFIX",
        "CONDA_DEFAULT_ENV",
        "PYENV_VERSION",
        "PYENV_VIRTUAL_ENV",
        "NVM_BIN",
        "NVM_DIR",
        "NODE_PATH",
        "YUN_EXIT_FILE",
    }
)


def host_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) minus the platform's interpreter."""
    source = dict(os.environ if base is None else base)
    unwanted = _platform_prefixes(source)
    env = {k: v for k, v in source.items() if k not in _DROPPED}
    env["PATH"] = clean_path(source.get("PATH", ""), unwanted)
    return env


def clean_path(path: str, unwanted: list[Path]) -> str:
    kept: list[str] = []
    for entry in path.split(os.pathsep):
        if not entry or entry in kept:
            continue
        if any(_is_within(Path(entry), prefix) for prefix in unwanted):
            continue
        kept.append(entry)
    kept.extend(d for d in STACK_PATH if d not in kept)
    return os.pathsep.join(kept)


def staging_environment(
    app_env: Mapping[str, str], *, extra: Mapping[str, str], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of every buildpack step: host stack + app variables + contract variables."""
    env = host_environment(base)
    env.update(app_env)
    env.update(
        {
            "CF_STACK": STACK,
            "YUN_STACK": STACK,
            "STACK": STACK,
            "PYTHONUNBUFFERED": "1",
            "PIP_NO_INPUT": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "GIT_TERMINAL_PROMPT": "0",
        }
    )
    env.update(extra)
    if "PATH" in app_env:
        # An app may prepend its own folders, but never bring the platform's interpreter back.
        env["PATH"] = clean_path(app_env["PATH"], _platform_prefixes(env))
    return env


PIP_CONFIG_FILES = (Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"))
_PIP_SOURCE_KEYS = ("find-links", "index-url", "extra-index-url", "constraint")


def package_sources(
    env: Mapping[str, str], *, config_files: tuple[Path, ...] = PIP_CONFIG_FILES
) -> list[Path]:
    """The host's pip configuration files and the local files and folders they, or PIP_*
    variables, name (a wheelhouse, a file:// index, a constraints file). A sandboxed staging
    sees these read-only, so a host set up to install from local wheels stages the same way
    inside."""
    found: list[Path] = [path for path in config_files if path.is_file()]
    values: list[str] = []
    for key in _PIP_SOURCE_KEYS:
        values.append(env.get("PIP_" + key.upper().replace("-", "_"), ""))
    for path in found:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path)
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue
        values += [parser[section].get(key, "") for section in parser for key in _PIP_SOURCE_KEYS]
    for word in " ".join(values).split():
        local = Path(unquote(urlsplit(word).path)) if word.startswith("file:") else Path(word)
        if local.is_absolute() and local.exists() and local not in found:
            found.append(local)
    return found


def _platform_prefixes(env: Mapping[str, str]) -> list[Path]:
    in_venv = sys.prefix != sys.base_prefix
    candidates = [Path(sys.prefix), Path(sys.exec_prefix), Path(sys.base_prefix)]
    # A virtualenv is always the platform's; otherwise only an interpreter under a home folder is
    # (never drop /usr when the platform itself runs on the host's /usr/bin/python3).
    prefixes = [
        p
        for p in candidates
        if _under_home(p, env) or (in_venv and p in (Path(sys.prefix), Path(sys.exec_prefix)))
    ]
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX", "NVM_DIR"):
        if env.get(var):
            prefixes.append(Path(env[var]))
    home = env.get("HOME")
    if home and home != "/":
        prefixes.append(Path(home))
    return prefixes


def _under_home(path: Path, env: Mapping[str, str]) -> bool:
    home = env.get("HOME")
    return bool(home) and home != "/" and _is_within(path, Path(str(home)))


def _is_within(path: Path, prefix: Path) -> bool:
    return path == prefix or prefix in path.parents
