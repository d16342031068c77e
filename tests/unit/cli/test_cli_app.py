"""`yun app NAME`: each instance's address, driver, memory and disk use against its limits."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from rich.console import Console

from yun.cli import apps

MIB = 1024 * 1024


def instance(index: int, state: str, **values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "index": index,
        "guid": f"guid-{index}",
        "state": state,
        "since": time.time() - 90,
        "address": None,
        "port": None,
        "crash_count": 0,
        "reason": None,
        "driver": "process",
        "memory_bytes": None,
        "memory_limit_bytes": 256 * MIB,
        "disk_bytes": None,
        "disk_quota_bytes": 1024 * MIB,
    }
    base.update(values)
    return base


APP: dict[str, Any] = {
    "guid": "app-1",
    "name": "demo",
    "state": "STARTED",
    "routes": ["demo.apps.localhost"],
    "droplet": None,
    "revision": None,
    "processes": [
        {
            "type": "web",
            "instances": 2,
            "running": 1,
            "memory_mb": 256,
            "disk_mb": 1024,
            "command": "python3 app.py",
            "instance_details": [
                instance(
                    0,
                    "RUNNING",
                    address="127.0.0.1",
                    port=40123,
                    memory_bytes=int(34.2 * MIB),
                    disk_bytes=int(12.1 * MIB),
                ),
                instance(1, "CRASHED", crash_count=2, reason="exited with 1"),
            ],
        }
    ],
}


class FakeApi:
    """Stands in for `ApiClient` as `yun app` uses it."""

    def __enter__(self) -> FakeApi:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def info(self) -> dict[str, Any]:
        return {"router": "http://127.0.0.1:8080"}

    def find_app(self, name: str) -> dict[str, Any]:
        assert name == "demo"
        return APP


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(apps, "console", Console(file=out, width=160, highlight=False))
    monkeypatch.setattr(apps, "client", FakeApi)
    return out


def test_each_instance_row_shows_memory_and_disk_of_their_limits(screen: io.StringIO) -> None:
    apps.app("demo")
    lines = screen.getvalue().splitlines()
    header = next(line for line in lines if line.split()[:2] == ["#", "state"])
    assert " ".join(header.split()) == "# state since address driver memory disk crashes details"
    running = next(line for line in lines if line.split()[:2] == ["0", "running"])
    columns = " ".join(running.split()[4:])  # after "0 running 1m30s ago"
    assert columns == "127.0.0.1:40123 process 34.2M of 256M 12.1M of 1G 0"
    crashed = next(line for line in lines if line.split()[:2] == ["1", "crashed"])
    assert "- of 256M" in crashed and "- of 1G" in crashed and "exited with 1" in crashed


def test_json_carries_usage_and_limits_as_bytes(
    screen: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    apps.app("demo", json_=True)
    data = json.loads(capsys.readouterr().out)
    first = data["processes"][0]["instance_details"][0]
    assert first["memory_bytes"] == int(34.2 * MIB)
    assert first["memory_limit_bytes"] == 256 * MIB
    assert first["disk_bytes"] == int(12.1 * MIB)
    assert first["disk_quota_bytes"] == 1024 * MIB


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0"),
        (512, "512B"),
        (1536, "1.5K"),
        (int(34.2 * MIB), "34.2M"),
        (256 * MIB, "256M"),
        (1024 * MIB, "1G"),
        (1536 * MIB, "1.5G"),
    ],
)
def test_sizes_read_like_cf(value: int, shown: str) -> None:
    assert apps.byte_size(value) == shown
