"""The ACME controller's bookkeeping on a real store: which certificates are due, and what a
failed order leaves behind (error, attempts, next try with backoff). Orders that succeed are
shown against Pebble in tests/integration/router/test_router_acme.py and tests/e2e/test_acme.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from tests.helpers import free_port

from yun.acme import retry_delay
from yun.controllers.acme import AcmeController
from yun.store.models import AcmeAccount, Certificate
from yun.store.session import Store

NOW = 1_800_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Store:
    made = Store(f"sqlite:///{tmp_path / 'yun.db'}")
    made.migrate()
    return made


def _add(store: Store, name: str, **fields: object) -> None:
    values: dict[str, object] = {
        "names": [name],
        "bundle": "",
        "not_after": 0.0,
        "source": "acme",
        "acme_directory": f"https://127.0.0.1:{free_port()}/dir",
        "state": "ordering",
    }
    values.update(fields)
    with store.session() as session:
        session.add(Certificate(name=name, **values))


def _controller(store: Store, woken: list[str]) -> AcmeController:
    return AcmeController(
        store=store, wake=woken.append, router_url="http://127.0.0.1:1", clock=lambda: NOW
    )


def test_the_pass_wakes_what_is_due_and_looks_again_when_the_next_one_is(store: Store) -> None:
    _add(store, "new.example.test")  # never issued: due now
    _add(store, "failed.example.test", state="failed", next_attempt_at=NOW + 120)
    _add(store, "fresh.example.test", state="issued", bundle="PEM", renew_at=NOW + 600)
    _add(store, "late.example.test", state="issued", bundle="PEM", renew_at=NOW - 1)
    _add(store, "upload.example.test", source="upload", bundle="PEM", acme_directory=None)
    woken: list[str] = []
    result = _controller(store, woken).reconcile("acme")
    assert sorted(woken) == ["acme:late.example.test", "acme:new.example.test"]
    assert result.requeue_after == 120


def test_a_failed_order_records_the_reason_and_the_next_try(store: Store) -> None:
    _add(store, "down.example.test")
    woken: list[str] = []
    controller = _controller(store, woken)
    controller.reconcile("acme:down.example.test")
    with store.session() as session:
        row = session.scalar(select(Certificate).where(Certificate.name == "down.example.test"))
        assert row is not None
        assert row.state == "failed" and row.attempts == 1
        assert row.acme_directory is not None and row.acme_directory in row.last_error
        assert row.next_attempt_at == NOW + retry_delay(1)
        assert session.scalar(select(AcmeAccount)) is not None  # the account key is kept
    # Not due again before then: another wake does nothing.
    controller.reconcile("acme:down.example.test")
    with store.session() as session:
        row = session.scalar(select(Certificate).where(Certificate.name == "down.example.test"))
        assert row is not None and row.attempts == 1
    assert "acme" in woken


def test_an_order_for_a_certificate_no_longer_there_does_nothing(store: Store) -> None:
    woken: list[str] = []
    _controller(store, woken).reconcile("acme:gone.example.test")
    assert woken == []
