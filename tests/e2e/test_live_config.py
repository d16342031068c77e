"""Live configuration reaches a running instance without a restart: `yun config set` shows in
the file at YUN_CONFIG_FILE and on the stream at YUN_CONFIG_URL (which the app follows with its
own instance certificate) within 2 s, with the same instance still serving; a rollback brings
the old value back; history says who changed what; an instance started later has the values
in its environment."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Platform

pytestmark = pytest.mark.e2e

# Follows its configuration stream in a thread, as an app would (with its identity), and
# answers with what it sees: the file, the last event, its environment and its instance guid.
APP = """\
import json, os, ssl, threading, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

last = {}


def follow():
    cert = os.environ["CF_INSTANCE_CERT"]
    context = ssl.create_default_context(cafile=os.path.join(os.path.dirname(cert), "ca.crt"))
    context.load_cert_chain(cert, os.environ["CF_INSTANCE_KEY"])
    url = os.environ["YUN_CONFIG_URL"] + "/watch"
    with urllib.request.urlopen(url, context=context) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("data: "):
                last.update(json.loads(line[6:]))


threading.Thread(target=follow, daemon=True).start()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with open(os.environ["YUN_CONFIG_FILE"]) as f:
            on_file = json.load(f)
        body = json.dumps({
            "file": on_file["values"], "stream": last.get("values"),
            "env": os.environ.get("COLOR"), "instance": os.environ["CF_INSTANCE_GUID"],
        }).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""


def seen(platform: Platform) -> dict[str, Any]:
    return dict(platform.get("liveconf", "/").json())


def arrives(platform: Platform, color: str, limit: float) -> dict[str, Any]:
    """What the instance sees once both the file and the stream say `color`."""
    deadline = time.monotonic() + limit
    while True:
        now = seen(platform)
        if now["file"].get("COLOR") == color and (now["stream"] or {}).get("COLOR") == color:
            return now
        assert time.monotonic() < deadline, f"{color} not seen within {limit} s: {now}"
        time.sleep(0.05)


def test_a_change_reaches_the_running_instance_and_a_rollback_restores_it(
    platform: Platform, tmp_path: Path
) -> None:
    folder = tmp_path / "liveconf"
    folder.mkdir()
    (folder / "app.py").write_text(APP)
    (folder / "Procfile").write_text("web: python app.py\n")
    platform.cli("config", "set", "liveconf", "COLOR", "blue", check=False)  # no app yet
    platform.cli("push", "liveconf", "-p", str(folder))
    try:
        platform.wait_for("liveconf", "instance")
        platform.cli("config", "set", "liveconf", "COLOR", "blue")
        first = arrives(platform, "blue", 10)  # the first stream may still be connecting
        assert first["env"] is None  # it started before the value existed

        said = platform.cli("config", "set", "liveconf", "COLOR", "green").stdout
        assert "COLOR set (version 2)" in said
        green = arrives(platform, "green", 2)
        assert green["instance"] == first["instance"]  # no restart

        platform.cli("config", "rollback", "liveconf", "--version", "1")
        blue = arrives(platform, "blue", 2)
        assert blue["instance"] == first["instance"]

        history = json.loads(platform.cli("config", "history", "liveconf", "--json").stdout)
        assert [(h["version"], h["action"], h["created_by"]) for h in history] == [
            (1, "set", "admin"),
            (2, "set", "admin"),
            (3, "rollback", "admin"),
        ]
        listed = platform.cli("config", "list", "liveconf").stdout
        assert [line.split()[:2] for line in listed.splitlines() if "COLOR" in line] == [
            ["COLOR", "blue"]
        ]
        assert platform.cli("config", "get", "liveconf", "COLOR").stdout == "blue\n"

        platform.cli("config", "set", "liveconf", "COLOR", "red", "--restart")
        deadline = time.monotonic() + 60
        while (now := seen(platform))["instance"] == first["instance"] or now["env"] != "red":
            assert time.monotonic() < deadline, now
            time.sleep(0.5)
        wrong = platform.cli("config", "set", "liveconf", "1COLOR", "x", check=False)
        assert wrong.returncode != 0 and "1COLOR" in wrong.stderr
    finally:
        platform.cli("delete", "liveconf", "-f", check=False)
