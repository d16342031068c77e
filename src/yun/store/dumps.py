"""The platform's state as one archive, for disaster recovery on a new machine (`yun backup
FILE`, `yun restore FILE`): every row of the store, the blobstore (packages' files, droplets,
service backups) and the platform registry's images.

The archive is a gzipped tar: `yun-backup.json` (its format, the schema revision, when it was
made), `store/TABLE.jsonl` (one row a line, read in one snapshot, secrets decrypted: the
restored store seals them again under its own key, so the archive must be kept as safe as the
key was), `blobs/DIGEST` and `registry/…`. Rows of what only the old machine had are left out:
instances (the new agent starts them anew), login tokens (users log in again) and ACME
challenges under way.

A restore goes into a fresh `YUN_HOME` whose schema is the archive's (the same Yun version),
with no server running: the store is made at that schema and the rows go in, parents first.
"""

from __future__ import annotations

import datetime
import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection

from yun.store.models import Base
from yun.store.session import Store

FORMAT = 1
MANIFEST = "yun-backup.json"
LEFT_OUT = frozenset({"instances", "tokens", "acme_challenges", "alembic_version"})


class DumpError(Exception):
    """An archive that cannot be restored here; the message says why."""


def schema_of(connection: Connection) -> str:
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
    store: Store, out: IO[bytes], *, blobs_dir: Path, registry_dir: Path | None
) -> dict[str, int]:
    """Write the archive to `out`; how many rows, blobs and registry files it holds."""
    counts = {"rows": 0, "blobs": 0, "registry_files": 0}
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
        manifest = {"format": FORMAT, "schema": schema, "created_at": time.time(), **counts}
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


def _members(tar: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, bytes]]:
    for member in tar:
        if not member.isfile():
            continue
        handle = tar.extractfile(member)
        if handle is not None:
            yield member, handle.read()


def restore(
    store: Store, archive: IO[bytes], *, blobs_dir: Path, registry_dir: Path | None
) -> dict[str, int]:
    """Restore the archive into an empty, migrated store and these folders; DumpError when it
    cannot be (another format or schema, a store that already holds apps)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    counts = {"rows": 0, "blobs": 0, "registry_files": 0}
    manifest: dict[str, Any] | None = None
    try:
        with tarfile.open(fileobj=archive, mode="r|gz") as tar:
            for member, data in _members(tar):
                name = member.name
                if ".." in Path(name).parts or name.startswith("/"):
                    raise DumpError(f"the archive names a path outside its folders: {name}")
                if name == MANIFEST:
                    manifest = json.loads(data)
                elif name.startswith("store/") and name.endswith(".jsonl"):
                    table_name = name.removeprefix("store/").removesuffix(".jsonl")
                    rows[table_name] = [json.loads(line) for line in data.splitlines() if line]
                elif name.startswith("blobs/"):
                    target = blobs_dir / name.removeprefix("blobs/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    counts["blobs"] += 1
                elif name.startswith("registry/") and registry_dir is not None:
                    target = registry_dir / "storage" / name.removeprefix("registry/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
                    counts["registry_files"] += 1
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise DumpError(f"not a readable Yun backup: {exc}") from exc
    if manifest is None or manifest.get("format") != FORMAT:
        raise DumpError("not a Yun backup (it has no yun-backup.json of format 1)")
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
            given = rows.get(table.name, [])
            wanted = [{k: v for k, v in row.items() if k in table.c} for row in given]
            if not wanted:
                continue
            connection.execute(table.delete())  # what a first start may have made
            connection.execute(insert(table), wanted)
            counts["rows"] += len(wanted)
    return counts
