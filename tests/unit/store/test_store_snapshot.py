"""Reads that see one snapshot: within `Store.snapshot()`, a commit made meanwhile elsewhere is
not seen (neither by a second read of the same rows nor by a read of related ones), while
`Store.session()` reads see it; a snapshot does not write, and does not hold up writers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from yun.settings import Settings
from yun.store.models import Org, Space
from yun.store.session import SnapshotWrite, Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(Settings(home=tmp_path).db_url)
    made.migrate()
    yield made
    made.close()


def _orgs(session: object) -> int:
    return int(session.scalar(select(func.count()).select_from(Org)) or 0)  # type: ignore[attr-defined]


def test_a_snapshot_does_not_see_a_commit_made_after_its_first_read(store: Store) -> None:
    with store.session() as session:
        session.add(Org(name="first"))
    with store.snapshot() as snapshot:
        assert _orgs(snapshot) == 1
        with store.session() as writer:  # not held up by the reader
            org = Org(name="second")
            writer.add(org)
            writer.flush()
            writer.add(Space(name="prod", org_guid=org.guid))
        assert _orgs(snapshot) == 1
        spaces = snapshot.scalar(select(func.count()).select_from(Space))
        assert spaces == 0  # nor the rows related to what it did not see
        with store.session() as fresh:
            assert _orgs(fresh) == 2
    with store.snapshot() as later:
        assert _orgs(later) == 2


def test_a_plain_session_before_its_first_write_would_have_mixed_commits(store: Store) -> None:
    """What the snapshot is for: sqlite3 opens no transaction for reads."""
    with store.session() as reader:
        before = _orgs(reader)
        with store.session() as writer:
            writer.add(Org(name="meanwhile"))
        assert _orgs(reader) == before + 1


def test_a_snapshot_refuses_to_write(store: Store) -> None:
    with pytest.raises(SnapshotWrite), store.snapshot() as snapshot:
        snapshot.add(Org(name="nope"))
        snapshot.flush()
    with store.session() as session:
        assert _orgs(session) == 0


def test_the_store_counts_its_writes_and_not_its_reads(store: Store) -> None:
    """What the controllers' resync reads to know whether anything changed."""
    before = store.writes
    with store.snapshot() as snapshot:
        _orgs(snapshot)
    with store.session() as session:
        _orgs(session)
        session.execute(delete(Org).where(Org.name == "nobody"))  # changes no row
    assert store.writes == before
    with store.session() as session:
        session.add(Org(name="counted"))
    after_insert = store.writes
    assert after_insert > before
    with store.session() as session:
        org = session.scalar(select(Org).where(Org.name == "counted"))
        assert org is not None
        session.delete(org)
    assert store.writes > after_insert
