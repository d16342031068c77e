"""Gateway options of a route, as users write them: what the API, the manifest and the router
agree on.

- `rate_limit`: `N/PERIOD` (`100/1s`, `1000/1m`, `20/10s`): each client address may send N
  requests in each window of PERIOD; the next ones get 429 with `Retry-After` (the seconds to
  the next window). Windows are fixed, counted by the router in a stick table.
- `max_body`: `SIZE` (`512k`, `10m`, `1g`, or bytes): a request whose Content-Length says more
  gets 413.
- `allow` / `deny`: addresses or CIDR blocks, separated by commas: only `allow`ed clients are
  served (403 for the others), `deny`ed ones never are.
- `route_service`: an http(s) URL (`https://gate.apps.localhost/check`): Cloud Foundry's route
  service. Requests go first to it, with `X-CF-Forwarded-Url` and a signature it must send
  back; it sends them on to the forwarded URL, and the router lets them through to the app.
- `cors`: `*` or origins separated by commas (`https://shop.example.com,https://admin.example.com`):
  browsers' preflight requests from those origins are answered by the router (204 with the
  methods and the headers asked for), and answers to them carry Access-Control-Allow-Origin
  (with named origins, credentials are allowed too).
- `circuit_breaker`: `N` or `N/COOLDOWN` (`5`, `5/30s`): an instance that answers N requests in
  a row with 5xx (or fails N connections) is taken out; after COOLDOWN (30 s unless given) one
  probe (a connection) lets it back in, and N more errors take it out again. Idempotent
  requests that got a 5xx or no answer are sent again to another instance, so clients see no
  error while another instance is healthy.
- `retries`: `0` to `10`: how many times a request is sent again after a failed connection
  (3 unless given), or, for idempotent requests, an empty answer or a 502/503/504.
- `jwt_jwks`: a JWKS (its JSON) or its https:// address (`yun.jwks`): requests need a bearer
  token signed by one of its keys, with an `exp` still ahead; else 401.
- `jwt_claims`: `sub,email`: the token's claims the app gets as X-Jwt-Sub, X-Jwt-Email
  headers (`sub` unless given).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from yun.jwks import check_source, parse_claims

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)b?\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SERVICE_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~/-]*)?$")
ORIGIN = re.compile(r"^https?://[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:\d{1,5})?$")
_SIZES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
MAX_WINDOW = 86400
MAX_LIST = 64  # addresses or blocks in one list
DEFAULT_COOLDOWN = 30  # seconds an instance a circuit breaker took out waits for its probe
MAX_RETRIES = 10


def parse_rate(text: str) -> tuple[int, int]:
    """`N/PERIOD` → (N requests, window in seconds); ValueError saying what is wrong."""
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not N/PERIOD, e.g. 100/1s, 1000/1m")
    count, number, unit = int(match.group(1)), match.group(2), match.group(3)
    window = int(number or 1) * _UNITS[unit]
    if not 1 <= count <= 10_000_000 or not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"{text!r}: 1 or more requests in a window of 1 s to 1 day")
    return count, window


def rate_text(count: int, window: int) -> str:
    """(N, seconds) as users write it: 100/1s, 1000/1d, 50/90s."""
    for unit, seconds in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if window % seconds == 0:
            return f"{count}/{window // seconds}{unit}"
    return f"{count}/{window}s"  # not reached: every window is whole seconds


def parse_breaker(text: str) -> tuple[int, int]:
    """`N` or `N/COOLDOWN` → (errors in a row, cool-down seconds)."""
    errors, slash, cooldown = text.strip().partition("/")
    if not errors.strip().isdigit() or not 1 <= int(errors) <= 100:
        raise ValueError(f"{text!r}: give 1 to 100 errors in a row, e.g. 5 or 5/30s")
    seconds = DEFAULT_COOLDOWN
    if slash:
        match = re.match(r"^\s*(\d+)\s*([smh]?)\s*$", cooldown)
        if match is None:
            raise ValueError(f"{text!r}: the cool-down is a time, e.g. 30s or 2m")
        seconds = int(match.group(1)) * _UNITS[match.group(2) or "s"]
        if not 1 <= seconds <= 3600:
            raise ValueError(f"{text!r}: a cool-down of 1 s to 1 h")
    return int(errors), seconds


def parse_origins(text: str) -> tuple[str, ...]:
    """`*`, or origins as browsers send them (`https://shop.example.com:8443`), commas between."""
    origins = tuple(dict.fromkeys(o.strip().rstrip("/") for o in text.split(",") if o.strip()))
    if origins == ("*",):
        return origins
    if not origins:
        raise ValueError("give * or at least one origin, e.g. https://shop.example.com")
    for origin in origins:
        if not ORIGIN.match(origin):
            raise ValueError(f"{origin!r} is not an origin such as https://shop.example.com")
    if len(origins) > MAX_LIST:
        raise ValueError(f"at most {MAX_LIST} origins")
    return origins


def parse_service_url(text: str) -> str:
    """A route service's URL: http(s), a host, an optional port and a plain path."""
    url = text.strip()
    if not SERVICE_URL.match(url):
        raise ValueError(f"{text!r} is not a URL such as https://gate.example.com/check")
    return url


def parse_retries(text: str) -> int:
    if not text.strip().isdigit() or not 0 <= int(text) <= MAX_RETRIES:
        raise ValueError(f"{text!r}: give 0 to {MAX_RETRIES}")
    return int(text)


def parse_size(text: str) -> int:
    """`512k`, `10m`, `1g` or a number of bytes → bytes."""
    match = _SIZE.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not a size such as 512k, 10m or 1g")
    return int(match.group(1)) * _SIZES[match.group(2).lower()]


def parse_addresses(text: str) -> tuple[str, ...]:
    """`10.0.0.0/8, 192.0.2.7` → the blocks, normalized; ValueError naming a wrong one."""
    blocks = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            blocks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ValueError(f"{part!r} is not an address or a CIDR block") from None
    if not blocks:
        raise ValueError("give at least one address or CIDR block")
    if len(blocks) > MAX_LIST:
        raise ValueError(f"at most {MAX_LIST} addresses or blocks")
    return tuple(blocks)


# Each gateway option with the check that reads it (ValueError saying what is wrong): the API,
# the manifest and the route controller read them alike.
CHECKS: dict[str, Callable[[str], object]] = {
    "rate_limit": parse_rate,
    "max_body": parse_size,
    "allow": parse_addresses,
    "deny": parse_addresses,
    "route_service": parse_service_url,
    "cors": parse_origins,
    "circuit_breaker": parse_breaker,
    "retries": parse_retries,
    "jwt_jwks": check_source,
    "jwt_claims": parse_claims,
}
