"""Live configuration → running instances, without a restart.

On each pass (a change wakes it; the resync catches what a wake missed) the controller works
out every app's effective configuration version (its space's and its own, `s2.a5`), and for the
apps whose version moved since the last pass tells the agent to write their instances' config
file again and the watch server to tell the streams that follow them. `config_of` is what the
agent and the watch server read an app's configuration by.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from sqlalchemy import func, select

from yun.agent.live_config import LiveConfig
from yun.controllers.runtime.managing import Result
from yun.store import live_config as config
from yun.store.models import App, ConfigVersion
from yun.store.session import Store

log = logging.getLogger(__name__)


def config_reader(store: Store) -> Callable[[str], LiveConfig]:
    def config_of(app_guid: str) -> LiveConfig:
        with store.snapshot() as session:
            app = session.get(App, app_guid)
            if app is None:
                return LiveConfig()
            now = config.effective(session, app)
            return LiveConfig(version=now.version, values=now.values)

    return config_of


def versions(store: Store) -> dict[str, str]:
    """Every app's effective configuration version."""
    with store.snapshot() as session:
        latest = dict(
            session.execute(
                select(ConfigVersion.scope_guid, func.max(ConfigVersion.version)).group_by(
                    ConfigVersion.scope_guid
                )
            ).all()
        )
        apps = session.execute(select(App.guid, App.space_guid)).all()
    return {
        guid: f"s{latest.get(space_guid, 0)}.a{latest.get(guid, 0)}" for guid, space_guid in apps
    }


class ConfigController:
    prefix = "config"

    def __init__(
        self,
        *,
        store: Store,
        refresh: Callable[[Iterable[str]], object],
        changed: Callable[[Iterable[str]], None] | None = None,
    ) -> None:
        """`refresh(app_guids)` rewrites the apps' instances' files (the agent's);
        `changed(app_guids)` wakes the watch streams that follow them."""
        self.store = store
        self.refresh = refresh
        self.changed = changed
        self._seen: dict[str, str] | None = None  # None: the first pass writes every app's

    def reconcile(self, key: str) -> Result:
        now = versions(self.store)
        seen = self._seen
        moved = [guid for guid, version in now.items() if seen is None or seen.get(guid) != version]
        if moved:
            self.refresh(moved)
            if self.changed is not None:
                self.changed(moved)
            log.debug("live configuration of %d apps delivered", len(moved))
        self._seen = now
        return Result()
