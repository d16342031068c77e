"""A tiny blocking Redis client (RESP2), enough for the redis backend's admin commands.

The backend talks to its servers itself rather than through redis-cli, so a password never
appears on a command line or in the environment of a child process.
"""

from __future__ import annotations

import socket
from types import TracebackType
from typing import Any


class RespError(Exception):
    """The server answered with an error reply (the message is the server's)."""


class RespClient:
    """One connection to `host`:`port`, authenticated with `password` if given (as the ACL
    user `username`, else as the default user)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        password: str | None = None,
        username: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rb")
        try:
            if password is not None:
                self.command("AUTH", *([username] if username else []), password)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> RespClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def command(self, *args: str | bytes | int) -> Any:
        """Send one command; return its reply (str for status, bytes for bulk, int, list,
        None), or raise RespError for an error reply."""
        parts = [arg if isinstance(arg, bytes) else str(arg).encode() for arg in args]
        out = [b"*%d\r\n" % len(parts)]
        for part in parts:
            out.append(b"$%d\r\n%s\r\n" % (len(part), part))
        self._sock.sendall(b"".join(out))
        return self._reply()

    def _line(self) -> bytes:
        line = self._file.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("the Redis server closed the connection")
        return line[:-2]

    def _reply(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            length = int(rest)
            if length < 0:
                return None
            data = self._file.read(length + 2)
            if len(data) != length + 2:
                raise ConnectionError("the Redis server closed the connection")
            return data[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._reply() for _ in range(count)]
        raise ConnectionError(f"not a RESP reply: {line[:40]!r}")


def info(client: RespClient, section: str) -> dict[str, str]:
    """`INFO section` as a dict of its `key:value` lines."""
    text = client.command("INFO", section)
    fields: dict[str, str] = {}
    for line in bytes(text).decode().splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key] = value
    return fields
