"""Health checks, as Cloud Foundry defines them.

`port`: a TCP connection to the instance's port is accepted. `http`: a GET of the endpoint
answers 200 within the invocation timeout (any other status, a redirect included, is unhealthy).
`process`: the process is alive, which the supervisor already knows, so it always passes here.
A probe never raises: every failure is just "unhealthy".
"""

from __future__ import annotations

import http.client
import socket

from yun.agent.specs import HealthCheckSpec

# Checks after RUNNING tolerate this many consecutive failures minus one, so a single slow
# answer during a garbage-collection pause does not kill a healthy instance.
FAILURES_BEFORE_CRASH = 3


def port_open(address: str, port: int, *, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def http_ok(address: str, port: int, endpoint: str, *, timeout: float) -> bool:
    path = endpoint if endpoint.startswith("/") else f"/{endpoint}"
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "yun-health-check", "Connection": "close"})
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def probe(health: HealthCheckSpec, *, address: str | None, port: int | None) -> bool:
    """One check of a live instance."""
    if health.type == "process":
        return True
    if address is None or port is None:
        return False
    if health.type == "http":
        return http_ok(address, port, health.endpoint, timeout=health.invocation_timeout)
    return port_open(address, port, timeout=health.invocation_timeout)


def checks_after_running(health: HealthCheckSpec) -> bool:
    """Whether a RUNNING instance keeps being probed (a process check has nothing more to say)."""
    return health.type != "process"
