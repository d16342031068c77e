"""Memory and disk sizes as Cloud Foundry writes them ("256M", "1G", "512MB"), in megabytes.

The platform stores every size as a whole number of megabytes (mebibytes, as Cloud Foundry does),
so this is the single place that understands units.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from yun.manifest.errors import show

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:([KMGT])(?:I?B|I)?|(B))?$", re.IGNORECASE)
_BYTES_PER_UNIT = {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_MEGABYTE = 1024**2


def parse_size(text: str | int) -> int:
    """Return `text` in megabytes; a bare number is megabytes. Raise ValueError otherwise."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise ValueError(f"{show(text)} is not a size like 256M or 1G")
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"{text} is not a size like 256M or 1G")
        return text
    match = _SIZE.match(text.strip())
    if match is None:
        raise ValueError(f"{show(text)} is not a size like 256M or 1G")
    number, unit, byte_unit = match.groups()
    try:
        amount = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the pattern only admits decimals
        raise ValueError(f"{show(text)} is not a size like 256M or 1G") from exc
    factor = _BYTES_PER_UNIT[(unit or byte_unit or "M").upper()]
    megabytes = amount * factor / _MEGABYTE
    if megabytes != megabytes.to_integral_value():
        raise ValueError(f"{show(text)} is not a whole number of megabytes")
    return int(megabytes)
