"""Where the platform keeps its data by default: /var/lib/yun for root (a system service's
place, which postgres and redis can reach without opening root's home), ~/.local/share/yun for
a user, and an installation root already has in its home stays there."""

from __future__ import annotations

from pathlib import Path

import pytest

import yun.settings
from yun.settings import Settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path / "root"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setattr(yun.settings, "SYSTEM_HOME", tmp_path / "var-lib-yun")
    return tmp_path


def test_root_keeps_its_data_in_the_system_place(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yun.settings.os, "geteuid", lambda: 0)
    assert Settings.from_env({}).home == home / "var-lib-yun"


def test_an_installation_from_before_in_roots_home_stays_there(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yun.settings.os, "geteuid", lambda: 0)
    before = home / "root" / ".local" / "share" / "yun"
    before.mkdir(parents=True)
    (before / "yun.db").write_bytes(b"")
    assert Settings.from_env({}).home == before
    (home / "var-lib-yun").mkdir()  # once moved, the system place wins
    assert Settings.from_env({}).home == home / "var-lib-yun"


def test_a_user_keeps_it_in_their_own_data_directory(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yun.settings.os, "geteuid", lambda: 1000)
    assert Settings.from_env({}).home == home / "root" / ".local" / "share" / "yun"
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg"))
    assert Settings.from_env({}).home == home / "xdg" / "yun"
    assert Settings.from_env({"YUN_HOME": str(home / "mine")}).home == home / "mine"
