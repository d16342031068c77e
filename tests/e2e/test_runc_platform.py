"""The platform with YUN_DRIVER=runc: instances in containers on their own bridge network,
docker-image apps from the platform registry, and droplets exported into it."""

from __future__ import annotations

import ipaddress
import json
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import EXAMPLES, YUN, Platform, launch, other_cli
from tests.e2e.test_live_config import APP as LIVE_CONFIG_APP
from tests.e2e.test_live_config import arrives
from tests.helpers import free_port
from tests.stacks import built_stack

from yun.agent import runsc
from yun.registry import RegistryServer, build_busybox_image, push, write_htpasswd
from yun.server.drivers import runc_missing
from yun.settings import Settings

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(runc_missing() is not None, reason=str(runc_missing())),
]

N = random.randrange(1, 250)
SUBNET = f"10.252.{N}.0/24"
BRIDGE = f"yune2e{N}"
PAGE = "<h1>busybox pushed as a docker image</h1>\n"
DEFAULT_STACK = Settings().default_stack


@pytest.fixture(scope="module")
def runc_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    first = random.randrange(32000, 34000, 50)
    env = {
        "YUN_DRIVER": "runc",
        "YUN_SUBNET": SUBNET,
        "YUN_BRIDGE": BRIDGE,
        "YUN_SERVICE_PORTS": f"{first}-{first + 49}",
    }
    built_stack(DEFAULT_STACK)  # built here once per machine, not inside a push
    with launch(tmp_path_factory.mktemp("runc"), env) as platform:
        yield platform
    assert not Path(f"/sys/class/net/{BRIDGE}").exists()


def instance(platform: Platform, name: str) -> dict[str, object]:
    app = json.loads(platform.cli("app", name, "--json").stdout)
    (details,) = app["processes"][0]["instance_details"]
    return dict(details)


def test_push_stages_and_runs_in_containers_behind_the_router(runc_platform: Platform) -> None:
    pushed = runc_platform.cli("push", "-p", str(EXAMPLES / "hello-python"))
    assert "Creating staging container" in pushed.stdout
    assert "Successfully installed" in pushed.stdout  # pip ran inside it, output streamed
    assert list((runc_platform.home / "staging-runc" / "sessions").iterdir()) == []
    runc_platform.wait_for("hello-python", "Hello from Yun")
    inst = instance(runc_platform, "hello-python")
    assert inst["driver"] == "runc"
    assert ipaddress.ip_address(str(inst["address"])) in ipaddress.ip_network(SUBNET)
    assert inst["port"] == 8080
    home = runc_platform.get("hello-python", "/env/HOME").text.strip()
    assert home == "/home/vcap/app"


