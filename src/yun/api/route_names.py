"""What a domain, a route's host and a route's path may be, checked where a request names them,
so that a bad one is a 422 naming the field, never a router configuration HAProxy refuses.

The rules are DNS's for names (RFC 1035 labels of letters, digits and inner hyphens, 63
characters a label, 253 in all) and RFC 3986's path characters, without the ones HAProxy's
configuration parser treats specially (the router checks the same again before writing).
"""

from __future__ import annotations

import re

from yun.api.errors import ApiError

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_PATH = re.compile(r"(?:/[A-Za-z0-9\-._~!$&'()*+,;=:@%]+)+")


def domain_name(text: str, *, field: str = "name") -> str:
    """A domain, lowercased: two labels at least (`example.com`, `apps.internal`)."""
    name = text.strip().lower().rstrip(".")
    if len(name) > 253 or not _DOMAIN.fullmatch(name):
        raise ApiError(422, f"{field}: {text!r} is not a domain name like example.com")
    return name


def host_name(text: str, *, field: str = "host") -> str:
    """A route's host, lowercased; '' for a route on the domain itself, `*` for a wildcard
    route (any host of the domain that has no route of its own)."""
    host = text.strip().lower()
    if host and host != "*" and (len(host) > 253 or not _HOST.fullmatch(host)):
        raise ApiError(
            422, f"{field}: {text!r} is not a host name (letters, digits and hyphens, like www)"
        )
    return host


def route_path(text: str, *, field: str = "path") -> str:
    """A route's path prefix as stored: '' for none, else `/seg/seg` without a trailing /."""
    path = text.strip().rstrip("/")
    if path and not _PATH.fullmatch(path):
        raise ApiError(422, f"{field}: {text!r} is not a path like /api or /api/v2")
    return path
