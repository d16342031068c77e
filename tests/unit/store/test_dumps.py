"""A platform backup round trip at the store's level: rows (secrets included, sealed again
under the new store's key), blobs and registry files come back in a fresh home; an archive of
another schema, a home that already has apps, or a file that is no backup are refused."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from yun.blobstore import BlobStore
from yun.store.bootstrap import bootstrap
from yun.store.dumps import RESTORED_BY, DumpError, ServiceDump, restore, write
from yun.store.models import App, ServiceBackup, ServiceInstance, Token, User
from yun.store.sealing import KEY_FILE
from yun.store.session import Store


def fresh(home: Path) -> Store:
    home.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{home / 'yun.db'}", key_file=home / KEY_FILE)
    store.migrate()
    return store


def test_rows_blobs_and_registry_files_come_back(tmp_path: Path) -> None:
    old = fresh(tmp_path / "old")
    defaults = bootstrap(old, home=tmp_path / "old", domain="apps.localhost", admin_password="pw")
    with old.session() as session:
        session.add(App(name="web", space_guid=defaults.space_guid, env={"SECRET": "s3cr3t"}))
        admin = session.query(User).one()
        session.add(Token(token_hash="h" * 64, user_guid=admin.guid, expires_at=4e9))
    blob = tmp_path / "old" / "blobs" / "ab" / ("c" * 62)
    blob.parent.mkdir(parents=True)
    blob.write_bytes(b"droplet bytes")
    layer = tmp_path / "old" / "registry" / "storage" / "docker" / "registry" / "v2" / "x"
    layer.parent.mkdir(parents=True)
    layer.write_bytes(b"layer")
    archive = io.BytesIO()
    counts = write(
        old,
        archive,
        blobs_dir=tmp_path / "old" / "blobs",
        registry_dir=tmp_path / "old" / "registry",
    )
    assert counts["blobs"] == 1 and counts["registry_files"] == 1
    with tarfile.open(fileobj=io.BytesIO(archive.getvalue()), mode="r:gz") as raw:
        assert "store/tokens.jsonl" not in raw.getnames()  # users log in again
    old.close()

    new = fresh(tmp_path / "new")
    archive.seek(0)
    restored = restore(
        new,
        archive,
        blobs_dir=tmp_path / "new" / "blobs",
        registry_dir=tmp_path / "new" / "registry",
    )
    assert restored["rows"] == counts["rows"] >= 5
    with new.session() as session:
        app = session.query(App).one()
        assert (app.name, app.env) == ("web", {"SECRET": "s3cr3t"})
        assert session.query(Token).count() == 0
    assert (tmp_path / "new" / "blobs" / "ab" / ("c" * 62)).read_bytes() == b"droplet bytes"
    assert (tmp_path / "new" / "registry" / "storage" / "docker" / "registry" / "v2" / "x").exists()
    sealed = (tmp_path / "new" / "yun.db").read_bytes()
    assert b"s3cr3t" not in sealed  # sealed again, under the new home's key

    archive.seek(0)
    with pytest.raises(DumpError, match="already has apps"):
        restore(new, archive, blobs_dir=tmp_path / "x", registry_dir=None)
    new.close()


def test_what_is_no_backup_of_this_schema_is_refused(tmp_path: Path) -> None:
    store = fresh(tmp_path / "home")
    with pytest.raises(DumpError, match="not a readable Yun backup"):
        restore(store, io.BytesIO(b"hello"), blobs_dir=tmp_path / "b", registry_dir=None)
    other = io.BytesIO()
    with tarfile.open(fileobj=other, mode="w:gz") as tar:
        data = json.dumps({"format": 1, "schema": "0001"}).encode()
        info = tarfile.TarInfo("yun-backup.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    other.seek(0)
    with pytest.raises(DumpError, match="the backup has schema 0001"):
        restore(store, other, blobs_dir=tmp_path / "b", registry_dir=None)
    store.close()


def test_service_dumps_become_pending_backups_where_their_servers_can_run(tmp_path: Path) -> None:
    old = fresh(tmp_path / "old")
    defaults = bootstrap(old, home=tmp_path / "old", domain="apps.localhost", admin_password="pw")
    with old.session() as session:
        instance = ServiceInstance(name="cache", space_guid=defaults.space_guid, kind="managed")
        session.add(instance)
        session.flush()
        guid = instance.guid
    dump = tmp_path / "cache.rdb"
    dump.write_bytes(b"REDIS0011 pretend snapshot")
    archive = io.BytesIO()
    entry = ServiceDump(guid, "cache", "redis", "redis-rdb", dump.stat().st_size, str(dump))
    write(old, archive, blobs_dir=tmp_path / "old" / "blobs", registry_dir=None, services=[entry])
    old.close()

    new = fresh(tmp_path / "new")
    blobs = tmp_path / "new" / "blobs"
    archive.seek(0)
    with pytest.raises(DumpError, match=r"built-in redis services \(cache\).*redis-server"):
        restore(new, archive, blobs_dir=blobs, registry_dir=None, offerings={"postgresql"})
    with new.session() as session:
        assert session.query(ServiceInstance).count() == 0  # refused before the store changed
    archive.seek(0)
    counts = restore(new, archive, blobs_dir=blobs, registry_dir=None, offerings={"redis"})
    assert counts["services"] == 1
    with new.session() as session:
        (backup,) = session.query(ServiceBackup).all()
        assert (backup.service_instance_guid, backup.created_by) == (guid, RESTORED_BY)
        assert (backup.state, backup.restore, backup.format) == (
            "READY",
            {"state": "PENDING"},
            "redis-rdb",
        )
        assert BlobStore(blobs).path(backup.blob).read_bytes() == dump.read_bytes()
    new.close()


def test_a_backup_with_an_unreadable_list_of_service_dumps_is_refused(tmp_path: Path) -> None:
    store = fresh(tmp_path / "home")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        data = json.dumps({"format": 1, "schema": "x", "service_dumps": [{"nope": 1}]}).encode()
        info = tarfile.TarInfo("yun-backup.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    archive.seek(0)
    with pytest.raises(DumpError, match="list of service dumps is not readable"):
        restore(store, archive, blobs_dir=tmp_path / "b", registry_dir=None)
    store.close()
