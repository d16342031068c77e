"""Instances prove who they are to each other: each has a certificate from the platform CA at
CF_INSTANCE_CERT (key at CF_INSTANCE_KEY), and one instance serving mutual TLS accepts
another's and refuses a client without one."""

from __future__ import annotations

import json
import socket
import ssl
from pathlib import Path

import pytest
from tests.helpers import wait_until, write_droplet
from tests.integration.agent.agent_world import Agents, running, spec

from yun.agent import HealthCheckSpec
from yun.agent.identity import Identities
from yun.agent.live_config import LiveConfig
from yun.tls import ensure_ca

pytestmark = pytest.mark.integration

# Serves TLS with its own identity, asks each client for one signed by the same CA and
# answers with the client's common name (the calling instance's guid).
MUTUAL = r"""
import os, socket, ssl
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(os.environ["CF_INSTANCE_CERT"], os.environ["CF_INSTANCE_KEY"])
context.load_verify_locations(cafile=os.environ["CF_INSTANCE_CERT"])
context.verify_mode = ssl.CERT_REQUIRED
listener = socket.create_server(("127.0.0.1", int(os.environ["PORT"])))
print("serving", flush=True)
while True:
    conn, _ = listener.accept()
    try:
        with context.wrap_socket(conn, server_side=True) as tls:
            peer = dict(part[0] for part in tls.getpeercert()["subject"])
            tls.sendall(("hello " + peer["commonName"]).encode())
    except (ssl.SSLError, OSError) as exc:
        print("refused:", exc, flush=True)
"""


def test_two_instances_speak_mutual_tls_with_their_identities(
    agents: Agents, tmp_path: Path
) -> None:
    ca = ensure_ca(tmp_path / "tls")
    droplet = write_droplet(
        tmp_path / "mutual.tgz",
        {"app/mutual.py": MUTUAL, "staging_info.json": json.dumps({"start_command": ""})},
    )
    agent, _ = agents.new(identities=Identities(ca))
    health = HealthCheckSpec(type="process", timeout=5)
    agent.set_desired(
        [
            spec(droplet, index, command="python3 mutual.py", health=health, org_guid="o-1")
            for index in (0, 1)
        ]
    )
    server, client = running(agent, 2)
    files = {
        name: Path(agent.root, ".credentials", client.instance_guid, name)
        for name in ("instance.crt", "instance.key")
    }
    assert oct(files["instance.key"].stat().st_mode & 0o777) == "0o600"

    context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.pem"))
    context.check_hostname = False  # the server's name is its instance guid, not 127.0.0.1
    context.load_cert_chain(files["instance.crt"], files["instance.key"])
    address = ("127.0.0.1", server.port or 0)
    wait_until(
        lambda: b"serving" in Path(agent.root, server.instance_guid, "stdout.log").read_bytes()
    )
    with socket.create_connection(address, timeout=5) as raw, context.wrap_socket(raw) as tls:
        assert tls.getpeercert()["subject"][-1][0][1] == server.instance_guid
        assert tls.recv(200) == f"hello {client.instance_guid}".encode()

    anonymous = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.pem"))
    anonymous.check_hostname = False
    with (
        socket.create_connection(address, timeout=5) as raw,
        pytest.raises((ssl.SSLError, ConnectionResetError)),
        anonymous.wrap_socket(raw) as tls,
    ):
        tls.recv(200)  # TLS 1.3: the server's refusal arrives with the first read


# A one-off (a task, a release command) that shows what it was given.
SHOW = r"""
import json, os
print("cert", open(os.environ["CF_INSTANCE_CERT"]).read().splitlines()[0], flush=True)
print("config", json.load(open(os.environ["YUN_CONFIG_FILE"]))["values"], flush=True)
print("env", os.environ.get("FEATURE_FLAG"), flush=True)
"""


def test_a_one_off_task_has_an_identity_and_its_apps_configuration(
    agents: Agents, tmp_path: Path
) -> None:
    ca = ensure_ca(tmp_path / "tls")
    droplet = write_droplet(
        tmp_path / "show.tgz",
        {"app/show.py": SHOW, "staging_info.json": json.dumps({"start_command": ""})},
    )
    agent, _ = agents.new(identities=Identities(ca))
    agent.config_of = lambda app: LiveConfig(version="3", values={"FEATURE_FLAG": "on"})
    lines: list[str] = []
    task = spec(droplet, command="python3 show.py", process_type="task", org_guid="o-1")
    status = agent.run_once(task, output=lines.append, timeout=30)
    assert status.code == 0, lines
    assert "cert -----BEGIN CERTIFICATE-----" in lines
    assert "config {'FEATURE_FLAG': 'on'}" in lines
    assert "env on" in lines
    assert list(Path(agent.root, ".credentials").iterdir()) == []  # gone with the task
