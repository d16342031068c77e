"""Run the platform's OCI registry: CNCF Distribution (`docker-registry serve CONFIG`).

Everything about the running registry lives in `root` (config.yml, registry.pid, registry.log,
http-secret, data/), never in this object's memory: like HAProxy, the registry is data plane
and outlives the control plane. A new `RegistryServer` on the same root adopts the running
process through the pidfile (checked against /proc/PID/cmdline, so a reused pid is not taken
for ours) and can stop it. The process is found by pid only, never by name, so tests and
several Yun servers can run registries side by side.

On loopback the registry has no auth; bound anywhere else it requires an htpasswd file
(bcrypt entries, see `htpasswd.py`), because Distribution's alternative is an open registry.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import http.client
import os
import secrets
import shutil
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from yun.registry.errors import RegistryError, failure_reason
from yun.registry.references import is_loopback

CONFIG_FILE = "config.yml"
PID_FILE = "registry.pid"
LOG_FILE = "registry.log"
SECRET_FILE = "http-secret"  # noqa: S105 (a file name)
LOCK_FILE = "registry.lock"
DATA_DIR = "data"


def render_config(
    *, root: Path, host: str, port: int, secret: str, htpasswd: Path | None = None
) -> str:
    """Distribution's config.yml: filesystem storage under root/data, deletes enabled."""
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root / DATA_DIR)},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
        },
        "http": {
            "addr": f"{host}:{port}",
            "secret": secret,
            "draintimeout": "5s",
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
    }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "yun-registry", "path": str(htpasswd)}}
    return yaml.safe_dump(config, sort_keys=False)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


# Registries this process spawned. Whoever stops one (maybe another object or process),
# we are its parent and must collect its exit status, or it lingers as a zombie.
_spawned: set[int] = set()


def _reap(pid: int) -> None:
    """Collect `pid`'s exit status if we spawned it, so it does not linger as a zombie."""
    if pid not in _spawned:
        return  # someone else's child: its status is not ours to take
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            _spawned.discard(pid)
    except ChildProcessError:
        _spawned.discard(pid)


def _reap_spawned() -> None:
    for pid in list(_spawned):
        _reap(pid)


def _gone(pid: int) -> bool:
    _reap(pid)
    if pid in _spawned:
        # Our child, not collected yet: its other threads may still be exiting (and holding
        # the port) even though /proc already shows the thread-group leader as a zombie.
        return False
    return not _alive(pid)


def _wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


class RegistryServer:
    """Manager of one Distribution registry whose state lives in `root`."""

    start_timeout = 15.0
    stop_timeout = 10.0

    def __init__(
        self,
        *,
        root: Path,
        port: int,
        host: str = "127.0.0.1",
        htpasswd: Path | None = None,
        binary: str = "docker-registry",
    ) -> None:
        if htpasswd is None and not is_loopback(host):
            raise ValueError(f"a registry bound to {host} needs htpasswd auth")
        self.root = Path(root).absolute()
        self.port = port
        self.host = host
        self.htpasswd = Path(htpasswd).absolute() if htpasswd else None
        self.binary = binary
        self.config_path = self.root / CONFIG_FILE
        self.pid_path = self.root / PID_FILE
        self.log_path = self.root / LOG_FILE

    @property
    def address(self) -> str:
        """host:port as image references name it (loopback when bound to every address)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    # -- queries ---------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The pid of a live registry serving this root's config, if there is one."""
        _reap_spawned()
        try:
            pid = int(self.pid_path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        if not _alive(pid):
            _reap(pid)
            return None
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        return pid if str(self.config_path).encode() in argv else None

    def running(self) -> bool:
        return self.pid() is not None

    def answers(self) -> bool:
        """Whether something speaking the distribution API answers on `url`/v2/."""
        connection = http.client.HTTPConnection(self.address, timeout=1.0)
        try:
            connection.request("GET", "/v2/")
            response = connection.getresponse()
            response.read()
            # 401 still means "up": the registry asks for credentials.
            return response.getheader("Docker-Distribution-Api-Version") is not None
        except OSError:
            return False
        finally:
            connection.close()

    # -- changes ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the registry, or adopt the one already running with the same config."""
        with self._locked():
            rendered = render_config(
                root=self.root,
                host=self.host,
                port=self.port,
                secret=self._secret(),
                htpasswd=self.htpasswd,
            )
            if self.running():
                with contextlib.suppress(OSError):
                    if self.config_path.read_text() == rendered:
                        return
                self._stop()  # no reload in Distribution: restart with the new config
            if self.htpasswd is not None and not self.htpasswd.is_file():
                raise RegistryError(f"cannot start registry: no htpasswd file {self.htpasswd}")
            self._check_port_free()
            try:
                self._write(self.config_path, rendered)
                (self.root / DATA_DIR).mkdir(exist_ok=True)
            except OSError as exc:
                raise RegistryError(f"cannot start registry: {exc}") from exc
            self._spawn()

    def stop(self) -> None:
        """Stop the registry (SIGTERM, SIGKILL after `stop_timeout`) and wait until it is gone."""
        with self._locked():
            self._stop()

    # -- internals -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.root / LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _write(path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)

    def _secret(self) -> str:
        """The http.secret, kept in root so a restart does not invalidate upload sessions."""
        path = self.root / SECRET_FILE
        with contextlib.suppress(OSError):
            secret = path.read_text().strip()
            if secret:
                return secret
        secret = secrets.token_hex(32)
        self._write(path, secret + "\n")
        return secret

    def _check_port_free(self) -> None:
        # Otherwise another registry on this port would answer /v2/ and pass for ours.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                reason = "in use" if exc.errno == errno.EADDRINUSE else exc.strerror
                raise RegistryError(
                    f"cannot start registry on {self.host}:{self.port}: {reason}"
                ) from None

    def _spawn(self) -> None:
        binary = shutil.which(self.binary)
        if binary is None:
            raise RegistryError(
                f"cannot start registry: {self.binary} is not installed"
                " (apt-get install docker-registry)"
            )
        # REGISTRY_* variables would silently override the rendered config.
        env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        pid = os.posix_spawn(
            binary,
            [binary, "serve", str(self.config_path)],
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (
                    os.POSIX_SPAWN_OPEN,
                    1,
                    str(self.log_path),
                    os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                    0o600,
                ),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,  # not in our process group: a Ctrl-C of the control plane spares it
        )
        _spawned.add(pid)
        self._write(self.pid_path, f"{pid}\n")
        if _wait_until(lambda: not _alive(pid) or self.answers(), self.start_timeout):
            if _alive(pid):
                return
            _reap(pid)
            self.pid_path.unlink(missing_ok=True)
            raise RegistryError(f"registry failed to start: {self._log_reason(log_offset)}")
        self._stop()
        raise RegistryError(
            f"registry did not answer on {self.url}/v2/ within {self.start_timeout:g} s"
        )

    def _log_reason(self, offset: int) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                log.seek(offset)
                text = log.read()
        except OSError:
            return "no log"
        return failure_reason(text) if text.strip() else "it exited without a message"

    def _stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            gone = _wait_until(lambda: _gone(pid), self.stop_timeout)
            if not gone:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                _wait_until(lambda: _gone(pid), self.stop_timeout)
        self.pid_path.unlink(missing_ok=True)
