"""What an application is bound to: its `routes:` and its `services:`.

Routes are kept as the text the user wrote (``host.domain/path``) after a syntax check; whether
the domain exists is the API's business. A route may carry Cloud Foundry's `options:` (its
traffic policy: `loadbalancing`, `hash_header`; Yun adds `sticky`, `timeout`, `https_redirect`,
`hsts`, and the gateway's `rate_limit`, `max_body`, `allow`, `deny`, `jwt_jwks`,
`jwt_claims` and `api_keys`, see `yun.gateway`) and
`protocol:` (`http2`: the router speaks h2c to the app, for gRPC), which the push sets on the
route. Services accept both Cloud Foundry forms (a list
of names or of `{name: ...}` mappings) and Stackato's `{name: type}` mapping, whose types (an
offering such as `postgresql`, or `harbor` for a TCP port) tell the platform what to create when
the service does not exist yet.
"""

from __future__ import annotations

import json
import re

from yun.gateway import CHECKS
from yun.manifest.errors import kind, show
from yun.manifest.fields import Scope, as_bool, as_list, as_mapping, as_text, warn_unknown

_LABEL = r"(?:\*|[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)"
_ROUTE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*(?::\d{{1,5}})?(?:/[^\s?#]*)?$", re.IGNORECASE)
_ROUTE_KEYS = ("route", "protocol", "options")
_OPTION_KEYS = (
    "loadbalancing",
    "hash_header",
    "hash_balance",
    "sticky",
    "timeout",
    "https_redirect",
    "hsts",
    "rate_limit",
    "max_body",
    "allow",
    "deny",
    "jwt_jwks",
    "jwt_claims",
    "api_keys",
    "circuit_breaker",
    "retries",
    "cors",
    "route_service",
)
# The router's algorithms (yun.router.routes.BALANCING), named as Cloud Foundry's manifests do.
_LOADBALANCING = ("round-robin", "least-connection", "hash")
_HEADER = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_TIMEOUT_MAX = 86400
PROTOCOLS = ("http1", "http2")

Policy = dict[str, object]  # loadbalancing, hash_header, sticky, timeout: those given
_SERVICE_KEYS = ("name", "parameters", "binding_name")


def read_routes(value: object, scope: Scope) -> dict[str, Policy]:
    """`routes: [{route: myapp.example.com/api, options: {...}}, ...]`, in order, each with the
    options it gives (often none); plain strings are accepted too."""
    routes: dict[str, Policy] = {}
    for index, item in enumerate(as_list(value, scope, example="- route: myapp.example.com")):
        at = scope.item(index)
        options: Policy = {}
        if isinstance(item, dict):
            data = as_mapping(item, at)
            warn_unknown(data, _ROUTE_KEYS, at)
            if data.get("options") is not None:
                options = _read_options(data["options"], at.key("options"))
            if data.get("protocol") is not None:
                options["protocol"] = _protocol(data["protocol"], at.key("protocol"))
            if data.get("route") is None:
                raise at.key("route").error("is required, for example myapp.example.com")
            at = at.key("route")
            item = data["route"]
        elif not isinstance(item, str):
            raise at.error(f"expected a mapping (route: myapp.example.com), not {kind(item)}")
        route = _check_route(as_text(item, at).strip(), at)
        if route in routes:
            at.warn(f"{show(route)} is listed twice")
            continue
        routes[route] = options
    return routes


def _read_options(value: object, scope: Scope) -> Policy:
    data = as_mapping(value, scope, example="loadbalancing: least-connection")
    warn_unknown(data, _OPTION_KEYS, scope)
    options: Policy = {}
    if (balance := data.get("loadbalancing")) is not None:
        at = scope.key("loadbalancing")
        if (text := as_text(balance, at).strip()) not in _LOADBALANCING:
            raise at.error(f"{show(text)} is not one of {', '.join(_LOADBALANCING)}")
        options["loadbalancing"] = text
    if (header := data.get("hash_header")) is not None:
        at = scope.key("hash_header")
        if not _HEADER.match(text := as_text(header, at).strip()):
            raise at.error(f"{show(text)} is not a header name like X-User")
        options["hash_header"] = text
    if options.get("loadbalancing") == "hash" and "hash_header" not in options:
        raise scope.error("loadbalancing: hash needs hash_header, a header name like X-User")
    if "hash_header" in options and options.get("loadbalancing") != "hash":
        scope.key("hash_header").warn("only counts with loadbalancing: hash, ignored")
        del options["hash_header"]
    if data.get("hash_balance") is not None:
        scope.key("hash_balance").warn("is not supported, ignored")
    for flag in ("sticky", "https_redirect", "hsts", "api_keys"):
        if (given := data.get(flag)) is not None:
            options[flag] = as_bool(given, scope.key(flag))
    if (timeout := data.get("timeout")) is not None:
        options["timeout"] = _seconds(timeout, scope.key("timeout"))
    for key, check in CHECKS.items():
        if (given := data.get(key)) is not None:
            at = scope.key(key)
            if isinstance(given, dict) and key == "jwt_jwks":  # the JWKS written as YAML
                text = json.dumps(given)
            elif isinstance(given, list):  # allow: [10.0.0.0/8, 192.0.2.7]
                text = ",".join(as_text(item, at.item(i)) for i, item in enumerate(given))
            else:
                text = as_text(given, at).strip()
            try:
                check(text)
            except ValueError as exc:
                raise at.error(str(exc)) from None
            options[key] = text
    return options


def _protocol(value: object, scope: Scope) -> str:
    """Cloud Foundry's `protocol:` of a route: how the router speaks to the app."""
    text = as_text(value, scope).strip().lower()
    if text == "tcp":
        raise scope.error("tcp routes are their own kind here: give the app a TCP route (harbor)")
    if text not in PROTOCOLS:
        raise scope.error(
            f"{show(text)} is not one of {', '.join(PROTOCOLS)} (http2: the app speaks h2c, gRPC)"
        )
    return text


def _seconds(value: object, scope: Scope) -> float:
    """Seconds an instance may take to answer: a number above 0, at most a day."""
    if isinstance(value, str):
        text = value.strip().removesuffix("s")
        value = float(text) if re.fullmatch(r"\d+(?:\.\d+)?", text) else value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise scope.error(f"{show(value)} is not a number of seconds like 30 or 2.5")
    if not 0 < value <= _TIMEOUT_MAX:
        raise scope.error(
            f"{show(value)} is out of range; give seconds above 0, at most {_TIMEOUT_MAX}"
        )
    return float(value)


def _check_route(route: str, scope: Scope) -> str:
    scheme, sep, rest = route.partition("://")
    if sep:
        raise scope.error(f"{show(route)} should not start with {scheme}://; write {rest}")
    if not _ROUTE.match(route):
        raise scope.error(
            f"{show(route)} is not a route like myapp.example.com or example.com/path"
        )
    return route


def read_services(value: object, scope: Scope) -> tuple[list[str], dict[str, str]]:
    """Service instance names to bind, from any of the accepted shapes, and (Stackato's form)
    the type of each."""
    names: list[tuple[str, Scope]] = []
    types: dict[str, str] = {}
    if isinstance(value, dict):
        # Stackato: {instance-name: service-type}.
        for name, kind_ in as_mapping(value, scope).items():
            at = scope.key(name)
            text = as_text(name, at).strip()
            if not isinstance(kind_, str) or not kind_.strip():
                raise at.error("expected a service type such as postgresql, redis or harbor")
            names.append((text, at))
            types[text] = kind_.strip().lower()
    else:
        for index, item in enumerate(as_list(value, scope, example="- my-database")):
            at = scope.item(index)
            names.append((_service_name(item, at), at))
    unique: list[str] = []
    for name, at in names:
        if name in unique:
            at.warn(f"{show(name)} is listed twice")
        else:
            unique.append(name)
    return unique, types


def _service_name(item: object, scope: Scope) -> str:
    if isinstance(item, dict):
        data = as_mapping(item, scope)
        warn_unknown(data, _SERVICE_KEYS, scope)
        for key in ("parameters", "binding_name"):
            if data.get(key) is not None:
                scope.key(key).warn("is not supported yet, ignored")
        if data.get("name") is None:
            raise scope.key("name").error("is required: the service instance to bind")
        return as_text(data["name"], scope.key("name")).strip()
    if not isinstance(item, str):
        raise scope.error(f"expected a service name, not {kind(item)}")
    return as_text(item, scope).strip()
