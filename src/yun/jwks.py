"""JSON Web Key Sets for a route's JWT check (`jwt_jwks`): what the router verifies tokens with.

A route's `jwt_jwks` is either a JWKS itself (JSON text, as `yun update-route -o jwt_jwks=@FILE`
sends it) or the https:// (or http://) address of one, which the platform fetches and fetches
again every `REFRESH` seconds, keeping the last keys it read when a fetch fails. Each key
becomes a `JwtKey`: RSA and EC public keys as PEM (HAProxy reads them from a file), `oct`
(HMAC) secrets as text (written into HAProxy's config, so they must be printable).
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MAX_KEYS = 16
MAX_BYTES = 256 << 10  # a JWKS document, given or fetched
REFRESH = 300.0  # seconds between fetches of a JWKS address
RETRY = 30.0  # seconds before a failed first fetch is tried again
FETCH_TIMEOUT = 5.0
ALGORITHMS = {
    "RSA": ("RS256", "RS384", "RS512"),
    "EC": ("ES256", "ES384", "ES512"),
    "oct": ("HS256", "HS384", "HS512"),
}
_CURVES = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}
_KID = re.compile(r"^[A-Za-z0-9._:+/=-]{1,128}$")
# What may stand in HAProxy's config as a converter's argument without quoting.
_SECRET = re.compile(r"^[A-Za-z0-9._~+/=@#%^*!?-]{16,512}$")
_CLAIM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class JwtKey:
    """One key a token may be signed with: its id (`kid`, "" for any), algorithm, and the PEM
    public key or the HMAC secret."""

    kid: str
    alg: str
    key: str

    @property
    def secret(self) -> bool:
        return self.alg.startswith("HS")

    def check(self) -> None:
        """ValueError unless the key can be written into HAProxy's config as it is."""
        if self.kid and not _KID.match(self.kid):
            raise ValueError(f"JWT key id {self.kid!r} has characters HAProxy cannot take")
        if not any(self.alg in algs for algs in ALGORITHMS.values()):
            raise ValueError(f"JWT algorithm {self.alg!r} is not supported")
        if self.secret and not _SECRET.match(self.key):
            raise ValueError("a JWT secret has characters HAProxy cannot take")


def is_address(text: str) -> bool:
    return text.strip().lower().startswith(("https://", "http://"))


def check_source(text: str) -> None:
    """`jwt_jwks` as written: an address, or a JWKS whose keys can all be read; ValueError
    naming what is wrong."""
    if is_address(text):
        if len(text) > 2048 or any(c.isspace() for c in text.strip()):
            raise ValueError("the JWKS address must be one URL without spaces")
        return
    parse_jwks(text)


def parse_jwks(text: str) -> tuple[JwtKey, ...]:
    """A JWKS document (`{"keys": [...]}`, or a single JWK) → its keys, in order."""
    if len(text.encode()) > MAX_BYTES:
        raise ValueError(f"the JWKS is over {MAX_BYTES >> 10} KiB")
    try:
        document = json.loads(text)
    except ValueError:
        raise ValueError(
            'not JSON: give a JWKS ({"keys": [...]}) or its https:// address'
        ) from None
    if isinstance(document, dict) and "keys" not in document and "kty" in document:
        document = {"keys": [document]}
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError('a JWKS is an object with a "keys" list')
    keys = document["keys"]
    if not 1 <= len(keys) <= MAX_KEYS:
        raise ValueError(f"give 1 to {MAX_KEYS} keys")
    parsed = []
    for index, jwk in enumerate(keys):
        if not isinstance(jwk, dict):
            raise ValueError(f"keys[{index}] is not an object")
        if jwk.get("use", "sig") != "sig":
            continue  # an encryption key: not for signatures
        try:
            parsed.append(_key(jwk))
        except ValueError as exc:
            raise ValueError(f"keys[{index}]: {exc}") from None
    if not parsed:
        raise ValueError("the JWKS holds no signing key")
    return tuple(parsed)


def describe_source(text: str) -> str:
    """`jwt_jwks` as shown to users: the address, or the keys' ids and algorithms (a shared
    secret is never shown)."""
    if is_address(text):
        return text.strip()
    try:
        keys = parse_jwks(text)
    except ValueError:
        return "(a JWKS that cannot be read)"
    return "JWKS: " + ", ".join(f"{key.kid or '(no kid)'} {key.alg}" for key in keys)


def parse_claims(text: str) -> tuple[str, ...]:
    """`sub,email` → the claims forwarded to the app as `X-Jwt-<Claim>` headers."""
    claims = tuple(dict.fromkeys(c.strip() for c in text.split(",") if c.strip()))
    for claim in claims:
        if not _CLAIM.match(claim):
            raise ValueError(f"claim {claim!r}: letters, digits, - and _ only")
    if len(claims) > 16:
        raise ValueError("at most 16 claims")
    return claims


