"""The route controller reloads HAProxy at most once per window and never holds runtime changes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from yun.controllers.routing import RouteController
from yun.router import ReloadHeld
from yun.store.session import Store


class LayoutChangingRouter:
    """Every table it is given needs a reload; it reloads only when allowed."""

    def __init__(self) -> None:
        self.reloads = 0
        self.held = 0

    def apply(self, routes: Any, *, reload: bool = True, **extra: Any) -> bool:
        if not reload:
            self.held += 1
            raise ReloadHeld("the change needs a reload")
        self.reloads += 1
        return True


def test_a_burst_of_layout_changes_is_one_reload_after_the_first(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db'}")
    store.migrate()
    router = LayoutChangingRouter()
    reloaded: list[bool] = []
    controller = RouteController(
        store=store, haproxy=router, on_reload=lambda: reloaded.append(True)
    )

    assert controller.reconcile("routes").requeue_after is None  # the first: at once
    assert router.reloads == 1
    waits = [controller.reconcile("routes").requeue_after for _ in range(5)]  # a burst
    assert router.reloads == 1 and router.held == 5
    assert all(wait is not None and 0 < wait <= controller.reload_window for wait in waits)
    time.sleep(controller.reload_window)
    assert controller.reconcile("routes").requeue_after is None  # the burst, in one reload
    assert router.reloads == 2 and reloaded == [True, True]
