"""Helpers of the runc driver's integration tests: a droplet whose app reports what it can see
and do from inside its container, and a driver wrapper that always deletes what it started."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.helpers import write_droplet
from tests.integration.agent.agent_world import spec, wait_for

from yun.agent import Handle, InstanceSpec
from yun.agent.drivers.runc import RuncDriver
from yun.agent.env import instance_environment

LAUNCHER = Path(__file__).resolve().parents[3] / "src/yun/builder/launcher.sh"

# Answers /check with what the container lets it see and do.
SERVER = r"""
import json, os, socket, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

PROBES = ["/usr/yun-probe", "/etc/yun-probe", "/etc/passwd", "/yun-probe", "/lifecycle/launcher.sh",
          "/home/vcap/app/yun-probe", "/tmp/yun-probe", "/lifecycle/credentials/yun-probe",
          "/dev/stdout"]

def try_write(path):
    try:
        with open(path, "a") as f:
            f.write("x")
        return "written"
    except OSError as exc:
        return exc.strerror

def try_read(path):
    try:
        with open(path, "rb") as f:
            f.read(100)
        return "read"
    except OSError as exc:
        return exc.strerror

def try_unix(path):
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(1)
            s.connect(path)
        return "connected"
    except OSError as exc:
        return exc.strerror

def try_call(name):
    # A call the container's seccomp filter refuses, made harmlessly: its errno, or "allowed".
    import ctypes, errno
    libc = ctypes.CDLL(None, use_errno=True)
    if name == "unshare":
        result = libc.unshare(0x10000000)  # CLONE_NEWUSER: needs no privilege without a filter
    elif name == "mount":
        result = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
    else:  # keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0): the session keyring
        number = {"x86_64": 250, "aarch64": 219}[os.uname().machine]
        result = libc.syscall(number, 0, -3, 0)
    return "allowed" if result != -1 else errno.errorcode[ctypes.get_errno()]

def interfaces():
    # the container's own network namespace's, as its /proc shows them
    lines = open("/proc/net/dev").read().splitlines()[2:]
    return sorted(line.split(":")[0].strip() for line in lines)

def try_thread():
    import threading
    ran = []
    try:
        worker = threading.Thread(target=ran.append, args=["ran"])
        worker.start()
        worker.join()
    except RuntimeError as exc:
        return str(exc)
    return ran[0]

def check():
    status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines())
    return {
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "uid": os.getuid(),
        "cap_eff": status["CapEff"].strip(),
        "no_new_privs": status["NoNewPrivs"].strip(),
        "hostname": socket.gethostname(),
        "writes": {path: try_write(path) for path in PROBES},
        "interfaces": interfaces(),
        "cwd": os.getcwd(),
        "syscalls": {name: try_call(name) for name in ("unshare", "mount", "keyctl")},
        "trusted": sorted(
            dict(part[0] for part in cert["subject"]).get("commonName", "")
            for cert in __import__("ssl").create_default_context().get_ca_certs()
        ),
        "identity": {
            name: try_read(os.environ[name]) if name in os.environ else "unset"
            for name in ("CF_INSTANCE_CERT", "CF_INSTANCE_KEY")
        },
        "uid_map": open("/proc/self/uid_map").read().split(),
        "kernel": open("/proc/version").read(),
        "thread": try_thread(),
    }

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/check":
            body = json.dumps(check())
        elif self.path == "/env":
            body = json.dumps(dict(os.environ))
        elif self.path.startswith("/reach?"):
            query = parse_qs(urlsplit(self.path).query)
            body = json.dumps({
                "read": {p: try_read(p) for p in query.get("read", [])},
                "unix": {p: try_unix(p) for p in query.get("unix", [])},
            })
        elif self.path == "/file":
            body = open("migrated.txt").read()
        elif self.path == "/crash":
            os._exit(3)
        else:
            body = "hello from " + socket.gethostname()
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        print("request " + self.path, flush=True)

print("listening on", os.environ["PORT"], flush=True)
HTTPServer((os.environ["CF_INSTANCE_IP"], int(os.environ["PORT"])), Handler).serve_forever()
"""

HOG = r"""
import time
chunks = []
while True:
    chunks.append(b"x" * (16 * 1024 * 1024))
    time.sleep(0.01)
"""

FILL = r"""
import os, time
with open("blob.bin", "wb") as f:
    for _ in range(24):
        f.write(os.urandom(1024 * 1024))
    f.flush()
    os.fsync(f.fileno())
