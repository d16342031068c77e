"""Following a pod's output (yun.kube.logs): each line handed on once, with the runtime's
timestamp, also when the stream is opened again after the container restarted. The apiserver's
streams are played by a stand-in here; tests/e2e/test_kubernetes_node.py follows a real one."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from yun.kube.logs import PodLog, PodLogs

POD = PodLog(
    namespace="yun-main-dev",
    pod="shop-web-5d9c-x2x",
    container="web",
    slot="p1/3/0",
    index=0,
    app_guid="app-1",
    source="APP/PROC/WEB/0",
)


class Streams:
    """Hands out the given streams one by one, then streams that stay open until closed."""

    def __init__(self, *streams: list[bytes]) -> None:
        self.streams = list(streams)
        self.asked: list[int | None] = []
        self.closed = threading.Event()

    def follow_log(self, pod: str, namespace: str, *, container: str, since: int | None) -> object:
        self.asked.append(since)
        if self.streams:
            return Stream(self.streams.pop(0), self.closed, stays_open=False)
        return Stream([], self.closed, stays_open=True)


class Stream:
    def __init__(self, lines: list[bytes], closed: threading.Event, *, stays_open: bool) -> None:
        self.lines = lines
        self.closed = closed
        self.stays_open = stays_open

    def __iter__(self) -> Iterator[bytes]:
        yield from self.lines
        if self.stays_open:
            self.closed.wait(10)

    def close(self) -> None:
        if self.stays_open:
            self.closed.set()


def collect(streams: Streams, count: int) -> list[tuple[str, int, str, str, str, float]]:
    got: list[tuple[str, int, str, str, str, float]] = []
    logs = PodLogs(streams, lambda *line: got.append(line))  # type: ignore[arg-type]
    logs.follow({"uid-1": POD})
    deadline = time.monotonic() + 10
    while len(got) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    logs.close()
    return got


def test_lines_are_handed_on_once_across_a_restart() -> None:
    first = [
        b"2026-12-06T23:39:47.100000000Z crashy: serving on port 8080\n",
        b"2026-12-06T23:39:54.700000000Z crashy: crashing as asked\n",
    ]
    again = [  # opened again: the last seconds come back before the new container's lines
        b"2026-12-06T23:39:54.700000000Z crashy: crashing as asked\n",
        b"2026-12-06T23:39:54.900000001Z crashy: serving on port 8080\n",
    ]
    streams = Streams(first, again)
    got = collect(streams, 3)
    assert [line[4] for line in got] == [
        "crashy: serving on port 8080",
        "crashy: crashing as asked",
        "crashy: serving on port 8080",
    ]
    slot, index, app_guid, source, _, ts = got[2]
    assert (slot, index, app_guid, source) == ("p1/3/0", 0, "app-1", "APP/PROC/WEB/0")
    assert abs(ts - 1796600394.900000001) < 1e-3
    assert streams.asked[0] is None and streams.asked[1] is not None  # from where it was


def test_a_line_without_a_timestamp_is_kept() -> None:
    got = collect(Streams([b"no stamp here\n"]), 1)
    assert [line[4] for line in got] == ["no stamp here"]
