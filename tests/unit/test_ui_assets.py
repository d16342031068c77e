"""The dashboard's third-party assets: found where `make up` put them, fetched only once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yun.ui import assets


def test_a_user_finds_what_root_fetched_for_the_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "system"
    package, inside = assets.FILES["uplot.min.js"]
    made = assets.package_dir(package, system) / inside
    made.parent.mkdir(parents=True)
    made.write_text("/* uPlot */")
    monkeypatch.delenv("YUN_UI_ASSETS", raising=False)
    monkeypatch.setattr(assets, "SYSTEM_CACHE", system)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)

    assert assets.find("uplot.min.js") == made
    assert assets.find("swagger-ui.css") is None  # not fetched anywhere
    assert assets.find("../../etc/passwd") is None  # only the names it serves


def test_fetch_takes_only_what_is_missing(tmp_path: Path) -> None:
    for package in assets.PACKAGES:
        assets.package_dir(package, tmp_path).mkdir(parents=True)

    assert assets.missing(tmp_path) == []
    assert assets.fetch(tmp_path) == []  # nothing asked of npm
