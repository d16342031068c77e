"""JSON Web Tokens for tests, signed the way identity providers sign them (RS256, HS256), and
the JWKS a route is given to check them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SECRET = "a-shared-secret-of-32-characters"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """An RSA key (`kid`) and an HMAC secret, what a JWKS of both says, and tokens from them."""

    def __init__(self, kid: str = "key-1") -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, str]:
        numbers = self.key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url(numbers.e.to_bytes(3, "big")),
        }

    def jwks(self, *, secret: bool = False) -> str:
        keys: list[dict[str, str]] = [self.jwk()]
        if secret:
            keys.append(
                {"kty": "oct", "kid": "shared", "alg": "HS256", "k": b64url(SECRET.encode())}
            )
        return json.dumps({"keys": keys})

    def token(
        self,
        claims: dict[str, Any] | None = None,
        *,
        alg: str = "RS256",
        kid: str | None = None,
        ttl: int = 600,
    ) -> str:
        header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
        if kid != "":
            header["kid"] = kid or (self.kid if alg == "RS256" else "shared")
        body = {"exp": int(time.time()) + ttl, **(claims or {})}
        signing = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(body).encode())}"
        if alg == "HS256":
            signature = hmac.new(SECRET.encode(), signing.encode(), hashlib.sha256).digest()
        else:
            signature = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing}.{b64url(signature)}"
