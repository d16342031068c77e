"""The environment an instance sees, in Cloud Foundry's names and shapes.

Apps pushed to Cloud Foundry or Stackato read `PORT`, `VCAP_APPLICATION`, `CF_INSTANCE_*`,
`MEMORY_LIMIT` and friends; producing them here, in one place, keeps apps portable. The
environment is built in two halves: what follows from the spec (`instance_environment`, the
supervisor's job) and what follows from where the driver placed the instance — its directories,
address and port (`placement_environment`, the driver's job, since a container driver would say
`/home/vcap/app` and port 8080 where the process driver gives host paths and a free port).
The ports of an instance's TCP routes are placement too (`yun.harbor.harbor_environment`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from yun.agent.identity import CERT_FILE, KEY_FILE
from yun.agent.live_config import CONFIG_FILE
from yun.agent.specs import InstanceSpec

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_LANG = "en_US.UTF-8"
FILE_DESCRIPTOR_LIMIT = 16384  # what Diego reports in VCAP_APPLICATION.limits.fds


def memory_limit(memory_mb: int) -> str:
    """`MEMORY_LIMIT` as Cloud Foundry writes it: megabytes with a lowercase unit, e.g. `256m`."""
    return f"{memory_mb}m"


def vcap_application(spec: InstanceSpec, *, instance_guid: str) -> dict[str, Any]:
    version = spec.fingerprint()
    uris = list(spec.uris)
    return {
        "application_id": spec.app_guid,
        "application_name": spec.app_name,
        "application_uris": uris,
        "application_version": version,
        "host": "0.0.0.0",
        "instance_id": instance_guid,
        "instance_index": spec.index,
        "limits": {"mem": spec.memory_mb, "disk": spec.disk_mb, "fds": FILE_DESCRIPTOR_LIMIT},
        "name": spec.app_name,
        "organization_name": spec.org_name,
        "process_id": spec.process_guid,
        "process_type": spec.process_type,
        "space_name": spec.space_name,
        "uris": uris,
        "users": None,
        "version": version,
    }


def instance_environment(spec: InstanceSpec, *, instance_guid: str) -> dict[str, str]:
    """The app's own variables plus everything that follows from the spec and the instance guid.

    The app may set `PATH` and `LANG`; it may not override the platform's instance variables.
    """
    env = {"PATH": DEFAULT_PATH, "LANG": DEFAULT_LANG}
    env.update(spec.env)
    env.update(
        {
            "CF_INSTANCE_INDEX": str(spec.index),
            "CF_INSTANCE_GUID": instance_guid,
            "INSTANCE_INDEX": str(spec.index),
            "MEMORY_LIMIT": memory_limit(spec.memory_mb),
            "VCAP_APPLICATION": json.dumps(vcap_application(spec, instance_guid=instance_guid)),
        }
    )
    return env


def placement_environment(
    *, home: Path, deps_dir: Path, tmpdir: Path, ip: str, port: int, host_port: int | None = None
) -> dict[str, str]:
    """Directories and network of a placed instance.

    `port` is what the app listens on; `host_port` is where it is reached from outside (the same
    for the process driver, a mapped port for a container driver).
    """
    outside = port if host_port is None else host_port
    return {
        "HOME": str(home),
        "DEPS_DIR": str(deps_dir),
        "TMPDIR": str(tmpdir),
        "PORT": str(port),
        "VCAP_APP_PORT": str(port),  # Stackato and CF v1 apps still read it
        "VCAP_APP_HOST": ip,  # the address the driver placed the instance on
        "CF_INSTANCE_IP": ip,
        "CF_INSTANCE_INTERNAL_IP": ip,
        "CF_INSTANCE_PORT": str(outside),
        "CF_INSTANCE_ADDR": f"{ip}:{outside}",
        "CF_INSTANCE_PORTS": json.dumps([{"external": outside, "internal": port}]),
    }


def credentials_environment(folder: Path | str | None) -> dict[str, str]:
    """`CF_INSTANCE_CERT` and `CF_INSTANCE_KEY`: the instance's identity in `folder` (as the
    app sees it), and `YUN_CONFIG_FILE` its live configuration; nothing without a folder."""
    if folder is None:
        return {}
    return {
        "CF_INSTANCE_CERT": f"{folder}/{CERT_FILE}",
        "CF_INSTANCE_KEY": f"{folder}/{KEY_FILE}",
        "YUN_CONFIG_FILE": f"{folder}/{CONFIG_FILE}",
    }
