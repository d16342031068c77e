"""Fakes for the network unit tests: CNI plugins that are real executables (so the exec protocol
itself is exercised) but only record what they were given and print a canned answer, and a
firewall that records instead of running iptables."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

FAKE_PLUGIN = """#!{python}
import json, os, pathlib, sys
here = pathlib.Path(__file__).parent
name = pathlib.Path(__file__).name
stdin = sys.stdin.read()
call = {{"plugin": name, "stdin": json.loads(stdin),
        "env": {{k: v for k, v in os.environ.items() if k.startswith("CNI_") or k == "PATH"}}}}
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps(call) + "\\n")
command = os.environ["CNI_COMMAND"]
out = here / f"{{name}}.{{command}}.out"
sys.stdout.write(out.read_text() if out.exists() else "")
sys.stderr.write("fake stderr of " + name)
rc = here / f"{{name}}.{{command}}.rc"
sys.exit(int(rc.read_text()) if rc.exists() else 0)
"""

# What the Debian bridge plugin (1.1.1) printed for an ADD, with CNI 1.0.0.
BRIDGE_RESULT_1_0: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "interfaces": [
        {"name": "yun0", "mac": "3e:73:90:ae:6d:99"},
        {"name": "veth1f02e458", "mac": "b2:00:52:72:f7:bd"},
        {"name": "eth0", "mac": "f6:f4:73:26:d8:99", "sandbox": "/run/netns/x"},
    ],
    "ips": [{"interface": 2, "address": "10.244.0.2/16", "gateway": "10.244.0.1"}],
    "routes": [{"dst": "0.0.0.0/0"}],
    "dns": {},
}


class FakePlugins:
    """A plugin directory of fake plugins; `answer` sets what one prints and its exit status."""

    def __init__(self, directory: Path, names: tuple[str, ...] = ("bridge", "loopback")) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        for name in names:
            self.add(name)

    def add(self, name: str) -> None:
        path = self.dir / name
        path.write_text(FAKE_PLUGIN.format(python=sys.executable))
        os.chmod(path, 0o755)

    def answer(self, name: str, command: str, output: str | dict[str, Any], rc: int = 0) -> None:
        text = output if isinstance(output, str) else json.dumps(output)
        (self.dir / f"{name}.{command}.out").write_text(text)
        (self.dir / f"{name}.{command}.rc").write_text(str(rc))

    def calls(self) -> list[dict[str, Any]]:
        log = self.dir / "calls.jsonl"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]


class FakeFirewall:
    def __init__(self) -> None:
        self.removed_masquerade: list[str | None] = []
        self.ensured = False

    def remove_masquerade(self, container_id: str | None = None) -> int:
        self.removed_masquerade.append(container_id)
        return 0

    def ensure(self) -> None:
        self.ensured = True
