"""Render HAProxy's configuration from Yun's routes: gorouter's behaviour as HAProxy config.

The same routes always render the same text (routes, backends and servers are sorted), so the
manager can compare texts to skip reloads that would change nothing.

What the rendered config does, and why:

- Host routing on the Host header, lowercased and without port, through a map file (constant
  cost per request however many routes exist); a route with a path prefix wins over shorter
  prefixes and over the bare host (path rules come first, longest path first).
  A prefix matches on segment boundaries: ``/api`` serves ``/api`` and ``/api/x``, not ``/apix``.
- Unknown host → 404 with ``X-Yun-Router-Error: unknown_route``; a route without RUNNING instances
  → 503 with ``no_healthy_instances``; an instance that fails to answer → HAProxy's own 502/503/504
  with ``endpoint_failure``.
- Every backend declares server slots ahead of need (`yun.router.slots`): instances come and go
  through the runtime API, and the text below only changes (and HAProxy only reloads) when the
  routes, their policies or the number of slots do. The host map (`hosts.map`) and the table of
  instances a client may name (`yun_targets`) are changed at run time as well.
- Round-robin, no health checks (Yun decides health and only passes RUNNING instances). A request
  whose connection failed is retried on another instance (``retry-on conn-failure`` with
  ``redispatch`` on every retry); nothing is retried once the request has been sent. (Retrying
  idempotent requests on an empty response, HAProxy's layer-7 retries, would cover requests in
  flight when an instance crashes, but costs every request about a third more instructions:
  `bench/router_instructions.py`.)
- X-Forwarded-For is appended to, X-Forwarded-Proto/X-Request-Id/X-Request-Start are set unless the
  client (or a load balancer in front) already set them.
- W3C trace context: a request without a valid `traceparent` gets one (version 00, a random
  trace id and parent id, sampled); a valid one is passed on as it came, so a trace started
  before the router goes on through it and from app to app.
- Access logs go into an in-memory ring (`accesslog.ACCESS_RING`) as the records
  `accesslog.LOG_FORMAT` defines; writing there never waits for a reader, and
  `accesslog.AccessLogReceiver` streams it out over the stats socket.
- TCP routes come last, after a `defaults` section of their own in `mode tcp`: one `listen`
  per router port, round-robin over the instances' ports, a connection that fails redispatched
  to another instance, nothing logged. A TCP route without instances still holds its port and
  closes the connections it accepts.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from yun.jwks import JwtKey
from yun.router import accesslog, slots
from yun.router.routes import (
    WILDCARD,
    KeyLimits,
    Policy,
    Route,
    RouterConfig,
    Server,
    TcpRoute,
    backend_name,
    encode_name,
    key_entry,
    normalize_host,
    normalize_path,
    server_address,
)
from yun.router.slots import (
    INSTANCE_MAP,
    KEY_CACHE_PREFIX,
    KEY_MAP,
    PLACEHOLDER,
    TARGETS_TABLE,
    RuntimeState,
    Slots,
    slot_name,
)
from yun.tls import Certificate

# W3C trace context (https://www.w3.org/TR/trace-context/): what a valid `traceparent` looks
# like, and how the router makes one from a single version-4 UUID without a regular expression:
# its 32 hex digits (the dashes left out, by position) are the trace id, 16 of them rearranged
# the parent id; flags 01 (sampled).
TRACEPARENT = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
VAR_TRACE = accesslog.VAR_MADE_ID  # the log finds the request id and trace it made there
_PIECES = ((0, 8), (9, 4), (14, 4), (19, 4), (24, 12))
NEW_TRACEPARENT = (
    "00-"
    + "".join(f"%[var({VAR_TRACE}),bytes({at},{size})]" for at, size in _PIECES)
    + f"-%[var({VAR_TRACE}),bytes(24,12)]%[var({VAR_TRACE}),bytes(19,4)]-01"
)

_NO_REQUEST_ID = "!{ req.hdr(x-request-id) -m found }"
_NO_TRACE = f"!{{ req.hdr(traceparent) -m reg {TRACEPARENT} }}"  # none, or not a valid one

FRONTEND = "yun_http"
UNKNOWN_ROUTE_BACKEND = "yun_unknown_route"
VAR_WILD = "txn.yun_wild"  # the request's host with its first label replaced by `*`
VAR_HOST_BACKEND = "txn.yun_be_host"  # with wildcard routes: the host's own backend, if any
VAR_WILD_BACKEND = "txn.yun_be_wild"  # …and its domain's wildcard route's
_WILD = r"regsub(^[^.]+,*)"
STATS_SOCKET = "stats.sock"
# The gateway's counters (rate limits, API key usage) go from the old worker to the new one at
# each reload: a local peer on this socket, named LOCAL_PEER, in the PEERS section.
PEERS_SOCKET = "peers.sock"
PEERS = "yun_router"
LOCAL_PEER = "yun"
HOST_MAP = "hosts.map"  # host → backend; changed at run time, rewritten with every change
CHALLENGE_MAP_PREFIX = "acme-"
CHALLENGE_PATH = "/.well-known/acme-challenge/"
VAR_CHALLENGE = "txn.yun_acme"
_ACME_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,255}")
_ACME_ANSWER = re.compile(r"[A-Za-z0-9_.-]{1,512}")
CERT_PREFIX = "tls-"
HSTS_MAX_AGE = 31536000  # a year, as hstspreload.org asks
REWRITE_ROOM = 1024  # HAProxy's tune.maxrewrite: what header rules may add to a message
MAX_HEADER_BYTES = 1 << 20
TLS12_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
)
TLS13_SUITES = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
ERROR_HEADER = "X-Yun-Router-Error"
RATE_TABLE_PREFIX = "yun_rate_"  # a backend's rate limit table: the backend's name after it
RATE_TABLE_SIZE = 100_000  # client addresses counted at once per route; the oldest go first
KEYS_TABLE_PREFIX = "yun_keys_"  # a route's API key counters: its scope after it
KEYS_TABLE_SIZE = 100_000  # keys' windows counted at once per route
MAX_KEY_WINDOW = 86400  # a plan's longest window: its counters live for two
KEY_HEADER = "X-Api-Key"  # where a client sends its API key (or the `api_key` query parameter)
KEY_PARAM = "api_key"
JWT_PREFIX = "jwt-"  # a public key a route verifies tokens with, named by a hash of its PEM
JWT_CACHE_PREFIX = "jwt-cache-"  # a backend's verified tokens (`_jwt`): its name after it
JWT_CACHE_CLEAR = 600.0  # seconds between the platform's clearings of the token caches
JWT_HEADER_PREFIX = "X-Jwt-"  # a forwarded claim's header: X-Jwt-Sub, X-Jwt-Email
TARGET_KEY_MAX = 160  # `<backend name>/<index>`: an encoded guid and route id, and digits
TARGETS_SIZE = 65536

TIMEOUTS: tuple[tuple[str, str], ...] = (
    ("connect", "5s"),
    ("client", "60s"),
    ("server", "900s"),  # gorouter's endpoint_timeout: long polls and slow reports still work
    ("http-request", "10s"),
    ("http-keep-alive", "60s"),
    ("queue", "30s"),
    ("tunnel", "1h"),  # websockets
    ("client-fin", "30s"),
)
RETRIES = 3
IDEMPOTENT = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE")  # RFC 9110 9.2.2
RS_FORWARDED_URL = "X-CF-Forwarded-Url"
RS_SIGNATURE = "X-CF-Proxy-Signature"
RS_METADATA = "X-CF-Proxy-Metadata"
ROUTE_SERVICE_AGE = 60  # seconds a route service may take to send a request back
ROUTE_SERVICE_SERVER = "route_service"
RS_SIGNATURE_VAR = "txn.yun_rs_sig"  # the signature a request came with, if any
RS_SIGNED = f"{{ var({RS_SIGNATURE_VAR}) -m found }}"
SYSTEM_CA = "/etc/ssl/certs/ca-certificates.crt"
CORS_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_MAX_AGE = 600  # seconds a browser may keep a preflight's answer
BREAKER_CHECK = 1  # seconds between the probes of instances behind a breaker
STICKY_COOKIE = "__VCAP_ID__"  # Cloud Foundry's name: the instance a sticky client returns to
TARGET_HEADER = "X-Yun-App-Instance"
CF_TARGET_HEADER = "X-CF-APP-INSTANCE"
MAX_WEIGHT = 256  # HAProxy's largest server weight
ACCESS_LINE_MAX = 16384  # HAProxy's log line buffer (tune.bufsize); accesslog's caps fit it
ACCESS_RING_SIZE = accesslog.RING_SIZE
TCP_PROXY_PREFIX = "tcp_"  # `listen tcp_<port>`: a TCP route, never an HTTP backend
TCP_TIMEOUTS: tuple[tuple[str, str], ...] = (
    ("connect", "5s"),
    ("client", "1h"),  # database and message-queue clients idle for long between requests
    ("server", "1h"),
    ("client-fin", "30s"),
    ("server-fin", "30s"),
)

_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPING = str.maketrans(_ESCAPES)


@dataclass(frozen=True)
class _Backend:
    name: str
    app_name: str
    servers: tuple[Server, ...]  # checked, sorted by name
    policy: Policy
    need: int  # the most servers the route expects: what its slots must hold


@dataclass(frozen=True)
class RenderedConfig:
    """haproxy.cfg and the files it names, keyed by file name inside `run_dir`.

    The certificates and ACME answers are content-addressed (their names carry a hash of their
    content), so the text changes when they do. `layout` is a digest of the text with every slot
    empty: two configs of the same layout differ only in what the runtime API can change, which
    `runtime` holds (every slot's server, the host map, the instance targets).
    """

    text: str
    files: Mapping[str, str]
    layout: str = ""
    runtime: RuntimeState = field(default_factory=RuntimeState)


def render(
    config: RouterConfig, routes: Sequence[Route], *, tcp_routes: Sequence[TcpRoute] = ()
) -> str:
    """The complete haproxy.cfg for `routes`; raises ValueError on input HAProxy must not see."""
    return render_files(config, routes, tcp_routes=tcp_routes).text


def render_files(
    config: RouterConfig,
    routes: Sequence[Route],
    *,
    tcp_routes: Sequence[TcpRoute] = (),
    certificates: Sequence[Certificate] = (),
    challenges: Mapping[str, str] | None = None,
    previous: RuntimeState | None = None,
    api_keys: Mapping[str, KeyLimits] | None = None,
) -> RenderedConfig:
    """haproxy.cfg plus the files it loads: the host map, with HTTPS the certificates and
    their list, and while an ACME order is validated the answers to its HTTP-01 challenges
    (`challenges`: token → key authorization; see `render`); with routes that ask for API
    keys, the key map (`api_keys`: `key_entry(scope, digest)` → the key's limits).

    `previous` is what HAProxy serves now: servers keep their slots, and a backend keeps its
    number of slots while they suffice (see `yun.router.slots`)."""
    previous = previous or RuntimeState()
    logging = config.access_log
    backends = _backends(routes)
    rules = _rules(routes)
    # Bare hosts go through a map (a tree lookup), so a request costs the same with 10 or 10,000
    # routes; only path routes are ACL rules, walked in order.
    hosts = {host: name for host, path, name in rules if not path}
    host_map = "".join(f"{host} {name}\n" for host, name in hosts.items())
    map_name = HOST_MAP
    path_rules = [rule for rule in rules if rule[1]]
    assigned = {
        backend.name: _assign(backend.name, backend.servers, backend.need, previous)
        for backend in backends
    }
    tcp = _tcp_routes(config, tcp_routes)
    for port, route in tcp.items():
        name = f"{TCP_PROXY_PREFIX}{port}"
        servers = _servers(route.backend, route.servers)
        assigned[name] = _assign(name, servers, route.capacity, previous)
    targets: dict[str, int] = {}
    for backend in backends:
        targets.update(slots.targets(backend.name, assigned[backend.name]))
    keys: dict[str, str] = {}
    if any(backend.policy.api_keys for backend in backends):
        keys = {
            _key(entry, limits): f"{limits.value()}:{entry.partition('/')[2]}"
            for entry, limits in (api_keys or {}).items()
        }
        keys = dict(sorted(keys.items()))
    runtime = RuntimeState(slots=assigned, hosts=hosts, targets=targets, keys=keys)
    files = {map_name: host_map}
    if keys or any(backend.policy.api_keys for backend in backends):
        files[KEY_MAP] = "".join(f"{entry} {value}\n" for entry, value in keys.items())
        files.update((key_cache(b.policy.api_keys), "") for b in backends if b.policy.api_keys)
    if logging:  # the access log names the instance in each slot, kept at run time too
        instances = runtime.instances()
        files[INSTANCE_MAP] = "".join(f"{slot} {instances[slot]}\n" for slot in sorted(instances))
    files.update(jwt_files(backends))
    tls = tls_files(config, certificates)
    crt_list = next((Path(config.run_dir) / n for n in tls if n.endswith(".list")), None)
    answers = challenge_files(challenges or {})
    counted = any(b.policy.rate_limit or b.policy.api_keys for b in backends)
    sections = [
        _global(config, peers=counted),
        *([_peers(config)] if counted else []),
        *([_access_ring()] if logging else []),
        _defaults(),
        _frontend(
            config,
            path_rules,
            Path(config.run_dir) / map_name,
            wildcards=any(host.startswith(WILDCARD) for host, _, _ in rules),
            crt_list=crt_list,
            challenges=next((Path(config.run_dir) / name for name in answers), None),
        ),
        _unknown_route_backend(),
        *([_targets_table()] if backends else []),
        *(_backend(backend, assigned[backend.name], config=config) for backend in backends),
        *_tcp_sections(config, tcp, assigned),
    ]
    header = "# Generated by yun.router: rewritten on every route change, do not edit.\n"
    text = header + "\n".join(sections)
    return RenderedConfig(
        text=text,
        files={**files, **tls, **answers},
        layout=layout_of(text),
        runtime=runtime,
    )


# A slot's line as `_slot_line` writes it: what follows the name is the server, the rest layout.
_SERVER_LINE = re.compile(
    r"^    server ([0-9a-f]{8}-\d+) \S+(?: weight \d+)?( cookie \S+)?( proto h2)?(?: disabled)?$",
    re.M,
)


def layout_of(text: str) -> str:
    """A digest of a config's text with every slot empty: what a runtime change leaves alone."""
    return hashlib.sha256(_SERVER_LINE.sub(_empty_slot, text).encode()).hexdigest()


def _empty_slot(match: re.Match[str]) -> str:
    name, cookie, proto = match.group(1), match.group(2) or "", match.group(3) or ""
    return f"    server {name} {PLACEHOLDER}{cookie}{proto} disabled"


def _assign(name: str, servers: Sequence[Server], need: int, previous: RuntimeState) -> Slots:
    before = previous.slots.get(name, ())
    count = slots.slot_count(max(need, len(servers)), len(before) if before else None)
    return slots.assign(before, servers, count)


def _quoted(text: str) -> str:
    """A double-quoted HAProxy word: no word splitting, no environment expansion."""
    return f'"{text.translate(_ESCAPING)}"'


def _socket_address(host: str, port: int) -> str:
    if not 0 < port < 65536:
        raise ValueError(f"invalid router port {port}")
    if not host:
        return f":{port}"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"router bind must be an IP address, got {host!r}") from None
    return f"ipv6@{ip.compressed}:{port}" if ip.version == 6 else f"{ip.compressed}:{port}"


def _servers(backend: str, servers: Sequence[Server]) -> tuple[Server, ...]:
    """`servers` checked, sorted by name (the same servers always fill the same slots)."""
    for s in servers:
        if not 0 <= s.weight <= MAX_WEIGHT:
            raise ValueError(f"server {s.name!r}: weight {s.weight} is not within 0..{MAX_WEIGHT}")
        if s.instance and not s.instance.isdigit():
            raise ValueError(f"server {s.name!r}: instance {s.instance!r} is not an index")
        server_address(s)
    ordered = sorted(servers, key=lambda s: encode_name(s.name))
    names = [s.name for s in ordered]
    if len(set(names)) != len(names):
        raise ValueError(f"backend {backend!r} has two servers with the same name")
    addresses = [slots.key(s) for s in ordered]
    if len(set(addresses)) != len(addresses):
        raise ValueError(f"backend {backend!r} has two servers at the same address")
    return tuple(ordered)


def _backends(routes: Sequence[Route]) -> list[_Backend]:
    by_name: dict[str, _Backend] = {}
    for route in routes:
        route.policy.check()
        backend = _Backend(
            name=backend_name(route.backend),
            app_name=route.app_name,
            servers=_servers(route.backend, route.servers),
            policy=route.policy,
            need=route.capacity,
        )
        known = by_name.setdefault(backend.name, backend)
        if known.need < backend.need:
            known = by_name[backend.name] = backend
        if (known.app_name, known.servers, known.policy) != (
            backend.app_name,
            backend.servers,
            backend.policy,
        ):
            raise ValueError(
                f"routes for backend {route.backend!r} disagree on app name or servers"
            )
    return [by_name[name] for name in sorted(by_name)]


def _rules(routes: Sequence[Route]) -> list[tuple[str, str, str]]:
    """(host, path, backend name), longest path first within a host, without duplicates."""
    chosen: dict[tuple[str, str], str] = {}
    for route in routes:
        key = (normalize_host(route.host), normalize_path(route.path))
        name = backend_name(route.backend)
        if chosen.setdefault(key, name) != name:
            host, path = key
            raise ValueError(f"route {host}{path} is mapped to two backends")
    return sorted(
        ((host, path, name) for (host, path), name in chosen.items()),
        key=lambda rule: (rule[0], -len(rule[1]), rule[1]),
    )


def _peers(config: RouterConfig) -> str:
    """The local peer through which an old worker hands its counter tables to the new one at a
    reload (HAProxy does so once the old one has been up for its first resync, ~5 s): without
    it a rate limit's window or a key's quota would start again at every route change."""
    socket = f"unix@{Path(config.run_dir) / PEERS_SOCKET}"
    return f"peers {PEERS}\n    peer {LOCAL_PEER} {_quoted(socket)}\n"


def _global(config: RouterConfig, *, peers: bool = False) -> str:
    run_dir = Path(config.run_dir)
    lines = [
        "global",
        *([f"    localpeer {LOCAL_PEER}"] if peers else []),
        # expose-fd lets each new worker take the listening sockets over from the old one:
        # reloads refuse no connection.
        f"    stats socket {_quoted(str(run_dir / STATS_SOCKET))}"
        " mode 600 level admin expose-fd listeners",
        "    stats timeout 30s",
        # Old workers finish in-flight requests and websockets, but not forever.
        "    hard-stop-after 15m",
        "    mworker-max-reloads 50",
    ]
    if config.access_log:
        lines += [
            f"    log ring@{accesslog.ACCESS_RING} len {ACCESS_LINE_MAX} format raw local0 info",
        ]
    if config.max_header_bytes is not None:
        if not 1024 <= config.max_header_bytes <= MAX_HEADER_BYTES:
            raise ValueError(f"max header bytes {config.max_header_bytes}: give 1 KiB to 1 MiB")
        # The buffer holds the headers plus the room HAProxy keeps for rewriting them.
        lines.append(f"    tune.bufsize {config.max_header_bytes + REWRITE_ROOM}")
        lines.append(f"    tune.maxrewrite {REWRITE_ROOM}")
    if config.https_port is not None:  # Mozilla's "intermediate" profile, forward secret only
        lines += [
            f"    ssl-default-bind-ciphers {':'.join(TLS12_CIPHERS)}",
            f"    ssl-default-bind-ciphersuites {':'.join(TLS13_SUITES)}",
            "    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets",
        ]
    return "\n".join(lines) + "\n"


def _access_ring() -> str:
    """The ring the access log goes to: a full ring drops lines, it never slows requests."""
    lines = [
        f"ring {accesslog.ACCESS_RING}",
        '    description "Yun access log"',
        "    format raw",  # the line as LOG_FORMAT made it, no syslog header
        f"    maxlen {ACCESS_LINE_MAX}",
        f"    size {ACCESS_RING_SIZE}",
    ]
    return "\n".join(lines) + "\n"


def _defaults() -> str:
    lines = [
        "defaults",
        "    mode http",
        "    log global",
        "    option dontlognull",
        # A draining worker answers the next request on an idle keep-alive connection with
        # "Connection: close" instead of closing it under a client that is about to send.
        "    option idle-close-on-response",
        *(f"    timeout {name} {value}" for name, value in TIMEOUTS),
        f"    retries {RETRIES}",
        "    option redispatch 1",
        "    retry-on conn-failure",
    ]
    for status, reason in ((502, "Bad Gateway"), (503, "Service Unavailable"), (504, "Timeout")):
        body = f"{status} {reason}: the app's instance did not answer the router.\n"
        lines.append(
            f"    http-error status {status} content-type text/plain string {_quoted(body)}"
            f" hdr {ERROR_HEADER} endpoint_failure"
        )
    return "\n".join(lines) + "\n"


def _frontend(
    config: RouterConfig,
    path_rules: list[tuple[str, str, str]],
    host_map: Path,
    *,
    wildcards: bool,
    crt_list: Path | None = None,
    challenges: Path | None = None,
) -> str:
    logging = config.access_log
    lines = [
        f"frontend {FRONTEND}",
        f"    bind {_socket_address(config.bind, config.port)}",
    ]
    if crt_list is not None and config.https_port is not None:
        if "'" in str(crt_list):
            raise ValueError(f"run_dir must not contain a single quote: {crt_list.parent}")
        lines.append(
            f"    bind {_socket_address(config.bind, config.https_port)}"
            f" ssl crt-list '{crt_list}' alpn h2,http/1.1"
        )
    if logging:
        instances = Path(config.run_dir) / INSTANCE_MAP
        log_format = accesslog.LOG_FORMAT.replace(
            accesslog.INSTANCE, f" %[srv_name,map_str('{instances}')] "
        )
        lines.append(f"    log-format {_quoted(log_format)}")
    else:
        lines.append("    no log")
    lines += [
        f"    http-request set-var({accesslog.VAR_HOST}) req.hdr(host),field(1,:),lower",
        f"    http-request set-var({accesslog.VAR_START}) date(0,ms)",
        *_challenge_rules(challenges),
        # Append to X-Forwarded-For in place, so apps reading one header see the whole chain.
        '    http-request set-header X-Forwarded-For "%[req.fhdr(x-forwarded-for)], %[src]"'
        " if { req.fhdr_cnt(x-forwarded-for) eq 1 }",
        "    http-request add-header X-Forwarded-For %[src]"
        " if !{ req.fhdr(x-forwarded-for) -m found }",
        "    http-request add-header X-Forwarded-For %[src]"
        " if { req.fhdr_cnt(x-forwarded-for) gt 1 }",
        *_forwarded_proto(https=crt_list is not None and config.https_port is not None),
        # One random UUID per request makes both the request id and the trace, when either
        # is missing (a UUID costs HAProxy about as much as the rest of this section).
        f"    http-request set-var({VAR_TRACE}) uuid if {_NO_REQUEST_ID} || {_NO_TRACE}",
        f"    http-request add-header X-Request-Id %[var({VAR_TRACE})] if {_NO_REQUEST_ID}",
        f"    http-request set-header traceparent {NEW_TRACEPARENT} if {_NO_TRACE}",
        f"    http-request add-header X-Request-Start %[var({accesslog.VAR_START})]"
        " if !{ req.hdr(x-request-start) -m found }",
    ]
    if wildcards:
        lines.append(f"    http-request set-var({VAR_WILD}) var({accesslog.VAR_HOST}),{_WILD}")
    first_use = len(lines)  # http-request rules go before this line, use_backend rules after
    if logging:
        slot, fetch, length = accesslog.VERSION_CAPTURE
        lines += [
            *(
                f"    capture request header {header} len {length}"
                for _, header, length in accesslog.HEADER_CAPTURES
            ),
            f"    declare capture request len {length}",
            f"    http-request capture {fetch} id {slot}",
        ]
    if "'" in str(host_map):
        raise ValueError(f"run_dir must not contain a single quote: {host_map.parent}")
    # The host's own routes first (its paths, then the host), then the wildcard routes of its
    # domain (`*.example.com`: the first label replaced by `*`), as Cloud Foundry's router.
    # A host missing from the map yields no backend name: HAProxy goes on to the next rule.
    lookups = [(f"var({accesslog.VAR_HOST})", False)]
    if wildcards:  # only then: a request costs no more where no route is a wildcard
        lookups.append((f"var({VAR_WILD})", True))
    for host_var, wildcard in lookups:
        for host, path, name in path_rules:
            if host.startswith(WILDCARD) != wildcard:
                continue
            on_host = f"{{ {host_var} -m str {host} }}"
            lines.append(
                f"    use_backend {name} if {on_host} {{ path -m str {_quoted(path)} }}"
                f" || {on_host} {{ path -m beg {_quoted(path + '/')} }}"
            )
        lookup = f"%[{host_var},map_str('{host_map}')]"
        if not wildcards:
            lines.append(f"    use_backend {_quoted(lookup)}")
            continue
        # A map miss must fall through to the wildcard rules, so look up into a variable and
        # use it only when the host was found.
        found = VAR_WILD_BACKEND if wildcard else VAR_HOST_BACKEND
        lines.insert(first_use, f"    http-request set-var({found}) {lookup[2:-1]}")
        first_use += 1
        lines.append(f"    use_backend %[var({found})] if {{ var({found}) -m found }}")
    lines.append(f"    default_backend {UNKNOWN_ROUTE_BACKEND}")
    return "\n".join(lines) + "\n"


def _forwarded_proto(*, https: bool) -> list[str]:
    """X-Forwarded-Proto (and, with HTTPS, X-Forwarded-Port) unless the client sent them."""
    unset = "!{ req.hdr(x-forwarded-proto) -m found }"
    if not https:
        return [f"    http-request add-header X-Forwarded-Proto http if {unset}"]
    return [
        f"    http-request add-header X-Forwarded-Proto https if {{ ssl_fc }} {unset}",
        f"    http-request add-header X-Forwarded-Proto http if !{{ ssl_fc }} {unset}",
        "    http-request add-header X-Forwarded-Port %[dst_port]"
        " if !{ req.hdr(x-forwarded-port) -m found }",
    ]


def challenge_files(challenges: Mapping[str, str]) -> dict[str, str]:
    """The map of HTTP-01 answers (token → key authorization); {} when there are none."""
    if not challenges:
        return {}
    for token, answer in challenges.items():
        if not _ACME_TOKEN.fullmatch(token) or not _ACME_ANSWER.fullmatch(answer):
            raise ValueError(f"ACME challenge {token!r}: not a base64url token and answer")
    text = "".join(f"{token} {challenges[token]}\n" for token in sorted(challenges))
    return {f"{CHALLENGE_MAP_PREFIX}{hashlib.sha256(text.encode()).hexdigest()[:16]}.map": text}


def _challenge_rules(answers: Path | None) -> list[str]:
    """ACME's HTTP-01 requests answered by the router itself, before any route: the CA asks
    `http://HOST/.well-known/acme-challenge/TOKEN` and gets the key authorization."""
    if answers is None:
        return []  # no order being validated: no rule, no cost
    if "'" in str(answers):
        raise ValueError(f"run_dir must not contain a single quote: {answers.parent}")
    return [
        f"    http-request set-var({VAR_CHALLENGE}) path,field(4,/),map_str('{answers}')"
        f" if {{ path_beg {CHALLENGE_PATH} }}",
        "    http-request return status 200 content-type text/plain"
        f' lf-string "%[var({VAR_CHALLENGE})]" if {{ var({VAR_CHALLENGE}) -m found }}',
    ]


def tls_files(config: RouterConfig, certificates: Sequence[Certificate]) -> dict[str, str]:
    """One PEM bundle file per certificate and the crt-list naming them with their SNI names,
    the first (the platform's) also for clients that send no name; {} without HTTPS."""
    if config.https_port is None or not certificates:
        return {}
    files: dict[str, str] = {}
    lines = []
    for certificate in certificates:
        for name in certificate.names:
            normalize_host(name)  # a name reaches HAProxy's crt-list verbatim
        digest = hashlib.sha256(certificate.bundle.encode()).hexdigest()[:16]
        pem = f"{CERT_PREFIX}{digest}.pem"
        files[pem] = certificate.bundle
        lines.append(f"{Path(config.run_dir) / pem} {' '.join(certificate.names)}\n")
    text = "".join(lines)
    files[f"{CERT_PREFIX}{hashlib.sha256(text.encode()).hexdigest()[:16]}.list"] = text
    return files


@functools.lru_cache(maxsize=64)  # every backend without instances has the same one
def _error_return(status: int, body: str, reason: str) -> str:
    return (
        f"    http-request return status {status} content-type text/plain"
        f" lf-string {_quoted(body)} hdr {ERROR_HEADER} {reason}"
        " hdr X-Content-Type-Options nosniff"
    )


def _unknown_route_backend() -> str:
    body = f"Requested route ('%[var({accesslog.VAR_HOST})]') does not exist.\n"
    return (
        "\n".join([f"backend {UNKNOWN_ROUTE_BACKEND}", _error_return(404, body, "unknown_route")])
        + "\n"
    )


def _targets_table() -> str:
    """The instances clients may name, `<backend>/<index>` → slot id, filled at run time."""
    return (
        f"backend {TARGETS_TABLE}\n"
        f"    stick-table type string len {TARGET_KEY_MAX} size {TARGETS_SIZE} store server_id\n"
    )


def _slot_line(
    backend: str, number: int, server: Server | None, *, cookie: bool, proto: str
) -> str:
    """One slot: its server, or a placeholder in maintenance (`_SERVER_LINE` reads it back)."""
    name = slot_name(backend, number)
    line = f"    server {name} "
    if server is None:
        line += PLACEHOLDER
    else:
        line += server_address(server) + (f" weight {server.weight}" if server.weight != 1 else "")
    line += (f" cookie {name}" if cookie else "") + proto
    return line + (" disabled" if server is None else "")


def _backend(backend: _Backend, assigned: Slots, *, config: RouterConfig) -> str:
    https_port, run_dir = config.https_port, config.run_dir
    policy = backend.policy
    lines = [f"backend {backend.name}", f"    balance {_balance(policy)}"]
    if policy.balance == "hash":
        lines.append("    hash-type consistent")  # instances coming and going move few keys
    if policy.timeout is not None:
        lines.append(f"    timeout server {round(policy.timeout * 1000)}ms")
    if policy.https_redirect and https_port is not None:
        lines.append(f"    http-request redirect {_to_https(https_port)} code 301 if !{{ ssl_fc }}")
    if policy.hsts:
        lines.append(
            f'    http-response set-header Strict-Transport-Security "max-age={HSTS_MAX_AGE}"'
            " if { ssl_fc }"
        )
    lines += _route_service(policy, config)
    gateway, table = _gateway(backend.name, policy, run_dir)
    if policy.route_service:  # checked and counted once: when the client sends it
        gateway = [_unless(rule, RS_SIGNED) for rule in gateway]
    lines += gateway
    lines += _resilience(policy)
    if policy.sticky and assigned:
        # Passive: HAProxy reads the cookie and sends the client to its slot; the app decides
        # when there is a session to keep (the rule below sets it along with JSESSIONID).
        lines.append(f"    cookie {STICKY_COOKIE}")
    body = f"Requested route ('%[var({accesslog.VAR_HOST})]') has no available instances.\n"
    # A stopping worker (the old one after a reload) counts no usable servers anywhere, yet
    # still answers the requests it has taken: it must not turn them away.
    lines.append(
        _error_return(503, body, "no_healthy_instances") + " if { nbsrv eq 0 } !{ stopping }"
    )
    if assigned:
        lines += _instance_rules(backend)
    # h2c with prior knowledge: gRPC servers and other apps that speak HTTP/2 in clear.
    proto = " proto h2" if policy.protocol == "http2" else ""
    lines += [
        _slot_line(backend.name, number, server, cookie=policy.sticky, proto=proto)
        for number, server in enumerate(assigned, start=1)
    ]
    return "\n".join(lines) + "\n" + table


def jwt_files(backends: Sequence[_Backend]) -> dict[str, str]:
    """The public keys routes verify tokens with, a file each (HAProxy reads them at start),
    and each JWT backend's token cache, empty."""
    files = {
        _jwt_file(key): key.key
        for backend in backends
        for key in backend.policy.jwt_keys
        if not key.secret
    }
    for backend in (b for b in backends if b.policy.jwt):
        files[jwt_cache(backend.name)] = ""
        claims = range(len(backend.policy.jwt_claims))
        files.update((jwt_cache(backend.name, number), "") for number in claims)
    return files


def jwt_header(claim: str) -> str:
    """The header a claim reaches the app in: `preferred_username` → X-Jwt-Preferred-Username."""
    words = claim.replace("_", "-").split("-")
    return JWT_HEADER_PREFIX + "-".join(word.capitalize() for word in words if word)


def _jwt_file(key: JwtKey) -> str:
    return f"{JWT_PREFIX}{hashlib.sha256(key.key.encode()).hexdigest()[:16]}.pem"


def jwt_cache(backend: str, claim: int | None = None) -> str:
    """The map of a backend's verified tokens (token → its `exp`), or of the value of its
    forwarded claim number `claim` (token → the claim), filled by HAProxy itself."""
    return f"{JWT_CACHE_PREFIX}{backend}{'' if claim is None else f'.c{claim}'}.map"


def _jwt(name: str, policy: Policy, run_dir: Path) -> list[str]:
    """A bearer token must be signed by one of the route's keys (with the algorithm the key
    names; of several, the key its `kid` names when both name one) and carry an `exp` still
    ahead; else 401. The claims the route forwards replace any header of their names the
    client sent.

    A token is checked and read once: a verified token goes, with its `exp`, into the
    backend's cache map (`set-map`), and each claim it forwards into a map of the claim's own
    (a claim the token lacks stays out); later requests with the same token (the whole of it,
    signature included) find them there. The maps are empty at each reload (new keys) and the
    platform clears them every `JWT_CACHE_CLEAR` seconds; only verified tokens enter them."""
    headers = [jwt_header(claim) for claim in policy.jwt_claims]
    rules = [f"    http-request del-header {header}" for header in headers]
    cache = run_dir / jwt_cache(name)
    if "'" in str(cache):
        raise ValueError(f"run_dir must not contain a single quote: {run_dir}")
    token, exp, new = "http_auth_bearer", "txn.yun_jwt_exp", "txn.yun_jwt_new"
    rules.append(f"    http-request set-var({exp}) {token},map('{cache}')")
    # The key's algorithm is the one verified, whatever the token's header says (no algorithm
    # confusion), so the header is read only to pick a key by its id, where there is a choice.
    choose = len(policy.jwt_keys) > 1 and any(key.kid for key in policy.jwt_keys)
    if choose:
        rules.append(
            f"    http-request set-var(txn.yun_jwt_kid) {token},jwt_header_query('$.kid')"
            f" unless {{ var({exp}) -m found }}"
        )
    for key in policy.jwt_keys:
        material = key.key if key.secret else str(run_dir / _jwt_file(key))
        if "'" in material:
            raise ValueError(f"run_dir must not contain a single quote: {run_dir}")
        verify = f"{{ {token},jwt_verify({key.alg},'{material}') -m int 1 }}"
        first = f"!{{ var({exp}) -m found }} !{{ var({new}) -m found }}"
        if choose and key.kid:
            unnamed = f"!{{ var(txn.yun_jwt_kid) -m found }} {verify}"
            condition = (
                f"{first} {{ var(txn.yun_jwt_kid) -m str {key.kid} }} {verify} or {first} {unnamed}"
            )
        else:
            condition = f"{first} {verify}"
        rules.append(f"    http-request set-var({new}) int(1) if {condition}")
    rules += [
        f"    http-request set-var({exp}) {token},jwt_payload_query('$.exp','int')"
        f" if {{ var({new}) -m found }}",
        f"    http-request set-map('{cache}') %[{token}] %[var({exp})]"
        f" if {{ var({new}) -m found }} {{ var({exp}) -m found }}",
        # Seconds left (now - exp < 0); no `exp` (an unknown token) is no time left.
        _error_return(401, "A valid bearer token is needed.\n", "jwt_refused")
        + ' hdr WWW-Authenticate "Bearer"'
        + f" unless {{ date,neg,add({exp}) -m int gt 0 }}",
    ]
    for number, (claim, header) in enumerate(zip(policy.jwt_claims, headers, strict=True)):
        var, claims = f"txn.yun_jwt_c{number}", run_dir / jwt_cache(name, number)
        rules += [
            f"    http-request set-var({var}) {token},map('{claims}')",
            f"    http-request set-var({var}) {token},jwt_payload_query('$.{claim}')"
            f" if {{ var({new}) -m found }}",
            f"    http-request set-map('{claims}') %[{token}] %[var({var})]"
            f" if {{ var({new}) -m found }} {{ var({var}) -m found }}",
            f"    http-request set-header {header} %[var({var})] if {{ var({var}) -m found }}",
        ]
    return rules


def _gateway(name: str, policy: Policy, run_dir: Path) -> tuple[list[str], str]:
    """The backend's gateway rules, and the section of its rate limit's table (or "").

    Refusals come first, the cheapest first: 403 for addresses not allowed or denied, 413 for
    a body too large; then each client address counts its requests in a window of fixed
    seconds (`date` divided by the window names it, with the address, in a table that forgets
    it after two windows) and one past the limit gets 429 with the seconds to the next window;
    then API keys (`_api_keys`), then JWT (`_jwt`)."""
    rules: list[str] = []
    if policy.allow:
        allowed = " ".join(policy.allow)
        rules.append(f"    http-request deny deny_status 403 unless {{ src {allowed} }}")
    if policy.deny:
        rules.append(f"    http-request deny deny_status 403 if {{ src {' '.join(policy.deny)} }}")
    if policy.max_body:
        rules.append(
            f"    http-request deny deny_status 413 if {{ req.hdr_val(content-length) gt"
            f" {policy.max_body} }}"
        )
    if policy.cors:
        rules += _cors(policy.cors)
    section = ""
    if policy.rate_limit:
        table, window = f"{RATE_TABLE_PREFIX}{name}", policy.rate_window
        rules += [
            f"    http-request set-var(txn.yun_rl_window) date,div({window})",
            f"    http-request track-sc0 src,concat(/,txn.yun_rl_window) table {table}",
            "    http-request sc-inc-gpc0(0)",
            _error_return(429, "Too many requests: try again later.\n", "rate_limited")
            + f" hdr Retry-After %[date,mod({window}),neg,add({window})]"
            f" if {{ sc_get_gpc0(0) gt {policy.rate_limit} }}",
        ]
        section += (
            f"\nbackend {table}\n"
            f"    stick-table type string len 64 size {RATE_TABLE_SIZE}"
            f" expire {2 * window}s store gpc0 peers {PEERS}\n"
        )
    if policy.api_keys:
        key_rules, key_table = _api_keys(policy.api_keys, run_dir)
        rules += key_rules
        section += key_table
    if policy.jwt:
        rules += _jwt(name, policy, run_dir)
    return rules, section


def _key(entry: str, limits: KeyLimits) -> str:
    """`entry`, checked with its limits; ValueError on what HAProxy must not see."""
    scope, _, digest = entry.partition("/")
    key_entry(scope, digest)
    windows = (limits.rate_window, limits.quota_window)
    if min(limits.rate, limits.quota) < 0 or not all(1 <= w <= MAX_KEY_WINDOW for w in windows):
        raise ValueError(f"API key limits {limits}: out of range")
    return entry


def key_cache(scope: str) -> str:
    """The map of a route's keys seen (the key as sent → its key map value), which HAProxy
    fills itself."""
    return f"{KEY_CACHE_PREFIX}{scope}.map"


def _api_keys(scope: str, run_dir: Path) -> tuple[list[str], str]:
    """A request needs a key (`X-Api-Key`, or `?api_key=`) whose SHA-256 the key map holds
    under the route's scope, else 401. The map's value is the key's plan (rate, its window,
    quota, its window) and its digest. A key over its quota (the requests served in the
    quota's window) or past its rate (the requests sent in the rate's window) gets 429 with
    the seconds to the window's end; the two are counted in fixed windows, in the route's own
    table, by sc1 and sc2 (sc0 is the per-address limit's).

    A key is hashed once: a key found goes, as sent, with its value into the route's key
    cache (`set-map`), where its next requests find it. Every change of the key map clears
    the caches (`slots.commands`), and a reload starts them empty."""
    key_map, cache = run_dir / KEY_MAP, run_dir / key_cache(scope)
    if "'" in str(key_map):
        raise ValueError(f"run_dir must not contain a single quote: {run_dir}")
    table = f"{KEYS_TABLE_PREFIX}{scope}"
    sent, key, plan = "txn.yun_key_sent", "txn.yun_key", "txn.yun_key_plan"
    rate, rate_window, quota, quota_window = (f"txn.yun_key_{n}" for n in ("r", "rw", "q", "qw"))
    has_rate, has_quota = f"{{ var({rate}) -m int gt 0 }}", f"{{ var({quota}) -m int gt 0 }}"
    unknown = f"!{{ var({plan}) -m found }}"
    rules = [
        f"    http-request set-var({sent}) req.hdr({KEY_HEADER})",
        f"    http-request set-var({sent}) url_param({KEY_PARAM})"
        f" unless {{ var({sent}) -m found }}",
        f"    http-request set-var({plan}) var({sent}),map('{cache}')",
        f"    http-request set-var({key}) var({sent}),sha2(256),hex,lower if {unknown}",
        f"    http-request set-var({plan}) str({scope}/),concat(,{key},),map('{key_map}')"
        f" if {unknown} {{ var({key}) -m found }}",
        f"    http-request set-map('{cache}') %[var({sent})] %[var({plan})]"
        f" if {{ var({key}) -m found }} {{ var({plan}) -m found }}",
        _error_return(401, "A valid API key is needed.\n", "api_key_refused")
        + f" unless {{ var({plan}) -m found }}",
    ]
    # The limits come first: `field` reads from the start, and they are short. They are held
    # as integers (`add(0)`), not text, which each later use would parse again.
    for number, var in enumerate((rate, rate_window, quota, quota_window), start=1):
        rules.append(f"    http-request set-var({var}) var({plan}),field({number},:),add(0)")
    rules.append(f"    http-request set-var({key}) var({plan}),field(5,:)")
    for counter, kind, limit, window in (
        (1, "r", rate, rate_window),
        (2, "q", quota, quota_window),
    ):
        # `<window>/r/<digest>`: the window's number since the epoch, the kind, the key.
        rules.append(
            f"    http-request track-sc{counter} date,div({window}),concat(/{kind}/,{key},)"
            f" table {table} if {{ var({limit}) -m int gt 0 }}"
        )
    body = "This API key is over its limit: try again later.\n"
    rules += [
        # The quota counts requests served: one that used it up is refused before counting.
        _error_return(429, body, "api_key_quota")
        + f" hdr Retry-After %[date,mod({quota_window}),neg,add({quota_window})]"
        f" if {has_quota} {{ sc_get_gpc0(2),sub({quota}) -m int ge 0 }}",
        # The rate counts requests sent: this one, counted as it is checked.
        _error_return(429, body, "api_key_rate")
        + f" hdr Retry-After %[date,mod({rate_window}),neg,add({rate_window})]"
        f" if {has_rate} {{ sc_inc_gpc0(1),sub({rate}) -m int gt 0 }}",
        f"    http-request sc-inc-gpc0(2) if {has_quota}",
    ]
    section = (
        f"\nbackend {table}\n"
        f"    stick-table type string len 96 size {KEYS_TABLE_SIZE}"
        f" expire {2 * MAX_KEY_WINDOW}s store gpc0 peers {PEERS}\n"
    )
    return rules, section


def _unless(rule: str, condition: str) -> str:
    """`rule`, made to apply only where `condition` does not hold (an ACL in braces).

    A request that came back from a route service, validly signed (a wrong signature was
    refused before), passed the route's gateway when the client sent it: its address, body,
    limits, key and token are not checked or counted again (its address is the service's).
    `condition` goes first in each term: HAProxy stops at the first false one, so a counter a
    rule's own test increments (`sc_inc_gpc0`) is not touched."""
    at = max(rule.rfind(" if "), rule.rfind(" unless "))
    action, keyword, test = (rule, "", "") if at < 0 else (rule[:at], *rule[at + 1 :].split(" ", 1))
    if keyword == "unless":
        return f"{action} unless {condition} or {test}"
    if keyword == "if":
        terms = test.split(" or ")
        return f"{action} if " + " or ".join(f"!{condition} {term}" for term in terms)
    return f"{rule} unless {condition}"


def _route_service(policy: Policy, config: RouterConfig) -> list[str]:
    """Cloud Foundry's route services. A request without `X-CF-Proxy-Signature` goes to the
    route service (its URL's host and path) with `X-CF-Forwarded-Url` (where it was going),
    `X-CF-Proxy-Signature` (`<time>.<HMAC-SHA256 of time|host+path>`, signed with the router's
    key) and `X-CF-Proxy-Metadata`; the service sends it on to the forwarded URL with the two
    headers as they were, and the router lets it through to the app if the signature is its
    own, for this host and path, and at most `ROUTE_SERVICE_AGE` seconds old (else 403)."""
    if not policy.route_service:
        return []
    if not config.route_service_key:
        raise ValueError("route services need the router's route_service_key")
    scheme, _, rest = policy.route_service.partition("://")
    authority, slash, path = rest.partition("/")
    host, _, port_text = authority.partition(":")
    port = int(port_text or (443 if scheme == "https" else 80))
    sig, ts, want = RS_SIGNATURE_VAR, "txn.yun_rs_ts", "txn.yun_rs_want"
    signed, unsigned = f"{{ var({sig}) -m found }}", f"!{{ var({sig}) -m found }}"
    key = config.route_service_key
    refused = _error_return(403, "The route service's signature is not valid.\n", "route_service")
    if policy.route_service_local:  # a route of this platform: through the router itself
        server = f"{server_address(Server('rs', config.bind, config.port))} weight 0"
    else:
        server = f"{host}:{port} weight 0" + (
            f" ssl verify required ca-file {SYSTEM_CA} sni str({host})" if scheme == "https" else ""
        )
    return [
        f"    http-request set-var({sig}) req.hdr({RS_SIGNATURE})",
        f"    http-request set-var({ts}) var({sig}),field(1,.) if {signed}",
        f"    http-request set-var({ts}) date if {unsigned}",
        "    http-request set-var(txn.yun_rs_base) base",
        f"    http-request set-var({want}) var({ts}),concat(|,txn.yun_rs_base,),"
        f"hmac(sha256,{key}),base64",
        f"    http-request set-var(txn.yun_rs_given) var({sig}),field(2,.) if {signed}",
        f"    http-request set-var(txn.yun_rs_age) date,sub({ts})",
        f"{refused} if {signed} !{{ var(txn.yun_rs_given),strcmp({want}) eq 0 }}",
        f"{refused} if {signed} {{ var(txn.yun_rs_age) -m int gt {ROUTE_SERVICE_AGE} }}"
        f" or {signed} {{ var(txn.yun_rs_age) -m int lt 0 }}",
        f"    http-request set-header {RS_FORWARDED_URL}"
        " %[req.hdr(x-forwarded-proto)]://%[req.hdr(host)]%[capture.req.uri] if"
        f" {unsigned}",
        f"    http-request set-header {RS_SIGNATURE} %[var({ts})].%[var({want})] if {unsigned}",
        f"    http-request set-header {RS_METADATA} %[req.hdr(x-request-id)] if {unsigned}",
        f"    http-request set-header Host {authority} if {unsigned}",
        f"    http-request set-path /{path if slash else ''} if {unsigned}",
        f"    use-server {ROUTE_SERVICE_SERVER} if {unsigned}",
        f"    server {ROUTE_SERVICE_SERVER} {server}",
    ]


def _cors(origins: tuple[str, ...]) -> list[str]:
    """Browsers' cross-origin calls: a preflight (OPTIONS with Access-Control-Request-Method)
    from an allowed origin is answered here, before keys or tokens are asked for (browsers
    send none with it); answers to an allowed origin's requests say it may read them."""
    origin, anyone = "txn.yun_cors", origins == ("*",)
    allowed = (
        "{ req.hdr(origin) -m found }"
        if anyone
        else f"{{ req.hdr(origin) -m str {' '.join(origins)} }}"
    )
    value = "*" if anyone else f"%[var({origin})]"
    credentials = "" if anyone else " hdr Access-Control-Allow-Credentials true"
    return [
        f"    http-request set-var({origin}) req.hdr(origin) if {allowed}",
        "    http-request return status 204"
        f' hdr Access-Control-Allow-Origin "{value}"{credentials}'
        f' hdr Access-Control-Allow-Methods "{CORS_METHODS}"'
        ' hdr Access-Control-Allow-Headers "%[req.fhdr(access-control-request-headers)]"'
        f" hdr Access-Control-Max-Age {CORS_MAX_AGE} hdr Vary Origin"
        f" if METH_OPTIONS {{ var({origin}) -m found }}"
        " { req.hdr(access-control-request-method) -m found }",
        f'    http-response set-header Access-Control-Allow-Origin "{value}"'
        f" if {{ var({origin}) -m found }}",
        *(
            [
                f"    http-response set-header Access-Control-Allow-Credentials true"
                f" if {{ var({origin}) -m found }}"
            ]
            if not anyone
            else []
        ),
        f"    http-response add-header Vary Origin if {{ var({origin}) -m found }}",
    ]


def _resilience(policy: Policy) -> list[str]:
    """A route's own retries, and its circuit breaker.

    Behind a breaker, HAProxy probes each instance (`GET /` every `BREAKER_CHECK` seconds; any
    answer but a 5xx will do) and takes it out after `breaker_errors` failed probes in a row,
    or at once after as many 5xx or failed connections in a row on requests it could not send
    again (`observe layer7`). An instance taken out is probed again after each cool-down and
    let back in at its first good answer. Idempotent requests that got a 5xx or nothing are
    sent again to another instance, so clients see no error while another is healthy."""
    lines = []
    if policy.retries is not None:
        lines.append(f"    retries {policy.retries}")
    if policy.breaker_errors or policy.retries is not None:
        statuses = "500 502 503 504" if policy.breaker_errors else "502 503 504"
        lines += [
            f"    retry-on conn-failure empty-response junk-response response-timeout {statuses}",
            f"    http-request disable-l7-retry unless {{ method {' '.join(IDEMPOTENT)} }}",
        ]
    if policy.breaker_errors:
        errors, cooldown = policy.breaker_errors, policy.breaker_cooldown
        lines += [
            "    option httpchk GET /",
            "    http-check expect rstatus ^[1-4]",
            f"    default-server check inter {BREAKER_CHECK}s fall {errors} rise 1"
            f" downinter {cooldown}s observe layer7 error-limit {errors} on-error mark-down",
        ]
    return lines


def _to_https(port: int) -> str:
    """Where a plain request goes: the same host and URI over HTTPS, on the router's port."""
    if port == 443:
        return "scheme https"
    return f'location "https://%[var({accesslog.VAR_HOST})]:{port}%[capture.req.uri]"'


def _balance(policy: Policy) -> str:
    if policy.balance == "hash":
        return f"hdr({policy.hash_header})"
    return "leastconn" if policy.balance == "least-connection" else "roundrobin"


def _instance_rules(backend: _Backend) -> list[str]:
    """Requests that name their instance: `X-Yun-App-Instance: INDEX` (or Cloud Foundry's
    `X-CF-APP-INSTANCE: APP_GUID:INDEX`) reach it or get 404, through the targets table that
    the router fills at run time; with sticky sessions, a client whose app set JSESSIONID comes
    back to the instance in its `__VCAP_ID__` cookie. A request that names none pays for two
    header lookups and three tests of an unset variable."""
    key = "txn.yun_target_key"
    # A fetch that finds no header sets no variable: no condition needed, one header scan each.
    lines = [
        f"    http-request set-var(txn.yun_target) req.hdr({TARGET_HEADER})",
        f"    http-request set-var(txn.yun_target) req.hdr({CF_TARGET_HEADER}),field(2,:)",
        f"    http-request set-var({key}) str({backend.name}/),concat(,txn.yun_target,)"
        " if { var(txn.yun_target) -m found }",
    ]
    missing = "Requested instance ('%[var(txn.yun_target)]') of this app does not exist.\n"
    lines.append(
        _error_return(404, missing, "unknown_instance")
        + f" if {{ var({key}) -m found }} !{{ var({key}),table_server_id({TARGETS_TABLE}) gt 0 }}"
    )
    lines.append(f"    stick match var({key}) table {TARGETS_TABLE} if {{ var({key}) -m found }}")
    if backend.policy.sticky:
        lines.append(
            f'    http-response add-header Set-Cookie "{STICKY_COOKIE}=%[srv_name]; path=/;'
            ' HttpOnly" if { res.cook(JSESSIONID) -m found }'
        )
    return lines


def _tcp_routes(config: RouterConfig, tcp_routes: Sequence[TcpRoute]) -> dict[int, TcpRoute]:
    by_port: dict[int, TcpRoute] = {}
    for route in tcp_routes:
        if route.port == config.port:
            raise ValueError(f"TCP route port {route.port} is the router's HTTP port")
        if by_port.setdefault(route.port, route) != route:
            raise ValueError(f"TCP route port {route.port} is given to two routes")
    return {port: by_port[port] for port in sorted(by_port)}


def _tcp_sections(
    config: RouterConfig, routes: Mapping[int, TcpRoute], assigned: Mapping[str, Slots]
) -> list[str]:
    """The TCP routes' `defaults` and one `listen` per port, sorted by port; [] without any."""
    if not routes:
        return []
    lines = [
        "defaults",
        "    mode tcp",
        *(f"    timeout {name} {value}" for name, value in TCP_TIMEOUTS),
        f"    retries {RETRIES}",
        "    option redispatch 1",
    ]
    sections = ["\n".join(lines) + "\n"]
    for port, route in routes.items():
        name = f"{TCP_PROXY_PREFIX}{port}"
        lines = [
            f"listen {name}",
            f"    bind {_socket_address(config.bind, port)}",
            "    no log",
            "    balance roundrobin",
        ]
        if route.app_name:
            lines.append(f"    description {_quoted(route.app_name)}")
        lines += [
            _slot_line(name, number, server, cookie=False, proto="")
            for number, server in enumerate(assigned[name], start=1)
        ]
        sections.append("\n".join(lines) + "\n")
    return sections
