"""TCP routes (Stackato's harbor) as a user drives them: `yun create-route --tcp`, raw TCP
through the router to every instance, `yun routes`, `yun delete-route --tcp`."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator

import pytest
from tests.e2e.conftest import EXAMPLES, Platform, launch
from tests.helpers import free_port

pytestmark = pytest.mark.e2e

APP = "tcp-echo"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A server of its own (the session's is stopped by the tests that share it), whose TCP
    route range is one port, free now."""
    ports = {"YUN_TCP_PORTS": str(free_port())}
    with launch(tmp_path_factory.mktemp("tcp"), ports) as plat:
        yield plat


def ask(port: int, text: str) -> str:
    """One line over a fresh connection to the router's TCP port; '' when nothing answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(text.encode() + b"\n")
            return sock.makefile("rb").readline().decode().strip()
    except OSError:
        return ""


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=3).close()
    except ConnectionRefusedError:
        return True
    return False


def test_a_tcp_route_reaches_every_instance(platform: Platform) -> None:
    platform.cli("push", "-p", str(EXAMPLES / APP))
    try:
        _check_tcp_route(platform)
    finally:
        platform.cli("delete", APP, "-f", check=False)


def _check_tcp_route(platform: Platform) -> None:
    http_only = platform.cli("create-route", APP, check=False)  # without --tcp: a domain
    assert http_only.returncode == 1
    assert f"domain '{APP}' not found" in http_only.stderr
    assert len(http_only.stderr.strip().splitlines()) == 1

    created = platform.cli("create-route", "--tcp", APP)
    found = re.search(r"TCP route tcp://127\.0\.0\.1:(\d+) → tcp-echo \(name tcp;", created.stdout)
    assert found, created.stdout
    assert "$STACKATO_HARBOR" in created.stdout
    port = int(found.group(1))
    assert platform.env["YUN_TCP_PORTS"] == str(port)  # the range's only port

    again = platform.cli("create-route", "--tcp", APP)  # the same route, not a second one
    assert f"tcp://127.0.0.1:{port}" in again.stdout
    full = platform.cli("create-route", "--tcp", APP, "--name", "other", check=False)
    assert full.returncode == 1 and "no free TCP route port left" in full.stderr
    bad = platform.cli("create-route", "--tcp", APP, "--name", "two words", check=False)
    assert bad.returncode == 2 and "TCP route name 'two words'" in bad.stderr

    listed = platform.cli("routes").stdout
    assert re.search(rf"tcp://127\.0\.0\.1:{port}\s+tcp-echo\s+name=tcp", listed), listed
    as_json = json.loads(platform.cli("routes", "--json").stdout)
    assert {"url": f"tcp://127.0.0.1:{port}", "app": APP, "name": "tcp"}.items() <= next(
        r for r in as_json if r["url"].startswith("tcp://")
    ).items()

    # The instances restart to listen on $STACKATO_HARBOR; then connections go to both.
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while seen != {"0", "1"} and time.monotonic() < deadline:
        answer = ask(port, "hello")
        if answer.endswith(": hello"):
            seen.add(answer.split(":")[0])
        else:
            time.sleep(0.3)
    assert seen == {"0", "1"}, f"answers came from instances {seen}\n{platform.server_log_tail()}"
    shown = platform.cli("app", APP).stdout
    assert f"tcp routes: tcp://127.0.0.1:{port} (tcp)" in shown, shown
    platform.wait_for(APP, "tcp-echo instance", timeout=30)  # HTTP still served

    missing = platform.cli("delete-route", "--tcp", APP, "--name", "nope", check=False)
    assert missing.returncode == 1 and "no TCP route named nope" in missing.stderr
    deleted = platform.cli("delete-route", "--tcp", APP)
    assert f"tcp://127.0.0.1:{port}" in deleted.stdout
    deadline = time.monotonic() + 20
    while not refused(port):
        assert time.monotonic() < deadline, "the router still holds the deleted route's port"
        time.sleep(0.2)
    assert "tcp://" not in platform.cli("routes").stdout
