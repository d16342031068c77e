"""The platform's state as one archive, for disaster recovery on a new machine (`yun backup
FILE`, `yun restore FILE`): every row of the store, the blobstore (packages' files, droplets,
service backups), the platform registry's images and a dump of every built-in service
instance's data.

The archive is a gzipped tar: `yun-backup.json` (its format, the schema revision, when it was
made, the service dumps it holds), `store/TABLE.jsonl` (one row a line, read in one snapshot,
secrets decrypted: the restored store seals them again under its own key, so the archive must
be kept as safe as the key was), `blobs/DIGEST`, `registry/…` and `services/GUID` (the dump the
built-in broker made of that instance). Rows of what only the old machine had are left out:
instances (the new agent starts them anew), login tokens (users log in again) and ACME
challenges under way.

A restore goes into a fresh `YUN_HOME` whose schema is the archive's (the same Yun version),
with no server running: the store is made at that schema and the rows go in, parents first.
Each service dump goes into the blobstore as a service backup whose restore is pending, made
by `RESTORED_BY`: the next `yun server` creates those instances anew at its built-in broker,
loads the dumps and binds them again (`server/recovering.py`), before any app starts.
"""

from __future__ import annotations

import datetime
import io
import json
import shutil
import tarfile
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection

from yun.blobstore import BlobStore
from yun.store.models import Base
from yun.store.session import Store

FORMAT = 1
MANIFEST = "yun-backup.json"
LEFT_OUT = frozenset({"instances", "tokens", "acme_challenges", "alembic_version"})
RESTORED_BY = "platform restore"
"""`created_by` of the service backups a restore makes of the archive's service dumps."""


@dataclass(frozen=True)
class ServiceDump:
    """One built-in service instance's data in the archive (`path` only while writing)."""

    guid: str
    name: str
    offering: str
    format: str
    size: int
    path: str = ""

    def entry(self) -> dict[str, str | int]:
        return {k: v for k, v in asdict(self).items() if k != "path"}


class DumpError(Exception):
    """An archive that cannot be restored here; the message says why."""


def schema_of(connection: Connection) -> str:
    from alembic.runtime.migration import MigrationContext  # loaded when a dump is made

    return str(MigrationContext.configure(connection).get_current_revision() or "")


