"""What every built-in backend needs to host a server process on this machine.

When the platform runs as root, PostgreSQL and Redis run as their Debian system users
(`postgres`, `redis`): their directories are chowned to that user, and the way to them must be
passable for it. The servers run detached (their own session), so they outlive the platform; a
restarted platform recognises its servers through /proc (a pid, its command and its working
directory) rather than through a child handle. A backend's own state is one JSON file, replaced
atomically and readable only by the platform (it holds passwords).
"""

from __future__ import annotations

import grp
import json
import logging
import os
import pwd
import secrets
import signal
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from yun.brokers.builtin.base import BackendError

log = logging.getLogger("yun.brokers.builtin")


def is_root() -> bool:
    return os.geteuid() == 0


def as_user(user: str, args: list[str]) -> list[str]:
    """`args` run as `user` when the platform is root (servers refuse root), else as they are."""
    return ["runuser", "-u", user, "--", *args] if is_root() else args


def new_password() -> str:
    return secrets.token_hex(16)  # safe unquoted in URIs, JDBC URLs and config files


def own(path: Path, user: str) -> None:
    """Give `path` to `user` when running as root (nothing to do otherwise)."""
    if is_root():
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def private_dir(path: Path, user: str) -> Path:
    """`path` as a directory only `user` (and root) may enter."""
    path.mkdir(parents=True, exist_ok=True)
    own(path, user)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str, user: str) -> None:
    """Replace `path` with `text`, mode 0600, owned by `user`."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.chmod(0o600)
    own(temporary, user)
    os.replace(temporary, path)


def grant_passage(path: Path, user: str) -> None:
    """Let `user` reach `path`: ancestors it cannot pass get search permission (never read)
    for others. Only when root, since only then does the server run as another user."""
    if not is_root():
        return
    entry = pwd.getpwnam(user)
    groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    for directory in [*reversed(path.parents), path]:
        info = directory.stat()
        if info.st_uid == entry.pw_uid:
            passable = bool(info.st_mode & stat.S_IXUSR)
        elif info.st_gid in groups:
            passable = bool(info.st_mode & stat.S_IXGRP)
        else:
            passable = bool(info.st_mode & stat.S_IXOTH)
        if not passable:
            log.warning("adding o+x to %s so that %s can reach %s", directory, user, path)
            directory.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)


def server_pid(pid_file: Path, *, command: str, directory: Path) -> int | None:
    """The pid in `pid_file` if that process is alive, runs `command` and works in
    `directory` (a reused pid belongs to someone else); else None."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if process_matches(pid, command=command, directory=directory) else None


def process_matches(pid: int, *, command: str, directory: Path) -> bool:
    proc = Path("/proc") / str(pid)
    try:
        comm = (proc / "comm").read_text().strip()
        cwd = Path(os.readlink(proc / "cwd"))
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return comm == command and state != "Z" and cwd == directory.resolve()


def processes_in(directory: Path, *, command: str) -> list[int]:
    """Live processes running `command` that work in `directory` (a dead server's children)."""
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [pid for pid in pids if process_matches(pid, command=command, directory=directory)]


def wait_gone(pid: int, *, command: str, directory: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_matches(pid, command=command, directory=directory):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def terminate(pid: int, *, command: str, directory: Path, timeout: float = 15.0) -> None:
    """SIGTERM the server `pid` (a graceful shutdown), SIGKILL it if it does not go."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not process_matches(pid, command=command, directory=directory):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if wait_gone(pid, command=command, directory=directory, timeout=timeout):
            return
    raise BackendError(f"{command} (pid {pid}) does not stop")


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class StateFile:
    """A backend's JSON state: read whole, replaced whole (temp file, fsync, rename), 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        try:
            data = json.loads(text)
        except ValueError as error:
            raise BackendError(f"{self.path} is not valid JSON: {error}") from error
        if not isinstance(data, dict):
            raise BackendError(f"{self.path} does not hold a JSON object")
        return data

    def save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "w") as file:  # mkstemp made it 0600
                json.dump(data, file, indent=2, sort_keys=True)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)