@functools.lru_cache(maxsize=256)  # the route controller asks on every pass
def given_keys(document: str) -> tuple[JwtKey, ...]:
    """A JWKS given as text, read once; () if it cannot be (the API checked it) or if it is an
    address (`JwksCache` fetches those)."""
    if is_address(document):
        return ()
    try:
        return parse_jwks(document)
    except ValueError:
        return ()


def _key(jwk: dict[str, Any]) -> JwtKey:
    kty = jwk.get("kty")
    if kty not in ALGORITHMS:
        raise ValueError(f"kty {kty!r}: use RSA, EC or oct")
    kid = str(jwk.get("kid", ""))
    if kid and not _KID.match(kid):
        raise ValueError(f"kid {kid!r}: letters, digits and ._:+/=- only, at most 128")
    alg = str(
        jwk.get("alg")
        or (_CURVES.get(str(jwk.get("crv"))) if kty == "EC" else None)
        or ALGORITHMS[kty][0]
    )
    if alg not in ALGORITHMS[kty]:
        raise ValueError(f"alg {alg!r} does not go with kty {kty}: {', '.join(ALGORITHMS[kty])}")
    if kty == "oct":
        secret = _bytes(jwk, "k")
        try:
            text = secret.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if not _SECRET.match(text):
            raise ValueError(
                "the secret (k) must decode to 16 to 512 printable characters"
                " (letters, digits and ._~+/=@#%^*!?-)"
            )
        return JwtKey(kid, alg, text)
    return JwtKey(kid, alg, _public_pem(kty, jwk))


def _bytes(jwk: dict[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"no {name}")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        raise ValueError(f"{name} is not base64url") from None


def _public_pem(kty: str, jwk: dict[str, Any]) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    try:
        if kty == "RSA":
            n, e = (int.from_bytes(_bytes(jwk, k), "big") for k in ("n", "e"))
            if n.bit_length() < 2048:
                raise ValueError("give an RSA key of 2048 bits or more")
            public = rsa.RSAPublicNumbers(e, n).public_key()
        else:
            curves = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}
            curve = curves.get(str(jwk.get("crv")))
            if curve is None:
                raise ValueError(f"crv {jwk.get('crv')!r}: use P-256, P-384 or P-521")
            x, y = (int.from_bytes(_bytes(jwk, k), "big") for k in ("x", "y"))
            public = ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc) or "not a valid public key") from None
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


Fetch = Callable[[str], str]


def fetch(url: str) -> str:
    """The document at `url` (at most MAX_BYTES; http and https only)."""
    if not is_address(url):
        raise ValueError(f"{url!r} is not an http(s) address")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
        body: bytes = response.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise ValueError(f"over {MAX_BYTES >> 10} KiB")
    return body.decode()


class JwksCache:
    """The keys of each JWKS address routes name. Asking never waits on the network: an
    address due for a fetch (never fetched, or last fetched `refresh` seconds ago) is fetched
    in a thread of its own, and `changed` is called when it brings other keys than before, so
    the router is told. A failed fetch keeps the keys read before (none at first, which the
    router answers with 401), is logged, and is tried again after `retry` seconds."""

    def __init__(
        self,
        fetch: Fetch = fetch,
        *,
        changed: Callable[[], None] | None = None,
        refresh: float = REFRESH,
        retry: float = RETRY,
        background: bool = True,
    ) -> None:
        self._fetch = fetch
        self.changed = changed
        self.refresh = refresh
        self.retry = retry
        self.background = background
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[JwtKey, ...]] = {}
        self._due: dict[str, float] = {}
        self._fetching: set[str] = set()

    def keys(self, source: str) -> tuple[JwtKey, ...]:
        """The keys of `source`: a JWKS itself, or an address (see the class)."""
        if not is_address(source):
            return given_keys(source)
        url = source.strip()
        with self._lock:
            start = time.monotonic() >= self._due.get(url, 0.0) and url not in self._fetching
            if start:
                self._fetching.add(url)
        if start and self.background:
            threading.Thread(target=self._update, args=(url,), name="jwks", daemon=True).start()
        elif start:
            self._update(url)
        with self._lock:
            return self._keys.get(url, ())

    def next_due(self) -> float | None:
        """Seconds until an address fetched before is due again (None without one; an address
        already due is fetched when a route next asks for it, and no route may)."""
        now = time.monotonic()
        with self._lock:
            ahead = [due - now for due in self._due.values() if due > now]
        return min(ahead) if ahead else None

    def _update(self, url: str) -> None:
        try:
            keys: tuple[JwtKey, ...] | None = parse_jwks(self._fetch(url))
        except Exception as exc:  # any failure keeps the last keys
            log.warning("JWKS %s: %s; keeping the keys read before", url, exc)
            keys = None
        with self._lock:
            self._fetching.discard(url)
            before = self._keys.get(url)
            if keys is not None:
                self._keys[url] = keys
            wait = self.refresh if keys is not None else self.retry
            self._due[url] = time.monotonic() + wait
        if keys is not None and keys != before and self.changed is not None:
            self.changed()
