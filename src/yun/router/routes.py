"""What the router is told to serve, and how Yun's names become HAProxy names.

The route controller hands the router plain values (`Route`, `TcpRoute`, `Server`); this module
checks them before they reach a configuration file, because a host or path is written into
HAProxy's config verbatim and an unchecked value could inject directives.

HAProxy names (backends, servers) may only use letters, digits, ``-``, ``_``, ``.`` and ``:``.
Yun ids are free text, so they are encoded reversibly: safe characters stay, every other UTF-8
byte becomes ``:xx``. The access log and `show stat` then carry names that decode back to the
exact backend id, server name and app name.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from yun.gateway import ORIGIN, SERVICE_URL
from yun.jwks import JwtKey, parse_claims

BACKEND_PREFIX = "be_"
WILDCARD = "*."

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
_SAFE_TEXT = re.compile(r"[A-Za-z0-9_.-]+")  # the same characters: nothing to encode
_ESCAPE = re.compile(r":([0-9a-f]{2})")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Path characters allowed by RFC 3986 (pchar and "/"), minus anything HAProxy's parser treats
# specially; "%" is allowed for percent-encoded segments.
_PATH = re.compile(r"(?:/[A-Za-z0-9\-._~!$&'()*+,;=:@%]+)+")


@dataclass(frozen=True)
class Server:
    """One RUNNING instance the router may send requests to."""

    name: str
    address: str
    port: int
    weight: int = 1
    """HAProxy's server weight, 0..256: 0 takes no requests (a blue-green side before its
    switch); other values split traffic in proportion (a canary's exact percentage)."""
    instance: str = ""
    """The instance index a debugging client may ask for (`X-Yun-App-Instance`)."""


_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
BALANCING = ("round-robin", "least-connection", "hash")
PROTOCOLS = ("http1", "http2")  # Cloud Foundry's names for how the router speaks to an app


@dataclass(frozen=True)
class Policy:
    """How one route spreads requests over its instances."""

    balance: str = "round-robin"  # one of BALANCING
    hash_header: str = ""  # with "hash": requests with the same value go to the same instance
    sticky: bool = True  # an app's JSESSIONID keeps a client on its instance (__VCAP_ID__)
    timeout: float | None = None  # seconds an instance may take to answer (default 900)
    https_redirect: bool = False  # plain HTTP requests get 301 to the same URL over HTTPS
    hsts: bool = False  # HTTPS answers carry Strict-Transport-Security (a year)
    protocol: str = "http1"  # http2: the router speaks HTTP/2 in clear (h2c) to the instances
    # The gateway (`yun.gateway`): requests per client address in fixed windows of
    # `rate_window` seconds (0: no limit), the largest Content-Length in bytes (0: any), and
    # the client addresses served (`allow`, empty: all) and refused (`deny`).
    rate_limit: int = 0
    rate_window: int = 1
    max_body: int = 0
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    # JWT (`yun.jwks`): with `jwt`, a request needs a bearer token, unexpired and signed by one
    # of `jwt_keys` (none yet: every request is refused), whose `jwt_claims` reach the app as
    # X-Jwt-<Claim> headers.
    jwt: bool = False
    jwt_keys: tuple[JwtKey, ...] = ()
    jwt_claims: tuple[str, ...] = ()
    # A route service (Cloud Foundry's): requests go first to this URL, with the original URL
    # and a signature, and reach the app when the service sends them back signed. `local`:
    # the URL is a route of this platform, reached through the router itself.
    route_service: str = ""
    route_service_local: bool = False
    # Origins whose browsers may call the route (`*`: any), answered as CORS asks.
    cors: tuple[str, ...] = ()
    # Instances answering `breaker_errors` requests in a row with 5xx (or failing as many
    # connections) are taken out for `breaker_cooldown` seconds, then probed (0: no breaker);
    # `retries`: attempts after a failed connection (None: the router's default).
    breaker_errors: int = 0
    breaker_cooldown: int = 30
    retries: int | None = None
    # API keys: with a scope (the route's id), a request needs a key the router's key map
    # holds under that scope (`KeyLimits`); its plan's rate and quota are counted per key.
    api_keys: str = ""

    def check(self) -> None:
        """Raises ValueError naming the option HAProxy could not take."""
        if self.balance not in BALANCING:
            raise ValueError(f"loadbalancing {self.balance!r}: use one of {', '.join(BALANCING)}")
        if self.balance == "hash" and not _HEADER.match(self.hash_header):
            raise ValueError("loadbalancing hash needs hash_header, a header name like X-User")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r}: use one of {', '.join(PROTOCOLS)}")
        if self.timeout is not None and not 0 < self.timeout <= 86400:
            raise ValueError(f"timeout {self.timeout}: give seconds between 1 and 86400")
        if self.rate_limit < 0 or not 1 <= self.rate_window <= 86400:
            raise ValueError(f"rate_limit {self.rate_limit}/{self.rate_window}s is out of range")
        for block in (*self.allow, *self.deny):
            ipaddress.ip_network(block)  # ValueError names it
        parse_claims(",".join(self.jwt_claims))
        for key in self.jwt_keys:
            key.check()
        if self.route_service and not SERVICE_URL.match(self.route_service):
            raise ValueError(f"route service {self.route_service!r}: an http(s) URL")
        if self.cors and self.cors != ("*",):
            for origin in self.cors:
                if not ORIGIN.match(origin):
                    raise ValueError(f"CORS origin {origin!r}")
        if not 0 <= self.breaker_errors <= 100 or not 1 <= self.breaker_cooldown <= 3600:
            raise ValueError(f"circuit breaker {self.breaker_errors}/{self.breaker_cooldown}s")
        if self.retries is not None and not 0 <= self.retries <= 10:
            raise ValueError(f"retries {self.retries}: give 0 to 10")
        if self.api_keys and not _SCOPE.match(self.api_keys):
            raise ValueError(f"API key scope {self.api_keys!r}: letters, digits, - _ . only")