print("wrote 24 MiB", flush=True)
time.sleep(60)
"""


def make_droplet(path: Path) -> Path:
    files = {
        "app/server.py": SERVER,
        "app/hog.py": HOG,
        "app/fill.py": FILL,
        "staging_info.json": json.dumps({"start_command": "python3 server.py"}),
    }
    return write_droplet(path, files)


def runc_spec(droplet: Path, **changes: Any) -> InstanceSpec:
    return spec(droplet, **changes)


@dataclass
class Containers:
    """Starts instances through a RuncDriver; `cleanup` deletes every container and dir left."""

    root: Path
    runc: str
    runsc: str | None = None  # gVisor's, for instances of the gvisor runtime
    driver: RuncDriver = field(init=False)
    started: list[tuple[RuncDriver, Handle]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.driver = self.new_driver(disk_check_interval=0.2)

    def new_driver(self, **options: Any) -> RuncDriver:
        options.setdefault("runsc", self.runsc)
        return RuncDriver(LAUNCHER, state_root=self.root / "runc", runc=self.runc, **options)

    def start(
        self,
        instance: InstanceSpec,
        *,
        driver: RuncDriver | None = None,
        credentials: Path | None = None,
    ) -> Handle:
        driver = driver or self.driver
        guid = f"{instance.slot.replace(':', '-')}-{len(self.started)}-{time.monotonic_ns()}"
        env = instance_environment(instance, instance_guid=guid)
        run_dir = self.root / "instances" / guid
        handle = driver.start(instance, run_dir=run_dir, env=env, credentials=credentials)
        self.started.append((driver, handle))
        return handle

    def _runtimes(self) -> list[tuple[str, Path]]:
        """Each runtime's program and state root (runsc's beside runc's, as the driver has it)."""
        found = [(self.runc, self.root / "runc")]
        if self.runsc is not None:
            found.append((self.runsc, self.root / "runc-gvisor"))
        return found

    def list_ids(self, *, gvisor: bool = False) -> list[str]:
        binary, root = self._runtimes()[1 if gvisor else 0]
        if gvisor and not root.is_dir():
            return []
        result = subprocess.run(
            [binary, "--root", str(root), "list", "--quiet"],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.split()

    def cleanup(self) -> None:
        for driver, handle in self.started:
            with contextlib.suppress(Exception):
                driver.stop(handle, grace=0)
            with contextlib.suppress(Exception):
                driver.remove(handle)
        for index, (binary, root) in enumerate(self._runtimes()):
            # the safety net: nothing a test started may outlive it
            for cid in self.list_ids(gvisor=index == 1):
                subprocess.run([binary, "--root", str(root), "delete", "--force", cid], check=False)
        # runsc pins an empty network namespace for its gofers in its root: unmount every copy
        null_netns = self.root / "runc-gvisor" / "null-netns"
        while (
            subprocess.run(["umount", "-l", str(null_netns)], capture_output=True).returncode == 0
        ):
            pass


def get(handle: Handle, path: str = "/") -> httpx.Response:
    return httpx.get(f"http://{handle.address}:{handle.port}{path}", timeout=5)


def wait_http(handle: Handle, path: str = "/", timeout: float = 10.0) -> httpx.Response:
    def attempt() -> httpx.Response | None:
        with contextlib.suppress(httpx.HTTPError):
            return get(handle, path)
        return None

    response: httpx.Response = wait_for(attempt, timeout=timeout)
    return response


@dataclass(frozen=True)
class VethLease:
    address: str
    dns: tuple[str, ...] = ()


_VETHS = itertools.count()


class VethNetwork:
    """A stand-in ContainerNetwork: one veth pair and a /30 per container, no bridge."""

    def __init__(self) -> None:
        self.subnet = random.randrange(1, 250)
        self.host_side = f"yvt{os.getpid() % 10000}{next(_VETHS)}h"  # one pair per network

    def attach(self, container_id: str, netns_path: Path) -> VethLease:
        peer = self.host_side[:-1] + "c"
        ip = ["ip"]
        run = subprocess.run
        run([*ip, "link", "add", self.host_side, "type", "veth", "peer", "name", peer], check=True)
        run([*ip, "link", "set", peer, "netns", netns_path.name], check=True)
        run([*ip, "addr", "add", f"10.250.{self.subnet}.1/30", "dev", self.host_side], check=True)
        run([*ip, "link", "set", self.host_side, "up"], check=True)
        inside = [*ip, "-n", netns_path.name]
        run([*inside, "addr", "add", f"10.250.{self.subnet}.2/30", "dev", peer], check=True)
        run([*inside, "link", "set", peer, "up"], check=True)
        return VethLease(address=f"10.250.{self.subnet}.2", dns=("10.250.0.53",))

    def detach(self, container_id: str, netns_path: Path) -> None:
        subprocess.run(["ip", "link", "delete", self.host_side], check=False, capture_output=True)

    def release_stale(self, alive: object, keep_prefixes: object = ()) -> list[str]:
        return []  # no addresses held apart from containers: detach gave the pair back
