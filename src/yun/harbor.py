"""Stackato's harbor: where an app listens for its TCP routes, told in `STACKATO_HARBOR_<NAME>`
(and plain `STACKATO_HARBOR` when it has one). Shared by the node agent's drivers and the
Kubernetes renderer, which both hand it to the app."""

from __future__ import annotations

import re
from collections.abc import Mapping

HARBOR = "STACKATO_HARBOR"


def harbor_variable(name: str) -> str:
    """The variable naming one TCP route's port: `STACKATO_HARBOR_` and the route's name,
    upper-cased, every character other than A-Z and 0-9 written as `_` (`my-db` → `MY_DB`)."""
    return f"{HARBOR}_{re.sub(r'[^A-Z0-9]', '_', name.upper())}"


def harbor_environment(ports: Mapping[str, int]) -> dict[str, str]:
    """Where the app listens for its TCP routes (Stackato's harbor): `STACKATO_HARBOR_<NAME>`
    for each, and plain `STACKATO_HARBOR` as well when there is just one."""
    env = {harbor_variable(name): str(port) for name, port in ports.items()}
    if len(ports) == 1:
        (env[HARBOR],) = (str(port) for port in ports.values())
    return env
