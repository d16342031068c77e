"""Syslog drains: an app bound to a user-provided service with `-l syslog://…` has its log lines
forwarded to a real TCP receiver as RFC 5424 messages, and keeps them while it is away."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.syslog_receiver import Receiver

from yun.logstore import LogLine, LogStore
from yun.server.drains import SyslogDrains, syslog_frame
from yun.store.bootstrap import bootstrap
from yun.store.models import App, ServiceBinding, ServiceInstance
from yun.store.session import Store


def wait_for(receiver: Receiver, drains: SyslogDrains, count: int) -> list[str]:
    for _ in range(100):
        drains.pass_once()
        if len(receiver.messages()) >= count:
            break
        threading.Event().wait(0.05)
    return receiver.messages()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Store, LogStore, str]]:
    store = Store(f"sqlite:///{tmp_path / 'yun.db'}")
    store.migrate()
    defaults = bootstrap(store, home=tmp_path, domain="apps.localhost", admin_password="pw")
    with store.session() as session:
        app = App(name="shop", space_guid=defaults.space_guid)
        session.add(app)
        session.flush()
        app_guid = app.guid
    yield store, LogStore(tmp_path / "logs"), app_guid
    store.close()


def _bind_drain(store: Store, app_guid: str, url: str) -> None:
    with store.session() as session:
        app = session.get(App, app_guid)
        assert app is not None
        instance = ServiceInstance(
            name="papertrail",
            space_guid=app.space_guid,
            kind="user-provided",
            syslog_drain_url=url,
        )
        session.add(instance)
        session.flush()
        session.add(
            ServiceBinding(
                service_instance_guid=instance.guid,
                app_guid=app_guid,
                name="shop",
                syslog_drain_url=url,
                last_operation={"type": "create", "state": "succeeded"},
            )
        )


def test_an_apps_lines_reach_its_drain_as_rfc5424(world: tuple[Store, LogStore, str]) -> None:
    store, logs, app_guid = world
    logs.append(app_guid, "APP/PROC/WEB/0", "before the drain: not sent")
    receiver = Receiver()
    try:
        _bind_drain(store, app_guid, f"syslog://127.0.0.1:{receiver.port}")
        drains = SyslogDrains(store=store, logs=logs, hostname="yun-test")
        drains.pass_once()
        logs.append(app_guid, "APP/PROC/WEB/0", "hello drain")
        logs.append(app_guid, "APP/PROC/WEB/0/ERR", "an error line")
        messages = wait_for(receiver, drains, 2)
        drains.stop()
    finally:
        receiver.close()
    assert len(messages) == 2
    first, second = messages
    assert re.match(
        rf"<14>1 \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{6}}Z yun-test {app_guid}"
        r" \[APP/PROC/WEB/0\] - \[yun@47450 app_name=\"shop\"\] hello drain$",
        first,
    ), first
    assert second.startswith("<11>1 ") and second.endswith("an error line")


def test_lines_wait_while_the_drain_is_down(world: tuple[Store, LogStore, str]) -> None:
    store, logs, app_guid = world
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    _bind_drain(store, app_guid, f"syslog://127.0.0.1:{port}")
    now = [0.0]
    drains = SyslogDrains(store=store, logs=logs, clock=lambda: now[0])
    drains.pass_once()
    logs.append(app_guid, "APP/PROC/WEB/0", "while down")
    drains.pass_once()  # refused: kept
    receiver = Receiver(port)
    try:
        now[0] += 60.0
        logs.append(app_guid, "APP/PROC/WEB/0", "once back")
        messages = wait_for(receiver, drains, 2)
        drains.stop()
    finally:
        receiver.close()
    assert [m.rsplit("] ", 1)[-1] for m in messages] == ["while down", "once back"]


def test_frame_counts_bytes_not_characters() -> None:
    frame = syslog_frame(LogLine(0.0, "RTR/0", "héllo"), app_guid="g", app_name="a", hostname="h")
    length, _, message = frame.partition(b" ")
    assert int(length) == len(message)
