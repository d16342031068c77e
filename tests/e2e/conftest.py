"""A real `yun server` (API, controllers, agent, HAProxy) on free loopback ports, driven by the CLI.

One server per test session: pushing and staging are the slow parts, so tests share it and
each test uses its own app names.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.helpers import free_port
from tests.stacks import shared_stacks_dir

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
YUN = str(Path(sys.executable).parent / "yun")


@dataclass
class Platform:
    home: Path
    env: dict[str, str]
    api_port: int
    router_port: int
    https_port: int
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)

    @property
    def api_url(self) -> str:
        scheme = "https" if self.env.get("YUN_TLS_CERT") else "http"
        return f"{scheme}://127.0.0.1:{self.api_port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What trusts the API's certificate: the test's own, self-signed."""
        cert = self.env.get("YUN_TLS_CERT")
        return ssl.create_default_context(cafile=cert) if cert else True

    def cli(
        self, *args: str, check: bool = True, timeout: float = 280, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `yun ARGS`; the default timeout is under pytest's, so that a hang is reported
        here with the server's thread stacks in its log tail."""
        try:
            result = subprocess.run(
                [YUN, *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            self.dump_threads()
            raise AssertionError(
                f"yun {' '.join(args)} took more than {timeout:g}s\n"
                f"server log tail:\n{self.server_log_tail(400)}"
            ) from None
        if check and result.returncode != 0:
            self.dump_threads()
            raise AssertionError(
                f"yun {' '.join(args)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n"
                f"server log tail:\n{self.server_log_tail()}"
            )
        return result

    def get(self, host: str, path: str = "/", timeout: float = 5.0) -> httpx.Response:
        return httpx.get(
            f"http://127.0.0.1:{self.router_port}{path}",
            headers={"Host": f"{host}.apps.localhost"},
            timeout=timeout,
        )

    def call(self, host: str, method: str, path: str, body: str = "") -> Any:
        """An app's JSON answer to a request through the router; it must be a 200."""
        response = httpx.request(
            method,
            f"http://127.0.0.1:{self.router_port}{path}",
            headers={"Host": f"{host}.apps.localhost"},
            content=body,
            timeout=15,
        )
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [YUN, "server"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.server_log_tail()
                taken = "already in use" in tail.lower()
                raise (PortTaken if taken else AssertionError)(f"yun server exited:\n{tail}")
            try:  # this server's answer, not another process's on a port it was given
                info = httpx.get(f"{self.api_url}/v3/info", timeout=1, verify=self.verify)
                if info.status_code == 200 and info.json().get("name") == "yun":
                    time.sleep(0.3)  # a server that could not bind its API port exits now
                    if self.proc.poll() is None:
                        return
                    continue
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"yun server did not answer:\n{self.server_log_tail()}")

    def stop_server(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def dump_threads(self) -> None:
        """Have the server write its threads' stacks into its log (SIGUSR1), for a failure."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            time.sleep(0.5)

    def server_log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_for(
        self, host: str, expect: str, timeout: float = 60.0, path: str = "/"
    ) -> httpx.Response:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                response = self.get(host, path)
                if response.status_code == 200 and expect in response.text:
                    return response
                last = (response.status_code, response.text[:200])
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.3)
        raise AssertionError(f"{host}{path} never answered {expect!r}; last: {last}")


def other_cli(platform: Platform, config: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`yun` with a config directory of its own: another person's CLI (their login, target)."""
    env = {**platform.env, "YUN_CONFIG_DIR": str(config)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [YUN, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=280,
            stdin=subprocess.DEVNULL,
        )

    return run


class PortTaken(AssertionError):
    """The server could not bind one of the free ports it was given."""


def _platform(base: Path, home: Path, extra_env: dict[str, str] | None) -> Platform:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUN_")}
    api_port, router_port, https_port = free_port(), free_port(), free_port()
    env.update(
        {
            "YUN_HOME": str(home),
            "YUN_CONFIG_DIR": str(base / "config"),
            "YUN_API_PORT": str(api_port),
            "YUN_ROUTER_PORT": str(router_port),
            "YUN_ROUTER_HTTPS_PORT": str(https_port),
            "YUN_REGISTRY_PORT": str(free_port()),
            "YUN_DNS_PORT": str(free_port()),  # the internal DNS on loopback too
            "YUN_CONFIG_PORT": str(free_port()),  # live configuration's watch endpoint
            "YUN_DRIVER": "process",  # the runc platform tests ask for runc themselves
            "YUN_STACKS_DIR": str(shared_stacks_dir()),  # built once per machine
            "YUN_ADMIN_PASSWORD": "e2e-secret",
            "YUN_METRICS_INTERVAL": "2",  # metrics tests see samples without waiting long
            "YUN_API_URL": f"http://127.0.0.1:{api_port}",
            **(extra_env or {}),
        }
    )
    if env.get("YUN_TLS_CERT"):
        env["YUN_API_URL"] = f"https://127.0.0.1:{api_port}"
    return Platform(
        home=home,
        env=env,
        api_port=api_port,
        router_port=router_port,
        https_port=https_port,
        log_path=base / "server.log",
    )


@contextmanager
def launch(base: Path, extra_env: dict[str, str] | None = None) -> Iterator[Platform]:
    """A logged-in `yun server` with its own home, config and free ports under `base`."""
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (make test installs it)")
    home = base / "home"
    home.mkdir()
    for attempt in range(3):
        plat = _platform(base, home, extra_env)
        try:
            plat.start()
            break
        except PortTaken:  # another process took a port between free_port() and the bind
            subprocess.run(
                [YUN, "server", "stop", "--all"], env=plat.env, capture_output=True, check=False
            )
            if attempt == 2:
                raise
        except BaseException:  # whatever stopped the start, nothing it started outlives it
            plat.stop_server()
            subprocess.run(
                [YUN, "server", "stop", "--all"], env=plat.env, capture_output=True, check=False
            )
            raise
    env = plat.env
    try:
        plat.cli("login", "-a", plat.api_url, "-u", "admin", "-p", "e2e-secret")
        yield plat
    finally:
        plat.stop_server()
        subprocess.run(
            [YUN, "server", "stop", "--all"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with launch(tmp_path_factory.mktemp("yun")) as plat:
        yield plat


OBSERVED = Path(__file__).parents[1] / "apps" / "observed"


def push_observed(platform: Platform, folder: Path, name: str) -> Path:
    """A copy of tests/apps/observed (a Procfile app that logs each request's trace) in
    `folder`, pushed as `name` with 128M and answering; the copy, for later pushes."""
    copy = folder / name
    shutil.copytree(OBSERVED, copy)
    platform.cli("push", name, "-p", str(copy), "-m", "128M")
    platform.wait_for(name, "observed")
    return copy
