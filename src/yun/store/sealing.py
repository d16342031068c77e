"""Secrets at rest: columns that hold secrets are stored sealed (Fernet: AES-128-CBC with an
HMAC-SHA256, from `cryptography`) under the platform's key, so a copy of the database (its
file, a dump, a backup) shows no environment variable, credential, password or private key.

The key lives outside the database: `secret.key` in `$YUN_HOME` (mode 0600; for SQLite, next
to the database file unless given), one key per line, the newest first. A sealed value reads
`sealed:` and a Fernet token; a value stored before sealing (no prefix) is read as it is and
sealed the next time it is written. `rotate` re-seals every value under a new key, then drops
the old ones.

Which key seals a value is the engine's: `bind_keys(engine, path)` ties them, and the column
types below find the keys by the dialect they are given (one per engine).
"""

from __future__ import annotations

import json
import os
import weakref
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Engine, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PREFIX = "sealed:"
KEY_FILE = "secret.key"
_KEYS: weakref.WeakKeyDictionary[Dialect, MultiFernet] = weakref.WeakKeyDictionary()


class SealingError(RuntimeError):
    """A sealed value that no key of this platform opens, or no key at all."""


def read_keys(path: Path) -> list[bytes]:
    """The keys in `path`, newest first; a new key is made (0600) when there is no file."""
    try:
        keys = [line.strip().encode() for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        keys = []
    if not keys:
        keys = [Fernet.generate_key()]
        write_keys(path, keys)
    return keys


def write_keys(path: Path, keys: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join(key.decode() + "\n" for key in keys))
    os.replace(tmp, path)


def bind_keys(engine: Engine, path: Path) -> None:
    """Seal and open this engine's secret columns with the keys in `path`."""
    _KEYS[engine.dialect] = MultiFernet([Fernet(key) for key in read_keys(path)])


def _fernet(dialect: Dialect) -> MultiFernet:
    found = _KEYS.get(dialect)
    if found is None:
        raise SealingError("this store has no secret key bound (Store(key_file=...))")
    return found


def seal(dialect: Dialect, text: str) -> str:
    return PREFIX + _fernet(dialect).encrypt(text.encode()).decode()


def unseal(dialect: Dialect, stored: str) -> str:
    if not stored.startswith(PREFIX):
        return stored  # written before sealing
    try:
        return _fernet(dialect).decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise SealingError(
            "a sealed value opens with no key in secret.key (the key file was replaced?)"
        ) from None


def reseal(dialect: Dialect, stored: str) -> str:
    """`stored` sealed under the newest key (values not sealed yet get sealed)."""
    if not stored.startswith(PREFIX):
        return seal(dialect, stored)
    return PREFIX + _fernet(dialect).rotate(stored[len(PREFIX) :].encode()).decode()


class SealedJSON(TypeDecorator[Any]):
    """A JSON value stored sealed (as text)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else seal(dialect, json.dumps(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            return value  # a JSON column not migrated yet hands over the value itself
        return json.loads(unseal(dialect, value))


class SealedText(TypeDecorator[str]):
    """A string stored sealed."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else seal(dialect, value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else unseal(dialect, value)


def sealed_columns(metadata: Any) -> list[tuple[str, str]]:
    """(table, column) of every sealed column in `metadata`."""
    return [
        (table.name, column.name)
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, SealedJSON | SealedText)
    ]


def rotate(engine: Engine, path: Path, metadata: Any) -> int:
    """Seal every sealed value under a new key, then forget the old keys: the values done."""
    old = read_keys(path)
    write_keys(path, [Fernet.generate_key(), *old])  # new writes use the new key from here on
    bind_keys(engine, path)
    done = 0
    with engine.begin() as connection:
        for table, column in sealed_columns(metadata):
            rows_of = sa.table(table, sa.column("guid", Text), sa.column(column, Text))
            for guid, value in connection.execute(sa.select(rows_of.c.guid, rows_of.c[column])):
                if value is None:
                    continue
                connection.execute(
                    sa.update(rows_of)
                    .where(rows_of.c.guid == guid)
                    .values({column: reseal(engine.dialect, value)})
                )
                done += 1
    write_keys(path, read_keys(path)[:1])
    bind_keys(engine, path)
    return done
