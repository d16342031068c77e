"""The API's uvicorn server, woken once a second when idle, not ten times, and still prompt to
answer and to stop."""

from __future__ import annotations

import socket
import threading
import time
from email.utils import parsedate_to_datetime

import httpx
import uvicorn
from fastapi import FastAPI

from yun.server.listening import QuietServer


def test_an_idle_server_ticks_once_a_second_and_stops_at_once() -> None:
    app = FastAPI()

    @app.get("/")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = QuietServer(uvicorn.Config(app, log_level="warning", lifespan="off"))
    ticks: list[int] = []
    on_tick = server.on_tick

    async def counted(counter: int) -> bool:
        ticks.append(counter)
        return await on_tick(counter)

    server.on_tick = counted  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert answer.json() == {"hello": "world"}
        assert parsedate_to_datetime(answer.headers["date"]).year >= 2024
        before = len(ticks)
        time.sleep(2.5)
        assert len(ticks) - before <= 4  # uvicorn's own loop: 25
        assert all(counter % 10 == 0 for counter in ticks)  # each one refreshes the Date header
    finally:
        server.stop_soon()
        thread.join(10)
        listener.close()
    assert not thread.is_alive()
