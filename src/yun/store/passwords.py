"""Password and token hashing.

Passwords: argon2id through argon2-cffi with OWASP's parameters (19 MiB of memory, 2 passes,
1 lane; ≈25 ms a hash here), in the PHC string form that carries its own salt and parameters.
Hashes made before (scrypt, N=2^14, r=8, p=1) still verify, and `needs_rehash` tells the login
to store the password again with argon2id. Tokens are random (256 bits) and stored as SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1
_HASHER = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)
_SCRYPT = (2**14, 8, 1)  # n, r, p: what hashes made before argon2id used


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        return _verify_scrypt(password, stored)
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a verified password should be hashed again (older scheme or parameters)."""
    if stored.startswith("scrypt$"):
        return True
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        _, salt_hex, key_hex = stored.split("$")
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        return False
    n, r, p = _SCRYPT
    key = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p)
    return hmac.compare_digest(key.hex(), key_hex)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