def test_a_docker_image_from_the_platform_registry_serves_through_the_router(
    runc_platform: Platform, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    build_busybox_image(layout, "1", page=PAGE)
    registry = f"127.0.0.1:{runc_platform.env['YUN_REGISTRY_PORT']}"
    pushed = push(layout, "1", f"{registry}/e2e/busybox:1", tls_verify=False)
    assert pushed.startswith(f"{registry}/e2e/busybox@sha256:")

    out = runc_platform.cli("push", "bb", "--docker-image", f"{registry}/e2e/busybox:1").stdout
    assert "Pulled" in out  # staging output streamed: the pull is a staging step

    assert runc_platform.wait_for("bb", "busybox pushed as a docker image").status_code == 200
    inst = instance(runc_platform, "bb")
    assert inst["driver"] == "runc"
    assert ipaddress.ip_address(str(inst["address"])) in ipaddress.ip_network(SUBNET)
    assert inst["port"] == 8080  # the image's exposed port


def test_a_docker_image_from_a_private_registry_takes_credentials(
    runc_platform: Platform, tmp_path: Path
) -> None:
    htpasswd = tmp_path / "htpasswd"
    write_htpasswd(htpasswd, {"alice": "s3cret pass"}, cost=4)
    private = RegistryServer(root=tmp_path / "private", port=free_port(), htpasswd=htpasswd)
    private.start()
    try:
        layout = tmp_path / "layout"
        build_busybox_image(layout, "1", page="<h1>from the private registry</h1>\n")
        ref = f"{private.address}/team/site:1"
        push(layout, "1", ref, tls_verify=False, username="alice", password="s3cret pass")
        command = ["push", "private-bb", "--docker-image", ref, "--docker-username", "alice"]

        no_password = runc_platform.cli(*command, check=False)
        assert no_password.returncode != 0
        assert "YUN_DOCKER_PASSWORD" in no_password.stderr + no_password.stdout

        wrong = dict(runc_platform.env, YUN_DOCKER_PASSWORD="wrong")
        refused = subprocess.run(
            [YUN, *command], env=wrong, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        assert refused.returncode != 0 and "Traceback" not in refused.stderr

        right = dict(runc_platform.env, YUN_DOCKER_PASSWORD="s3cret pass")
        subprocess.run(
            [YUN, *command], env=right, check=True, capture_output=True, stdin=subprocess.DEVNULL
        )
        page = runc_platform.wait_for("private-bb", "from the private registry")
        assert page.status_code == 200
    finally:
        private.stop()


def test_a_docker_image_needs_a_reachable_image(runc_platform: Platform) -> None:
    registry = f"127.0.0.1:{runc_platform.env['YUN_REGISTRY_PORT']}"
    result = runc_platform.cli(
        "push", "ghost", "--docker-image", f"{registry}/e2e/missing:1", check=False
    )
    assert result.returncode != 0
    assert "missing" in (result.stdout + result.stderr)
    assert "Traceback" not in result.stderr


def test_droplet_export_puts_the_build_into_the_platform_registry(
    runc_platform: Platform,
) -> None:
    runc_platform.wait_for("hello-python", "Hello from Yun")
    out = runc_platform.cli("droplet", "export", "hello-python", "--json").stdout
    image = json.loads(out)["image"]
    registry = f"127.0.0.1:{runc_platform.env['YUN_REGISTRY_PORT']}"
    assert image.startswith(f"{registry}/yun/hello-python@sha256:")
    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{image}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    config = json.loads(inspected.stdout)
    assert len(config["Layers"]) >= 2  # deps and app at least
    assert any(e.startswith("PORT=8080") for e in config["Env"])


def _containers(platform: Platform) -> set[str]:
    listed = subprocess.run(
        ["runc", "--root", str(platform.home / "runc"), "list", "-q"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(listed.stdout.split())


def test_kill_9_of_the_server_keeps_containers_serving_and_adopted(
    runc_platform: Platform,
) -> None:
    hosts = {"hello-python": "Hello from Yun", "bb": "busybox pushed"}
    for host, text in hosts.items():
        runc_platform.wait_for(host, text)
    before = _containers(runc_platform)
    assert len(before) >= 2
    registry_pid = (runc_platform.home / "registry" / "registry.pid").read_text().split()[0]
    failures: list[object] = []
    served = 0
    stop = threading.Event()

    def hammer() -> None:
        nonlocal served
        while not stop.is_set():
            for host, text in hosts.items():
                try:
                    response = runc_platform.get(host)
                    served += 1
                    if response.status_code != 200 or text not in response.text:
                        failures.append((host, response.status_code))
                except Exception as exc:
                    failures.append((host, exc))
            time.sleep(0.02)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        assert runc_platform.proc is not None
        runc_platform.proc.kill()  # SIGKILL: no clean shutdown at all
        runc_platform.proc.wait(10)
        runc_platform.proc = None
        time.sleep(1)
        runc_platform.start()
        time.sleep(3)  # the new server adopts and reconciles while requests go on
    finally:
        stop.set()
        thread.join()
    assert served > 20
    assert failures == []
    assert _containers(runc_platform) == before
    again = (runc_platform.home / "registry" / "registry.pid").read_text().split()[0]
    assert again == registry_pid  # adopted, not restarted


def test_an_app_past_its_memory_is_killed_as_out_of_memory_and_others_serve_on(
    runc_platform: Platform, tmp_path: Path
) -> None:
    app = tmp_path / "hog"
    app.mkdir()
    (app / "hog.py").write_text(
        "import time\nheld = []\nwhile True:\n    held.append(bytearray(8 << 20))\n"
        "    time.sleep(0.01)\n"
    )
    (app / "Procfile").write_text("web: python3 hog.py\n")  # the binary buildpack runs it
    runc_platform.cli(
        "push",
        "hog",
        "-p",
        str(app),
        "-m",
        "64M",
        "-c",
        "python3 hog.py",
        "-u",
        "process",
        "--no-route",
        "--no-start",
    )
    runc_platform.cli("start", "hog", check=False)  # it never becomes healthy for long
    deadline = time.monotonic() + 90
    events, reasons = "", set()
    while time.monotonic() < deadline and not ("out of memory" in events and reasons):
        time.sleep(1)
        events = runc_platform.cli("events", "hog", "--json").stdout
        details = json.loads(runc_platform.cli("app", "hog", "--json").stdout)
        instances = [i for p in details["processes"] for i in p["instance_details"]]
        reasons = {i["reason"] for i in instances if i["state"] == "CRASHED"} - {None}
    assert "out of memory" in events  # `yun events`: each crash with its reason
    assert reasons == {"out of memory"}  # `yun app`: the crashed instance says why
    assert "Hello from Yun" in runc_platform.get("hello-python").text  # a sibling serves on
    runc_platform.cli("delete", "hog", "-f")


def test_an_app_in_a_container_reaches_its_built_in_services(runc_platform: Platform) -> None:
    """The services' servers run on the host; a container reaches them through the bridge."""
    runc_platform.cli("push", "-p", str(EXAMPLES / "services-demo"))  # a hang: stacks in the log
    host = "services-demo"

    def call(method: str, path: str, body: str = "") -> object:
        return runc_platform.call(host, method, path, body)

    assert instance(runc_platform, host)["driver"] == "runc"
    call("POST", "/notes", "from a container")
    assert call("GET", "/notes") == {"notes": ["from a container"]}
    assert call("POST", "/counter") == {"counter": 1}
    runc_platform.cli("delete", host, "-f")
    for service in ("demo-db", "demo-cache"):
        runc_platform.cli("delete-service", service, "-f")


# An instance's view of the network: /resolve?name= (getaddrinfo), /fetch?url= (an HTTP GET),
# /connect?host=&port= (a TCP connection), and / (its index).
PROBE = """\
import json, os, socket, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit


def answer(path, query):
    if path == "/resolve":
        try:
            infos = socket.getaddrinfo(query["name"][0], 8080, socket.AF_INET)
            found = sorted({info[4][0] for info in infos})
        except OSError as exc:
            found = str(exc)
        return {"addresses": found, "resolv.conf": open("/etc/resolv.conf").read()}
    try:
        if path == "/fetch":
            with urllib.request.urlopen(query["url"][0], timeout=2) as got:
                return {"status": got.status, "body": got.read().decode()}
        socket.create_connection((query["host"][0], int(query["port"][0])), 2).close()
        return {"connected": True}
    except OSError as exc:
        return {"error": str(exc)}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        if url.path in ("/resolve", "/fetch", "/connect"):
            body = json.dumps(answer(url.path, parse_qs(url.query)))
        else:
            body = "index " + os.environ["CF_INSTANCE_INDEX"]
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def push_probes(platform: Platform, tmp_path: Path, first: str) -> None:
    """Push the probe app as `first` and as `backend`, reached as backend.apps.internal."""
    for name in (first, "backend"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "app.py").write_text(PROBE)
        (folder / "Procfile").write_text("web: python3 app.py\n")
        (folder / "manifest.yml").write_text(f"applications:\n- name: {name}\n  memory: 128M\n")
        platform.cli("push", "-p", str(folder))
    platform.cli("map-route", "backend", "apps.internal", "--hostname", "backend")


def test_a_container_resolves_internal_names_to_each_instance_as_it_scales(
    runc_platform: Platform, tmp_path: Path
) -> None:
    """Instances use the platform's DNS: NAME.apps.internal gives the address of each
    healthy instance of the app mapped to it, following scale 1 → 3 → 1."""
    push_probes(runc_platform, tmp_path, "lookup")

    def seen() -> dict[str, object]:
        answer = runc_platform.get("lookup", "/resolve?name=backend.apps.internal")
        return dict(json.loads(answer.text))

    def addresses_of_backend() -> list[str]:
        app = json.loads(runc_platform.cli("app", "backend", "--json").stdout)
        details = app["processes"][0]["instance_details"]
        return sorted(str(i["address"]) for i in details if i["state"] == "RUNNING")

    def settles(count: int) -> list[str]:
        deadline = time.monotonic() + 60
        while True:
            running = addresses_of_backend()
            found = seen()["addresses"]
            if len(running) == count and found == running:
                return running
            assert time.monotonic() < deadline, (running, found)
            time.sleep(0.5)

    try:
        first = seen()
        assert "nameserver 10.252." in str(first["resolv.conf"])  # the bridge's own address
        assert len(settles(1)) == 1
        runc_platform.cli("scale", "backend", "-i", "3")
        assert len(set(settles(3))) == 3
        runc_platform.cli("scale", "backend", "-i", "1")
        assert len(settles(1)) == 1
        missing = runc_platform.get("lookup", "/resolve?name=nobody.apps.internal").json()
        assert isinstance(missing["addresses"], str)  # NXDOMAIN: getaddrinfo's error
    finally:
        for name in ("lookup", "backend"):
            runc_platform.cli("delete", name, "-f", check=False)
        runc_platform.cli("delete-route", "apps.internal", "-n", "backend", "-f", check=False)


def test_apps_reach_each_other_only_while_a_network_policy_allows_it(
    runc_platform: Platform, tmp_path: Path
) -> None:
    """Two apps on the bridge: the caller's request to backend.apps.internal:8080 fails until
    `add-network-policy caller --destination-app backend`, and again after the removal. A
    service bound to the backend is reached by the backend's instance, not by the caller's."""
    push_probes(runc_platform, tmp_path, "caller")
    url = "/fetch?url=http://backend.apps.internal:8080/"

    def fetched() -> dict[str, object]:
        return dict(runc_platform.get("caller", url, timeout=10).json())

    def settles(allowed: bool) -> dict[str, object]:
        deadline = time.monotonic() + 30
        while True:
            answer = fetched()
            if ("status" in answer) == allowed:
                return answer
            assert time.monotonic() < deadline, answer
            time.sleep(0.5)

    try:
        assert "error" in fetched()  # denied by default, though the name resolves
        added = runc_platform.cli("add-network-policy", "caller", "--destination-app", "backend")
        assert "Added network policy from caller to backend (tcp port 8080)" in added.stdout
        listed = runc_platform.cli("network-policies").stdout
        assert [line.split()[:4] for line in listed.splitlines() if "caller" in line] == [
            ["caller", "backend", "tcp", "8080"]
        ]
        assert settles(allowed=True) == {"status": 200, "body": "index 0"}
        removed = runc_platform.cli(
            "remove-network-policy", "caller", "--destination-app", "backend"
        )
        assert "Removed network policy" in removed.stdout
        assert "error" in settles(allowed=False)
        wrong = runc_platform.cli(
            "add-network-policy", "caller", "backend", "--port", "http", check=False
        )
        assert wrong.returncode != 0 and "ports" in wrong.stderr

        runc_platform.cli("create-service", "redis", "small", "backend-cache")
        runc_platform.cli("bind-service", "backend", "backend-cache")
        runc_platform.cli("create-service-key", "backend-cache", "probe")  # the same server
        credentials = json.loads(runc_platform.cli("service-key", "backend-cache", "probe").stdout)
        connect = f"/connect?host={credentials['host']}&port={credentials['port']}"
        deadline = time.monotonic() + 30
        while "connected" not in runc_platform.get("backend", connect, timeout=10).json():
            assert time.monotonic() < deadline, "the bound app never reached its service"
            time.sleep(0.5)
        assert "error" in runc_platform.get("caller", connect, timeout=10).json()
    finally:
        for name in ("caller", "backend"):
            runc_platform.cli("delete", name, "-f", check=False)
        runc_platform.cli("delete-service", "backend-cache", "-f", check=False)
        runc_platform.cli("delete-route", "apps.internal", "-n", "backend", "-f", check=False)


def test_a_container_follows_its_live_configuration(
    runc_platform: Platform, tmp_path: Path
) -> None:
    """In a container the file is at /lifecycle/credentials/config.json and the stream on
    the bridge's address, reached with the instance's own certificate."""
    folder = tmp_path / "liveconf"
    folder.mkdir()
    (folder / "app.py").write_text(LIVE_CONFIG_APP)
    (folder / "Procfile").write_text("web: python3 app.py\n")
    runc_platform.cli("push", "liveconf", "-p", str(folder))
    try:
        runc_platform.wait_for("liveconf", "instance")
        runc_platform.cli("config", "set", "liveconf", "COLOR", "blue")
        first = arrives(runc_platform, "blue", 10)
        runc_platform.cli("config", "set", "liveconf", "COLOR", "green")
        assert arrives(runc_platform, "green", 2)["instance"] == first["instance"]
    finally:
        runc_platform.cli("delete", "liveconf", "-f", check=False)


KERNEL_APP = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Kernel(BaseHTTPRequestHandler):
    def do_GET(self):
        with open("/proc/version") as f:
            body = f.read().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Kernel).serve_forever()
"""


def test_a_space_under_gvisor_runs_its_apps_on_gvisors_kernel(
    runc_platform: Platform, tmp_path: Path
) -> None:
    if runsc.find() is None:
        pytest.skip("gVisor's runsc is not built here (make runsc)")
    assert runc_platform.cli("create-space", "sandboxed").returncode == 0
    set_ = runc_platform.cli("set-space-runtime", "main", "sandboxed", "gvisor")
    assert set_.stdout.strip() == "Space main/sandboxed now runs its apps under gvisor."
    listed = [line.split() for line in runc_platform.cli("spaces").stdout.splitlines()]
    assert ["sandboxed", "0", "0", "0", "gvisor"] in [row[:5] for row in listed]
    yun = other_cli(runc_platform, tmp_path / "cli")
    api = f"http://127.0.0.1:{runc_platform.api_port}"
    assert yun("login", "-a", api, "-u", "admin", "-p", "e2e-secret").returncode == 0
    assert yun("target", "-o", "main", "-s", "sandboxed").returncode == 0
    app = tmp_path / "kernel"
    app.mkdir()
    (app / "app.py").write_text(KERNEL_APP)
    (app / "Procfile").write_text("web: python app.py\n")
    (app / "requirements.txt").write_text("")
    pushed = yun("push", "kernel", "-p", str(app))
    assert pushed.returncode == 0, pushed.stderr
    answer = runc_platform.wait_for("kernel", "Linux version")
    assert "gvisor" in answer.text
    shown = yun("app", "kernel").stdout
    assert "runtime:   gvisor" in shown
    assert yun("delete", "kernel", "-f").returncode == 0
