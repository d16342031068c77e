"""Health checks, as Cloud Foundry defines them, and what to tell a user when one never passed.

`port`: a TCP connection to the instance's port is accepted. `http`: a GET of the endpoint
answers 200 within the invocation timeout (any other status, a redirect included, is unhealthy).
`process`: the process is alive, which the supervisor already knows, so it always passes here.
A probe never raises: every failure is a `Check` that says what it saw.

An instance that never became healthy within its health timeout is killed as a crash, and
`timeout_reason` is what users then read (in `yun push`, `yun app`, `yun events` and the logs):
what the last check saw and, when the app listens on other ports than $PORT, those ports: an
app listening on a port of its own choosing (5000, 3000, 8000) instead of $PORT is a frequent
first-push mistake, and naming both ports turns a bare timeout into the fix.
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import os
import select
import socket
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from yun.agent.specs import HealthCheckSpec

# Checks after RUNNING tolerate this many consecutive failures minus one, so a single slow
# answer during a garbage-collection pause does not kill a healthy instance.
FAILURES_BEFORE_CRASH = 3

REFUSED = "was refused"  # a `Check.failure`: nothing listened at the address and port
PORTS_NAMED = 4  # at most this many other ports are listed in a reason


@dataclass(frozen=True)
class Check:
    """What one check saw. An unhealthy one has the `answer` that was not a 200 (http) or the
    `failure` that kept any answer from coming: `REFUSED`, or a phrase that follows "the last
    try", such as "timed out after 1s"."""

    healthy: bool
    answer: str | None = None
    failure: str | None = None


HEALTHY = Check(healthy=True)


def _failure(error: BaseException, *, timeout: float) -> str:
    if isinstance(error, ConnectionRefusedError):
        return REFUSED
    if isinstance(error, TimeoutError):
        return f"timed out after {timeout:g}s"
    detail = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return f"failed: {detail or type(error).__name__}"


def _path(endpoint: str) -> str:
    return endpoint if endpoint.startswith("/") else f"/{endpoint}"


def check_port(address: str, port: int, *, timeout: float) -> Check:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return HEALTHY
    except OSError as error:
        return Check(healthy=False, failure=_failure(error, timeout=timeout))


def _family(address: str) -> socket.AddressFamily:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        return socket.getaddrinfo(address, None, type=socket.SOCK_STREAM)[0][0]


def check_ports(targets: Sequence[tuple[str, int, float]]) -> list[Check]:
    """`check_port` of many (address, port, timeout) at once, in order: every connection is
    started without waiting and one poll collects how each ended, so a pass over hundreds of
    instances costs a socket each, not a thread each."""
    checks: list[Check | None] = [None] * len(targets)
    pending: dict[int, tuple[int, socket.socket, float]] = {}  # fd → (index, socket, deadline)
    poller = select.poll()
    started = time.monotonic()
    try:
        for index, (address, port, timeout) in enumerate(targets):
            try:
                sock = socket.socket(_family(address), socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            except OSError as error:
                checks[index] = Check(healthy=False, failure=_failure(error, timeout=timeout))
                continue
            code = sock.connect_ex((address, port))
            if code == errno.EINPROGRESS:
                pending[sock.fileno()] = (index, sock, started + timeout)
                poller.register(sock, select.POLLOUT)
                continue
            checks[index] = _connected(code, timeout)
            sock.close()
        while pending:
            wait = min(deadline for _, _, deadline in pending.values()) - time.monotonic()
            events = poller.poll(wait * 1000) if wait > 0 else []
            for fd, _ in events:
                index, sock, _ = pending.pop(fd)
                poller.unregister(fd)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                checks[index] = _connected(code, targets[index][2])
                sock.close()
            now = time.monotonic()
            for fd, (index, sock, deadline) in list(pending.items()):
                if deadline <= now:
                    del pending[fd]
                    poller.unregister(fd)
                    checks[index] = _connected(errno.ETIMEDOUT, targets[index][2])
                    sock.close()
    finally:
        for _, sock, _ in pending.values():
            sock.close()
    return [check if check is not None else HEALTHY for check in checks]


def _connected(code: int, timeout: float) -> Check:
    """The check a connection attempt that ended with errno `code` (0: accepted) makes."""
    if code == 0:
        return HEALTHY
    error = OSError(code, os.strerror(code))  # the matching subclass: ConnectionRefusedError…
    if code == errno.ETIMEDOUT:
        error = TimeoutError(code, os.strerror(code))
    return Check(healthy=False, failure=_failure(error, timeout=timeout))


def check_http(address: str, port: int, endpoint: str, *, timeout: float) -> Check:
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request(
            "GET",
            _path(endpoint),
            headers={"User-Agent": "yun-health-check", "Connection": "close"},
        )
        response = conn.getresponse()
        if response.status == 200:
            return HEALTHY
        return Check(healthy=False, answer=f"{response.status} {response.reason}".strip())
    except (OSError, http.client.HTTPException) as error:
        return Check(healthy=False, failure=_failure(error, timeout=timeout))
    finally:
        conn.close()


def probe(health: HealthCheckSpec, *, address: str | None, port: int | None) -> Check:
    """One check of a live instance."""
    if health.type == "process":
        return HEALTHY
    if address is None or port is None:
        return Check(healthy=False, failure="found no address to check")
    if health.type == "http":
        return check_http(address, port, health.endpoint, timeout=health.invocation_timeout)
    return check_port(address, port, timeout=health.invocation_timeout)


def timeout_reason(
    health: HealthCheckSpec, last: Check | None, *, port: int | None, listening: Collection[int]
) -> str:
    """Why an instance that did not become healthy within `health.timeout` was killed: what
    its `last` check saw and, when the app listens on other TCP ports (`listening`, its
    extra ports left out) but not on its own `port` ($PORT), that it should listen there."""
    within = f"within {health.timeout:g}s"
    if health.type == "process" or last is None or last.healthy or port is None:
        return f"did not become healthy {within}"
    where = f"port {port} ($PORT)"
    if health.type == "http":
        reason = f"GET {_path(health.endpoint)} never answered 200 {within}: "
        if last.answer is not None:
            reason += f"it answered {last.answer}"
        elif last.failure == REFUSED:
            reason += f"connection refused on {where}"
        else:
            reason += f"the last try on {where} {last.failure}"
    else:
        reason = f"nothing accepted connections on {where} {within}"
        if last.failure not in (None, REFUSED):
            reason += f": the last try {last.failure}"
    if listening and port not in listening:
        reason += (
            f"; the app listens on {_ports(sorted(listening))} instead: "
            f"make it listen on $PORT ({port})"
        )
    return reason


def _ports(ports: Sequence[int]) -> str:
    if len(ports) == 1:
        return f"port {ports[0]}"
    named = [str(port) for port in ports[:PORTS_NAMED]]
    rest = len(ports) - len(named)
    if rest:
        return f"ports {', '.join(named)} and {rest} more"
    return f"ports {', '.join(named[:-1])} and {named[-1]}"


def checks_after_running(health: HealthCheckSpec) -> bool:
    """Whether a RUNNING instance keeps being probed (a process check has nothing more to say)."""
    return health.type != "process"
