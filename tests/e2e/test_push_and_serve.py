"""Push apps through the CLI and use them through the router, as a user would."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from tests.e2e.conftest import EXAMPLES, YUN, Platform

pytestmark = pytest.mark.e2e


def app_json(platform: Platform, name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(platform.cli("app", name, "--json").stdout)


def web_instances(platform: Platform, name: str) -> list[dict]:  # type: ignore[type-arg]
    app = app_json(platform, name)
    web = next(p for p in app["processes"] if p["type"] == "web")
    return list(web["instance_details"])


def wait_instances(platform: Platform, name: str, count: int, timeout: float = 60) -> list[dict]:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        insts = web_instances(platform, name)
        if len([i for i in insts if i["state"] == "RUNNING"]) == count:
            return insts
        time.sleep(0.5)
    raise AssertionError(f"{name} never had {count} running instances: {insts}")


def test_push_hello_python_serves_through_router(platform: Platform) -> None:
    result = platform.cli("push", "-p", str(EXAMPLES / "hello-python"))
    assert "hello-python.apps.localhost" in result.stdout
    response = platform.wait_for("hello-python", "Hello from Yun")
    assert response.headers.get("content-type", "").startswith("text/")
    listing = {a["name"]: a for a in json.loads(platform.cli("apps", "--json").stdout)}
    assert listing["hello-python"]["state"] == "STARTED"  # (other modules' apps share the space)


def test_repush_of_unchanged_app_uploads_nothing(platform: Platform) -> None:
    result = platform.cli("push", "-p", str(EXAMPLES / "hello-python"))
    assert ": 0 new (0.0 KiB)" in result.stdout, result.stdout
    platform.wait_for("hello-python", "Hello from Yun", timeout=5)


def test_app_shows_memory_and_disk_use_of_each_instance(platform: Platform) -> None:
    (inst,) = wait_instances(platform, "hello-python", 1)
    assert inst["memory_limit_bytes"] == 128 * 1024 * 1024  # the manifest's memory: 128M
    assert 0 < inst["memory_bytes"] < inst["memory_limit_bytes"]
    assert 0 < inst["disk_bytes"] < inst["disk_quota_bytes"]
    wide = {**platform.env, "COLUMNS": "200"}  # one line per instance, as in a wide terminal
    shown = subprocess.run(
        [YUN, "app", "hello-python"], env=wide, capture_output=True, text=True, timeout=60
    ).stdout
    row = next(line for line in shown.splitlines() if line.split()[:2] == ["0", "running"])
    assert re.search(r" [1-9][0-9.]*[KMG] of 128M ", row), row
    assert re.search(r" [1-9][0-9.]*[KMG] of 1G ", row), row
    assert f"{inst['address']}:{inst['port']}" in row


def test_unknown_host_is_404_with_router_header(platform: Platform) -> None:
    response = platform.get("no-such-app")
    assert response.status_code == 404
    assert response.headers["X-Yun-Router-Error"] == "unknown_route"


def test_logs_show_staging_app_and_router_lines(platform: Platform) -> None:
    platform.wait_for("hello-python", "Hello from Yun")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        out = platform.cli("logs", "hello-python", "--recent").stdout
        if "[RTR" in out and "[STG" in out and "[APP/PROC/WEB" in out:
            break
        platform.get("hello-python")
        time.sleep(0.5)
    assert "[STG" in out and "[APP/PROC/WEB" in out and "[RTR" in out, out


def test_live_tail_shows_new_requests(platform: Platform) -> None:
    command = [YUN, "logs", "hello-python"]
    with subprocess.Popen(
        command, env=platform.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as tail:
        try:
            time.sleep(1.5)
            platform.get("hello-python", "/env/HOME")
            deadline = time.monotonic() + 20
            seen = ""
            assert tail.stdout is not None
            while time.monotonic() < deadline:
                line = tail.stdout.readline()
                seen += line
                if "[RTR" in line and "/env/HOME" in line:
                    break
            assert "[RTR" in seen and "/env/HOME" in seen, seen
        finally:
            tail.terminate()
            tail.wait(10)


def test_scale_to_three_serves_from_three_instances(platform: Platform) -> None:
    platform.cli("scale", "hello-python", "-i", "3")
    wait_instances(platform, "hello-python", 3)
    seen = set()
    for _ in range(60):
        text = platform.get("hello-python").text
        seen.add(text.strip().rsplit(" ", 1)[-1])
        if len(seen) == 3:
            break
    assert seen == {"0", "1", "2"}


def test_killed_instance_is_replaced_while_requests_succeed(platform: Platform) -> None:
    insts = wait_instances(platform, "hello-python", 3)
    victim = next(i for i in insts if i["index"] == 1)
    failures: list[object] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                response = platform.get("hello-python")
                if response.status_code != 200:
                    failures.append(response.status_code)
            except Exception as exc:
                failures.append(exc)
            time.sleep(0.02)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        time.sleep(0.5)
        os.kill(victim["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = {i["index"]: i for i in web_instances(platform, "hello-python")}
            if now[1]["state"] == "RUNNING" and now[1]["pid"] != victim["pid"]:
                break
            time.sleep(0.3)
        else:
            raise AssertionError("instance 1 was not replaced")
    finally:
        stop.set()
        thread.join()
    assert failures == []
    events = json.loads(platform.cli("events", "hello-python", "--json").stdout)
    crash = [e for e in events if e["type"] == "app.crash"]
    assert crash and crash[0]["data"]["index"] == 1


def test_set_env_takes_effect_after_restart(platform: Platform) -> None:
    platform.cli("set-env", "hello-python", "GREETING", "bonjour")
    assert "GREETING: bonjour" in platform.cli("env", "hello-python").stdout
    platform.cli("restart", "hello-python")
    platform.wait_for("hello-python", "bonjour", path="/env/GREETING")
    platform.cli("unset-env", "hello-python", "GREETING")
    assert "GREETING" not in platform.cli("env", "hello-python").stdout


def test_failed_staging_keeps_old_release_serving(platform: Platform, tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("nothing any buildpack recognises\n")
    result = platform.cli("push", "hello-python", "-p", str(tmp_path), check=False)
    assert result.returncode != 0
    assert "staging failed" in result.stderr
    assert "Traceback" not in result.stderr
    platform.wait_for("hello-python", "Hello from Yun", timeout=5)


def test_bad_manifest_is_one_clear_error_and_creates_nothing(
    platform: Platform, tmp_path: Path
) -> None:
    (tmp_path / "manifest.yml").write_text(
        "applications:\n- name: ok-app\n- name: bad-app\n  memory: 12Q\n"
    )
    result = platform.cli("push", "-p", str(tmp_path), check=False)
    assert result.returncode == 1
    assert 'manifest.yml: applications[1].memory: "12Q"' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    names = [a["name"] for a in json.loads(platform.cli("apps", "--json").stdout)]
    assert "ok-app" not in names and "bad-app" not in names


def test_node_and_static_apps(platform: Platform) -> None:
    platform.cli("push", "-p", str(EXAMPLES / "hello-node"))
    platform.wait_for("hello-node", "(node v")
    platform.cli("push", "-p", str(EXAMPLES / "hello-static"))
    platform.wait_for("hello-static", "<html")


def test_worker_without_route_runs(platform: Platform) -> None:
    platform.cli("push", "-p", str(EXAMPLES / "worker-python"))
    app = app_json(platform, "worker-python")
    assert app["routes"] == []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = platform.cli("logs", "worker-python", "--recent").stdout
        if "[APP/PROC/" in out and "tick" in out:
            break
        time.sleep(0.5)
    assert "tick" in out


def test_app_that_crashes_at_start_reports_crash(platform: Platform) -> None:
    result = platform.cli("push", "-p", str(EXAMPLES / "crash-at-start"), check=False)
    assert result.returncode != 0
    assert "crashed" in result.stderr
    events = json.loads(platform.cli("events", "crash-at-start", "--json").stdout)
    crashes = [e for e in events if e["type"] == "app.crash"]
    assert crashes and crashes[0]["data"]["exit_status"] == 1


def test_delete_then_route_is_404(platform: Platform) -> None:
    platform.cli("delete", "hello-static", "-f")
    deadline = time.monotonic() + 20
    while platform.get("hello-static").status_code != 404 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert platform.get("hello-static").status_code == 404
    assert platform.cli("app", "hello-static", check=False).returncode == 1


def test_restarting_server_keeps_apps_served(platform: Platform) -> None:
    before = {i["index"]: i["pid"] for i in wait_instances(platform, "hello-python", 3)}
    failures: list[object] = []
    count = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal count
        while not stop.is_set():
            try:
                response = platform.get("hello-python")
                count += 1
                if response.status_code != 200:
                    failures.append(response.status_code)
            except Exception as exc:
                failures.append(exc)
            time.sleep(0.02)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        platform.stop_server()
        time.sleep(1)
        platform.start()
        time.sleep(2)
    finally:
        stop.set()
        thread.join()
    assert count > 10
    assert failures == []
    after = {i["index"]: i["pid"] for i in wait_instances(platform, "hello-python", 3)}
    assert after == before


def test_server_stop_all_stops_instances_and_router(platform: Platform) -> None:
    pids = [i["pid"] for i in wait_instances(platform, "hello-python", 3)]
    haproxy_pid = int((platform.home / "router" / "haproxy.pid").read_text().split()[0])
    platform.cli("server", "stop", "--all")
    assert platform.proc is not None
    platform.proc.wait(30)
    platform.proc = None
    for pid in [*pids, haproxy_pid]:
        assert not _alive(pid), f"pid {pid} still running"
    platform.start()  # the session's platform, for the tests of later modules


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"
