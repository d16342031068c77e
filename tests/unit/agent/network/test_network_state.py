from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.unit.agent.network.network_fakes import BRIDGE_RESULT_1_0

from yun.agent.network import Attachment
from yun.agent.network.state import AttachmentStore, host_local_allocations


def test_attachments_survive_a_new_store_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "net" / "attachments.json"
    AttachmentStore(path).put(Attachment("c1", "/run/netns/a", "eth0", BRIDGE_RESULT_1_0))
    AttachmentStore(path).put(Attachment("c2", "/run/netns/b", "eth0", None))
    loaded = AttachmentStore(path).load()
    assert loaded == {
        "c1": Attachment("c1", "/run/netns/a", "eth0", BRIDGE_RESULT_1_0),
        "c2": Attachment("c2", "/run/netns/b", "eth0", None),
    }
    assert json.loads(path.read_text())["version"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["attachments.json"]  # no temporary left


def test_remove_forgets_one_container(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path / "attachments.json")
    store.put(Attachment("c1", "/run/netns/a", "eth0", None))
    store.put(Attachment("c2", "/run/netns/b", "eth0", None))
    store.remove("c1")
    store.remove("unknown")
    assert set(store.load()) == {"c2"}
    assert store.get("c1") is None


def test_a_missing_file_is_an_empty_state(tmp_path: Path) -> None:
    assert AttachmentStore(tmp_path / "nothing.json").load() == {}


def test_a_corrupt_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "attachments.json"
    path.write_text("{half a file")
    assert AttachmentStore(path).load() == {}
    assert (tmp_path / "attachments.json.corrupt").read_text() == "{half a file"
    assert not path.exists()
    assert "unreadable" in caplog.text


def test_host_local_allocations_read_the_ipam_directory(tmp_path: Path) -> None:
    (tmp_path / "10.244.0.2").write_text("c1\r\neth0")
    (tmp_path / "10.244.0.3").write_text("c2")  # plugins before 0.8 wrote only the id
    (tmp_path / "lock").write_text("")
    (tmp_path / "last_reserved_ip.0").write_text("10.244.0.3")
    assert host_local_allocations(tmp_path) == {
        "10.244.0.2": ("c1", "eth0"),
        "10.244.0.3": ("c2", "eth0"),
    }
    assert host_local_allocations(tmp_path / "missing") == {}
