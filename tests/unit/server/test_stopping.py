"""`yun server stop --all`: a part of the data plane that fails to stop does not keep the others
running; the error names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from yun.server import stopping
from yun.settings import Settings


def test_a_failing_part_does_not_keep_the_services_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path, driver="process")
    settings.services_dir.mkdir(parents=True)
    asked: list[str] = []

    class BrokenRouter:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def stop(self) -> None:
            raise RuntimeError("haproxy pid file unreadable")

    def services(given: Settings) -> dict[str, bool]:
        asked.append(str(given.home))
        return {"postgresql": True, "redis": False}

    monkeypatch.setattr(stopping, "HAProxy", BrokenRouter)
    monkeypatch.setattr(stopping, "stop_servers", services)
    with pytest.raises(stopping.StopIncomplete) as failed:
        stopping.stop_data_plane(settings)
    assert asked == [str(tmp_path)]  # the services were still stopped
    assert "router: haproxy pid file unreadable" in str(failed.value)
    assert "services: redis servers did not all stop" in str(failed.value)
