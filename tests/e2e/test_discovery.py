"""App-to-app names as a user makes them: `yun map-route APP apps.internal --hostname NAME`
gives NAME.apps.internal, which the platform's DNS answers with each healthy instance as the
app scales, while the public router never serves it. (The platform's DNS listens on loopback
here, at YUN_DNS_PORT: process-driver instances share the host's address, told apart by port,
which SRV records carry.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rcode
import httpx
import pytest
from tests.e2e.conftest import Platform

pytestmark = pytest.mark.e2e

APP = """\
import os
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"backend {os.environ['CF_INSTANCE_INDEX']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def ask(platform: Platform, name: str, kind: str) -> dns.message.Message:
    port = int(platform.env["YUN_DNS_PORT"])
    return dns.query.udp(dns.message.make_query(name, kind), "127.0.0.1", port=port, timeout=5)


def srv_ports(platform: Platform, name: str) -> list[int]:
    response = ask(platform, name, "SRV")
    return sorted(item.port for rrset in response.answer for item in rrset)


def until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_an_internal_route_names_each_instance_as_the_app_scales(
    platform: Platform, tmp_path: Path
) -> None:
    folder = tmp_path / "backend"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "Procfile").write_text("web: python app.py\n")
    (folder / "manifest.yml").write_text("applications:\n- name: backend\n  memory: 128M\n")
    platform.cli("push", "-p", str(folder))
    try:  # its own route is on the default domain, not the internal one
        assert platform.wait_for("backend", "backend 0").status_code == 200
        domains = platform.cli("domains").stdout
        assert any(line.split()[:1] == ["apps.internal"] for line in domains.splitlines())
        made = platform.cli("map-route", "backend", "apps.internal", "--hostname", "backend")
        assert made.returncode == 0

        ports = until(lambda: srv_ports(platform, "backend.apps.internal"))
        assert len(ports) == 1
        answered = httpx.get(f"http://127.0.0.1:{ports[0]}/", timeout=5).text
        assert answered == "backend 0"  # the SRV record's port is the instance's
        a_records = ask(platform, "backend.apps.internal", "A")
        assert [item.to_text() for rrset in a_records.answer for item in rrset] == ["127.0.0.1"]

        platform.cli("scale", "backend", "-i", "3")
        three = until(lambda: len(srv_ports(platform, "backend.apps.internal")) == 3)
        assert three, srv_ports(platform, "backend.apps.internal")
        ports = srv_ports(platform, "backend.apps.internal")
        seen = {httpx.get(f"http://127.0.0.1:{port}/", timeout=5).text for port in ports}
        assert seen == {"backend 0", "backend 1", "backend 2"}
        one = ask(platform, "2.backend.apps.internal", "A")
        assert one.rcode() == dns.rcode.NOERROR and one.answer

        platform.cli("scale", "backend", "-i", "1")
        assert until(lambda: len(srv_ports(platform, "backend.apps.internal")) == 1)
        assert ask(platform, "nobody.apps.internal", "A").rcode() == dns.rcode.NXDOMAIN

        public = httpx.get(
            f"http://127.0.0.1:{platform.router_port}/",
            headers={"Host": "backend.apps.internal"},
            timeout=5,
        )
        assert public.status_code == 404  # the router does not serve internal names
    finally:
        platform.cli("delete", "backend", "-f", check=False)
        platform.cli("delete-route", "apps.internal", "-n", "backend", "-f", check=False)