def _tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in LEFT_OUT]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return value


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def write(
    store: Store,
    out: IO[bytes],
    *,
    blobs_dir: Path,
    registry_dir: Path | None,
    services: Sequence[ServiceDump] = (),
) -> dict[str, int]:
    """Write the archive to `out`; how many rows, blobs, registry files and service dumps it
    holds."""
    counts = {"rows": 0, "blobs": 0, "registry_files": 0, "services": len(services)}
    with tarfile.open(fileobj=out, mode="w|gz") as tar:
        with store.engine.connect() as connection:
            if store.engine.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN")  # one snapshot for every table
            schema = schema_of(connection)
            for table in _tables():
                lines = []
                for row in connection.execute(select(table)).mappings():
                    lines.append(json.dumps({k: _plain(v) for k, v in row.items()}))
                counts["rows"] += len(lines)
                _add(tar, f"store/{table.name}.jsonl", ("\n".join(lines) + "\n").encode())
            connection.rollback()
        counts["blobs"] = _add_tree(tar, blobs_dir, "blobs")
        if registry_dir is not None:
            counts["registry_files"] = _add_tree(tar, registry_dir / "storage", "registry")
        for dump in services:
            tar.add(dump.path, arcname=f"services/{dump.guid}", recursive=False)
        manifest = {
            "format": FORMAT,
            "schema": schema,
            "created_at": time.time(),
            **counts,
            "service_dumps": [dump.entry() for dump in services],
        }
        _add(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
    return counts


def _add_tree(tar: tarfile.TarFile, root: Path, prefix: str) -> int:
    """Every file under `root` (not dot files: temporary ones), as `prefix/…`; how many."""
    count = 0
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        if path.is_file() and not path.name.startswith("."):
            tar.add(path, arcname=f"{prefix}/{path.relative_to(root).as_posix()}", recursive=False)
            count += 1
    return count


def _checked(name: str) -> str:
    if ".." in Path(name).parts or name.startswith("/"):
        raise DumpError(f"the archive names a path outside its folders: {name}")
    return name


def _save(handle: IO[bytes], target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        shutil.copyfileobj(handle, out, 1 << 20)


class _Read:
    """What a pass over the archive found (files went to their folders on the way)."""

    def __init__(self) -> None:
        self.manifest: dict[str, Any] | None = None
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.dumps: dict[str, str] = {}  # instance guid -> blob of its dump
        self.counts = {"rows": 0, "blobs": 0, "registry_files": 0, "services": 0}


def _read(archive: IO[bytes], *, blobs_dir: Path, registry_dir: Path | None) -> _Read:
    found = _Read()
    blobs = BlobStore(blobs_dir)
    with tarfile.open(fileobj=archive, mode="r|gz") as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is None:
                continue
            name = _checked(member.name)
            if name == MANIFEST:
                found.manifest = json.loads(handle.read())
            elif name.startswith("store/") and name.endswith(".jsonl"):
                table_name = name.removeprefix("store/").removesuffix(".jsonl")
                lines = handle.read().splitlines()
                found.rows[table_name] = [json.loads(line) for line in lines if line]
            elif name.startswith("blobs/"):
                _save(handle, blobs_dir / name.removeprefix("blobs/"))
                found.counts["blobs"] += 1
            elif name.startswith("registry/") and registry_dir is not None:
                _save(handle, registry_dir / "storage" / name.removeprefix("registry/"))
                found.counts["registry_files"] += 1
            elif name.startswith("services/"):
                found.dumps[name.removeprefix("services/")] = blobs.put_stream(handle)
    return found


def restore(
    store: Store,
    archive: IO[bytes],
    *,
    blobs_dir: Path,
    registry_dir: Path | None,
    offerings: Collection[str] = (),
) -> dict[str, int]:
    """Restore the archive into an empty, migrated store and these folders; DumpError when it
    cannot be (another format or schema, a store that already holds apps, service data of an
    offering not among the `offerings` this machine serves)."""
    try:
        found = _read(archive, blobs_dir=blobs_dir, registry_dir=registry_dir)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise DumpError(f"not a readable Yun backup: {exc}") from exc
    manifest = found.manifest
    if manifest is None or manifest.get("format") != FORMAT:
        raise DumpError("not a Yun backup (it has no yun-backup.json of format 1)")
    try:
        dumps = [ServiceDump(**entry) for entry in manifest.get("service_dumps") or []]
    except TypeError as exc:
        raise DumpError(f"the backup's list of service dumps is not readable: {exc}") from None
    _check_dumps(dumps, found.dumps, offerings)
    counts = found.counts
    with store.engine.begin() as connection:
        schema = schema_of(connection)
        if manifest.get("schema") != schema:
            raise DumpError(
                f"the backup has schema {manifest.get('schema')} and this Yun {schema}:"
                " restore it with the Yun version that made it"
            )
        apps = Base.metadata.tables["apps"]
        if connection.execute(select(apps.c.guid).limit(1)).first() is not None:
            raise DumpError("this YUN_HOME already has apps: restore into a fresh one")
        for table in _tables():
            given = found.rows.get(table.name, [])
            wanted = [{k: v for k, v in row.items() if k in table.c} for row in given]
            if not wanted:
                continue
            connection.execute(table.delete())  # what a first start may have made
            connection.execute(insert(table), wanted)
            counts["rows"] += len(wanted)
        if dumps:
            backups = Base.metadata.tables["service_backups"]
            now = time.time()
            connection.execute(
                insert(backups),
                [
                    {
                        "service_instance_guid": dump.guid,
                        "state": "READY",
                        "blob": found.dumps[dump.guid],
                        "size": dump.size,
                        "format": dump.format,
                        "restore": {"state": "PENDING"},
                        "created_by": RESTORED_BY,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for dump in dumps
                ],
            )
            counts["services"] = len(dumps)
    return counts


def _check_dumps(
    dumps: list[ServiceDump], files: dict[str, str], offerings: Collection[str]
) -> None:
    if missing := [dump.name for dump in dumps if dump.guid not in files]:
        raise DumpError(f"the backup lacks the data of service {', '.join(missing)}")
    needed: dict[str, list[str]] = {}
    for dump in dumps:
        if dump.offering not in offerings:
            needed.setdefault(dump.offering, []).append(dump.name)
    if needed:
        offering, names = next(iter(needed.items()))
        raise DumpError(
            f"the backup holds the data of built-in {offering} services ({', '.join(names)})"
            f" and this machine cannot run {offering}: install it (`make up`, or"
            f" `apt-get install {PACKAGES.get(offering, offering)}`), then restore again"
        )


PACKAGES = {"postgresql": "postgresql", "redis": "redis-server"}
