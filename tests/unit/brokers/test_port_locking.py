"""A provision holds its backend's lock while it asks the port allocator for a port, and the
allocator asks every backend which ports it holds: that question must not wait for the lock,
or two provisions at once (PostgreSQL and Redis for one app) wait for each other for ever."""

from __future__ import annotations

import threading
from pathlib import Path

from yun.brokers.builtin.ports import PortAllocator
from yun.brokers.builtin.postgresql import PostgresqlBackend
from yun.brokers.builtin.redis import RedisBackend


def test_allocating_a_port_does_not_wait_for_a_provision_in_progress(tmp_path: Path) -> None:
    ports = PortAllocator((41900, 41910))
    backends = [
        RedisBackend(root=tmp_path / "redis", ports=ports),
        PostgresqlBackend(root=tmp_path / "postgresql", ports=ports),
    ]
    for backend in backends:
        with backend._lock:  # a provision of this backend, under way
            allocated: list[int] = []

            def allocate(into: list[int] = allocated) -> None:
                into.append(ports.allocate())

            other = threading.Thread(target=allocate, daemon=True)
            other.start()
            other.join(5)
            assert not other.is_alive(), f"allocate waited for {type(backend).__name__}'s lock"
            assert allocated and 41900 <= allocated[0] <= 41910
