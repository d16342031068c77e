"""A steady load through the router for zero-downtime tests: a few keep-alive clients send
requests back to back and keep every answer, until stopped (or a deadline passes)."""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class Load:
    router_port: int
    host: str
    path: str = "/"
    clients: int = 4
    deadline: float = 600.0  # seconds: the load never outlives a stuck test
    answers: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Load:
        for number in range(self.clients):
            thread = threading.Thread(target=self._run, name=f"load-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.answers.values()) + len(self.failures)

    def mark(self) -> int:
        """How many requests were answered so far (to look at what came after)."""
        return self.total

    def seen_since(self, text: str, *, timeout: float = 30.0) -> bool:
        """Wait until an answer containing `text` arrives (a new version serving)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if any(text in answer for answer in self.answers):
                    return True
            time.sleep(0.1)
        return False

    def _run(self) -> None:
        ends = time.monotonic() + self.deadline
        url = f"http://127.0.0.1:{self.router_port}{self.path}"
        with httpx.Client(headers={"Host": self.host}, timeout=10) as client:
            while not self._stop.is_set() and time.monotonic() < ends:
                try:
                    response = client.get(url)
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                with self._lock:
                    if response.status_code == 200:
                        self.answers[response.text.strip()] += 1
                    else:
                        self.failures.append(f"{response.status_code}: {response.text[:100]}")
