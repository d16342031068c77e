"""A syslog receiver on a loopback port, for tests of syslog drains: collects the octet-counted
RFC 5424 messages (RFC 6587 framing) it is sent."""

from __future__ import annotations

import re
import socket
import threading

FRAME = re.compile(rb"(\d+) ")


class Receiver:
    """A syslog server on a loopback port: collects octet-counted messages."""

    def __init__(self, port: int = 0) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = self.server.getsockname()[1]
        self.data = b""
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        with conn:
            while chunk := conn.recv(65536):
                with self.lock:
                    self.data += chunk

    def messages(self) -> list[str]:
        with self.lock:
            data = self.data
        found, at = [], 0
        while match := FRAME.match(data, at):
            length = int(match[1])
            found.append(data[match.end() : match.end() + length].decode())
            at = match.end() + length
        return found

    def close(self) -> None:
        self.server.close()