_SCOPE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_KEY_ENTRY = re.compile(r"^[A-Za-z0-9_.-]{1,64}/[0-9a-f]{64}$")


@dataclass(frozen=True)
class KeyLimits:
    """What one API key may do (its plan): `rate` requests per `rate_window` seconds and
    `quota` requests per `quota_window` seconds, in fixed windows; 0: no limit."""

    rate: int = 0
    rate_window: int = 1
    quota: int = 0
    quota_window: int = 86400

    def value(self) -> str:
        """The limits as the key map holds them, before the key's digest:
        `rate:rate_window:quota:quota_window`."""
        return f"{self.rate}:{self.rate_window}:{self.quota}:{self.quota_window}"


def key_entry(scope: str, digest: str) -> str:
    """The key map's key for an API key of a route: `<scope>/<sha256 of the key, hex>`; raises
    ValueError on anything else (it is written into a map file and runtime commands)."""
    entry = f"{scope}/{digest}"
    if not _KEY_ENTRY.match(entry):
        raise ValueError(f"API key entry {entry!r}: a scope and a SHA-256 digest")
    return entry


@dataclass(frozen=True)
class Route:
    """A host (and optional path prefix) served by one backend's instances."""

    host: str
    path: str
    backend: str
    app_name: str
    servers: Sequence[Server]
    policy: Policy = Policy()
    capacity: int = 0
    """The most instances the route expects to serve (scale, autoscale maximum, a deployment's
    two sides): the router keeps that many server slots ready, so they come and go without a
    reload (`yun.router.slots`)."""


@dataclass(frozen=True)
class TcpRoute:
    """A port of the router whose connections go, round-robin, to one port of an app's
    instances (Stackato's harbor). Bytes pass through untouched: no HTTP rules, no headers."""

    port: int
    backend: str  # a stable id of the route, e.g. its guid
    app_name: str
    servers: Sequence[Server]
    capacity: int = 0  # as Route.capacity


@dataclass(frozen=True)
class RouterConfig:
    """Where HAProxy listens and keeps its state (config, pidfile, sockets).

    With `access_log`, HAProxy logs every request into an in-memory ring that
    `accesslog.AccessLogReceiver` reads over the stats socket.
    """

    bind: str
    port: int
    run_dir: Path
    access_log: bool = False
    # HTTPS beside HTTP on the same address, once there are certificates:
    https_port: int | None = None
    # Room for a request's or a response's headers; None: HAProxy's own (about 15 KiB), past
    # which requests get 400 and responses 502.
    max_header_bytes: int | None = None
    # The key the router signs requests it sends to route services with (base64, 32 bytes);
    # "" without route services.
    route_service_key: str = ""


def encode_name(text: str) -> str:
    """Encode free text into HAProxy's name charset, reversibly (see `decode_name`)."""
    if not text:
        raise ValueError("names must not be empty")
    if _SAFE_TEXT.fullmatch(text):
        return text  # the common case (guids, app names): a router of thousands renders fast
    return "".join(chr(b) if b in _SAFE else f":{b:02x}" for b in text.encode("utf-8"))


def decode_name(name: str) -> str:
    """Invert `encode_name`."""
    if ":" not in name:
        return name  # nothing was escaped (the access log receiver decodes three names a line)
    raw = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(name):
        raw += name[pos : match.start()].encode("ascii")
        raw.append(int(match.group(1), 16))
        pos = match.end()
    raw += name[pos:].encode("ascii")
    return raw.decode("utf-8", errors="replace")


def backend_name(backend_id: str) -> str:
    """The HAProxy backend that serves `backend_id`."""
    return BACKEND_PREFIX + encode_name(backend_id)


def backend_id(name: str) -> str | None:
    """The Yun backend id behind an HAProxy backend name, or None for the router's own ones."""
    if not name.startswith(BACKEND_PREFIX):
        return None
    return decode_name(name[len(BACKEND_PREFIX) :])


def normalize_host(host: str) -> str:
    """Lowercase `host` and reject anything that is not a plain DNS name, or one whose first
    label is `*` (a wildcard route: any one label there, as in Cloud Foundry)."""
    normal = host.strip().lower().rstrip(".")
    plain = normal[2:] if normal.startswith(WILDCARD) else normal
    if len(normal) > 253 or not _HOSTNAME.fullmatch(plain):
        raise ValueError(f"invalid route host {host!r}")
    return normal


def normalize_path(path: str) -> str:
    """'' for no path; otherwise '/seg/seg' without a trailing slash."""
    normal = path.rstrip("/")
    if normal and not _PATH.fullmatch(normal):
        raise ValueError(f"invalid route path {path!r}: must look like /segment[/segment…]")
    return normal


def server_address(server: Server) -> str:
    """`address:port` as HAProxy's `server` line wants it."""
    if not 0 < server.port < 65536:
        raise ValueError(f"invalid port {server.port} for server {server.name!r}")
    try:
        ip = ipaddress.ip_address(server.address)
    except ValueError:
        host = server.address.lower()
        if not _HOSTNAME.fullmatch(host):
            raise ValueError(
                f"invalid address {server.address!r} for server {server.name!r}"
            ) from None
        return f"{host}:{server.port}"
    if ip.version == 6:
        return f"ipv6@{ip.compressed}:{server.port}"
    return f"{ip.compressed}:{server.port}"
