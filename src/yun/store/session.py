"""Engine and session factory; SQLite in WAL mode by default, PostgreSQL through YUN_DATABASE_URL.

`open_store` migrates the schema to head with Alembic before anything reads it, so an upgrade of
Yun upgrades the database on its first start.

`Store.session()` is a short read-write transaction. Python's sqlite3 only opens a transaction
at the first write, so the reads before it each see the latest commit; `Store.snapshot()` is
for code that only reads and must not mix commits (the router's table read from routes,
mappings, processes and instances): one transaction, begun before the first read, that every
read sees the same committed state in (SQLite's WAL snapshot; REPEATABLE READ on PostgreSQL),
and that may not write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from yun.settings import Settings
from yun.store.sealing import KEY_FILE, bind_keys, rotate

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
SNAPSHOT = "snapshot"
_WRITES = ("INSERT", "UPDATE", "DELETE")


class SnapshotWrite(RuntimeError):
    """Code that holds a snapshot tried to write (use `Store.session()` for that)."""


@event.listens_for(Session, "before_flush")
def _refuse_writes(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(SNAPSHOT) and (session.new or session.dirty or session.deleted):
        raise SnapshotWrite("a snapshot is read-only; write in Store.session()")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    if _at_newest(engine):
        return  # every start but the first after an upgrade: alembic is not even loaded
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


def newest_revision() -> str:
    """The newest migration's revision: revisions are numbered as their files are (0001_…)."""
    return max(path.name[:4] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def _at_newest(engine: Engine) -> bool:
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except SQLAlchemyError:
        return False  # a new database: no version table yet
    return [row[0] for row in rows] == [newest_revision()]


def default_key_file(url: str) -> Path:
    """Where the secret key of the database at `url` is kept unless told: beside a SQLite
    file, else in `$YUN_HOME`."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).absolute().parent / KEY_FILE
    return Settings.from_env().home / KEY_FILE


class Store:
    """Owns the engine; hands out short transactions. Secret columns are sealed with the keys
    in `key_file` (see `yun.store.sealing`)."""

    def __init__(self, url: str, *, key_file: Path | None = None) -> None:
        self.engine = make_engine(url)
        self.key_file = key_file or default_key_file(url)
        bind_keys(self.engine, self.key_file)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        self.writes = 0  # statements that wrote, so far: the controllers' resync reads it
        event.listen(self.engine, "after_cursor_execute", self._count_write)

    def _count_write(self, _conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        # A statement that changed no row (a prune finding nothing) is no change.
        if statement.lstrip()[:6].upper() in _WRITES and cursor.rowcount != 0:
            self.writes += 1

    def migrate(self) -> None:
        migrate(self.engine)

    def rotate_key(self) -> int:
        """Re-seal every secret under a new key (`yun rotate-key`); how many values."""
        from yun.store.models import Base

        return rotate(self.engine, self.key_file, Base.metadata)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._factory() as session, session.begin():
            yield session

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read-only transaction whose reads all see one committed state."""
        with self._factory() as session:
            session.info[SNAPSHOT] = True
            if self.engine.dialect.name == "sqlite":
                session.connection().exec_driver_sql("BEGIN")  # sqlite3 would not, for reads
            else:
                session.connection(
                    execution_options={
                        "isolation_level": "REPEATABLE READ",
                        "postgresql_readonly": True,
                    }
                )
            try:
                yield session
            finally:
                session.rollback()

    def close(self) -> None:
        self.engine.dispose()
