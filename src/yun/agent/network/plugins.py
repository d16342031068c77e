"""Running CNI plugin executables the way the CNI spec asks a runtime to, and reading their answers.

A plugin is an executable in `plugin_dir`; the operation and the container come in through
`CNI_*` environment variables, the network configuration as JSON on stdin. It answers with a
result (ADD) or nothing (DEL, CHECK) on stdout, or with an error object
`{"code": …, "msg": …, "details": …}` and a non-zero exit. We implement this small protocol
ourselves instead of depending on libcni: it is a few dozen lines and keeps Yun pure Python.

`lease_from_result` understands the result shapes of every CNI version the Debian plugins speak:
0.1/0.2 (`ip4: {ip, gateway}`) and 0.3 and later (`ips: [{address, gateway, interface}]`, with a
`version` field up to 0.4 and without from 1.0).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from yun.agent.network.base import NetworkError, NetworkLease

PLUGIN_TIMEOUT = 60.0
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")

# The CNI spec's well-known error codes; 100 and above are plugin-specific.
ERROR_CODES = {
    1: "incompatible CNI version",
    2: "unsupported field in network configuration",
    3: "container unknown or does not exist",
    4: "invalid necessary environment variables",
    5: "I/O failure",
    6: "failed to decode content",
    7: "invalid network config",
    11: "try again later",
    50: "plugin not available",
    51: "plugin not available, existing containers may be damaged",
}


def plugin_environment(
    *, command: str, container_id: str, netns: str, ifname: str, plugin_dir: Path
) -> dict[str, str]:
    """The environment a plugin runs with: the CNI variables plus a PATH that finds `iptables`
    and `ip` (the bridge plugin shells out to iptables for ipMasq)."""
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    path += [p for p in SYSTEM_PATH if p not in path]
    return {
        "PATH": os.pathsep.join(path),
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_IFNAME": ifname,
        "CNI_PATH": str(plugin_dir),
    }


def run_plugin(
    *,
    plugin_dir: Path,
    config: Mapping[str, Any],
    command: str,
    container_id: str,
    netns: str,
    ifname: str,
) -> dict[str, Any] | None:
    """Run the plugin named by `config["type"]`; return its parsed result (None when it printed
    nothing, as DEL and CHECK do). Raises NetworkError on any failure."""
    plugin = str(config.get("type", ""))
    executable = plugin_dir / plugin
    what = f"CNI plugin {plugin!r} {command} for container {container_id}"
    if not plugin or "/" in plugin or not os.access(executable, os.X_OK):
        raise NetworkError(f"{what}: no executable {executable}")
    env = plugin_environment(
        command=command,
        container_id=container_id,
        netns=netns,
        ifname=ifname,
        plugin_dir=plugin_dir,
    )
    try:
        done = subprocess.run(
            [str(executable)],
            input=json.dumps(config).encode(),
            env=env,
            capture_output=True,
            timeout=PLUGIN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise NetworkError(f"{what}: no answer within {PLUGIN_TIMEOUT:.0f} s") from exc
    except OSError as exc:
        raise NetworkError(f"{what}: cannot run: {exc}") from exc
    stdout = done.stdout.decode(errors="replace").strip()
    stderr = done.stderr.decode(errors="replace").strip()
    if done.returncode != 0:
        raise plugin_error(what, stdout=stdout, stderr=stderr, returncode=done.returncode)
    if not stdout:
        return None
    try:
        result = json.loads(stdout)
    except ValueError as exc:
        raise NetworkError(f"{what}: result is not JSON: {stdout[:200]!r}") from exc
    if not isinstance(result, dict):
        raise NetworkError(f"{what}: result is not a JSON object: {stdout[:200]!r}")
    if "code" in result and "msg" in result and "ips" not in result:
        raise plugin_error(what, stdout=stdout, stderr=stderr, returncode=0)
    return result


def plugin_error(what: str, *, stdout: str, stderr: str, returncode: int) -> NetworkError:
    """Map a failed plugin run to a NetworkError carrying the CNI code, message and details."""
    try:
        error = json.loads(stdout) if stdout else None
    except ValueError:
        error = None
    if isinstance(error, dict) and "code" in error:
        try:
            code: int | None = int(error["code"])
        except (TypeError, ValueError):
            code = None
        msg = str(error.get("msg", "")).strip()
        details = str(error.get("details", "")).strip()
        meaning = ERROR_CODES.get(code, "plugin error") if code is not None else "plugin error"
        text = f"{what} failed ({meaning}, code {error['code']}): {msg or 'no message'}"
        if details:
            text += f" ({details})"
        return NetworkError(text, code=code, details=details)
    output = stderr or stdout or "no output"
    return NetworkError(f"{what} failed with exit status {returncode}: {output[:500]}")


def lease_from_result(result: Mapping[str, Any], *, ifname: str) -> NetworkLease:
    """The IPv4 lease a result gives the container interface `ifname`."""
    if "ips" in result:
        address, gateway = _from_ips(result, ifname=ifname)
    elif isinstance(result.get("ip4"), Mapping):
        address, gateway = str(result["ip4"].get("ip", "")), result["ip4"].get("gateway")
    else:
        raise NetworkError(f"CNI result has no IP configuration: {json.dumps(result)[:300]}")
    try:
        interface = ipaddress.ip_interface(address)
    except ValueError as exc:
        raise NetworkError(f"CNI result has an invalid address {address!r}") from exc
    if not gateway:
        raise NetworkError(f"CNI result gives {address} no gateway")
    return NetworkLease(
        address=str(interface.ip),
        gateway=str(gateway),
        prefix=interface.network.prefixlen,
        interface=ifname,
    )


def _from_ips(result: Mapping[str, Any], *, ifname: str) -> tuple[str, str | None]:
    interfaces = result.get("interfaces") or []
    candidates: list[tuple[str, str | None]] = []
    for entry in result.get("ips") or []:
        address = str(entry.get("address", ""))
        try:
            if ipaddress.ip_interface(address).version != 4:
                continue
        except ValueError:
            continue
        gateway = entry.get("gateway")
        index = entry.get("interface")
        if isinstance(index, int) and 0 <= index < len(interfaces):
            owner = interfaces[index]
            if owner.get("name") == ifname and owner.get("sandbox"):
                return address, gateway
        candidates.append((address, gateway))
    if not candidates:
        raise NetworkError(f"CNI result has no IPv4 address for {ifname}")
    return candidates[0]


def host_veth(result: Mapping[str, Any], *, bridge: str) -> str | None:
    """The host end of the container's veth pair: the result's interface that is neither the
    bridge nor inside a sandbox."""
    for entry in result.get("interfaces") or []:
        name = entry.get("name")
        if name and name != bridge and not entry.get("sandbox"):
            return str(name)
    return None
