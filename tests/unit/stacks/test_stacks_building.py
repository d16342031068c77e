"""The stacks folder: build on first use, once; rebuild beside the current build and switch;
keep the log; read runtime versions from dpkg's database; say why a build failed.

mmdebstrap itself is run for real by the integration tests (they build the shared stacks); here
a stand-in on PATH writes a small root filesystem, so the folder logic is checked without root
and in milliseconds."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from yun.stacks import StackBuildError, StackStore
from yun.stacks.versions import runtime_versions, upstream_version

FAKE_MMDEBSTRAP = """#!/bin/sh
# Stand-in for mmdebstrap: the target is the second to last but one argument before the sources.
echo "I: running apt-get update..."
for arg in "$@"; do case "$arg" in --*) ;; *) set -- "$@" "$arg" ;; esac; done
if [ -n "$FAIL_BUILD" ]; then echo "E: Unable to locate package nodejs"; exit 25; fi
target=$(printf '%s\\n' "$@" | grep rootfs | tail -n 1)
mkdir -p "$target/usr/bin" "$target/etc" "$target/var/lib/dpkg"
ln -s usr/bin "$target/bin"
cat > "$target/var/lib/dpkg/status" <<'STATUS'
Package: python3.13
Status: install ok installed
Version: 3.13.5-2

Package: nodejs
Status: install ok installed
Version: 20.19.2+dfsg-1

Package: openjdk-21-jdk-headless
Status: install ok installed
Version: 21.0.8+9-1

Package: golang-1.24-go
Status: install ok installed
Version: 1.24.4-1

Package: python3.12
Status: deinstall ok config-files
Version: 3.12.1-1
STATUS
echo "I: done"
"""


@pytest.fixture
def fake_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "mmdebstrap"
    tool.write_text(FAKE_MMDEBSTRAP)
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr("yun.stacks.building.os.geteuid", lambda: 0)
    monkeypatch.setattr("yun.stacks.building.local_authorities", lambda: [])
    return bin_dir


def test_a_stack_is_built_on_first_use_and_then_reused(tmp_path: Path, fake_tools: Path) -> None:
    store = StackStore(tmp_path / "stacks")
    lines: list[str] = []
    assert store.built("trixie") is None

    built = store.ensure("trixie", output=lines.append)

    assert lines[0] == "Building stack trixie (Debian trixie) with mmdebstrap"
    assert "I: running apt-get update..." in lines
    assert lines[-1].startswith("Stack trixie built in ")
    assert built.info["runtimes"] == {
        "python": "3.13.5",
        "node": "20.19.2",
        "java": "21.0.8",
        "go": "1.24.4",
    }
    assert (built.rootfs / "etc" / "hosts").read_text().startswith("127.0.0.1\tlocalhost")
    assert (built.rootfs / "etc" / "resolv.conf").read_text() == ""
    assert (built.rootfs / "etc" / "pip.conf").is_file()
    log = store.log_path("trixie").read_text()
    assert log.startswith("mmdebstrap --variant=apt") and "I: done" in log
    again: list[str] = []
    assert store.ensure("trixie", output=again.append).rootfs == built.rootfs
    assert again == []


def test_a_rebuild_switches_current_and_keeps_the_build_before(
    tmp_path: Path, fake_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = StackStore(tmp_path / "stacks")
    builds = iter(["20261206T010101", "20261206T020202", "20261206T030303"])
    monkeypatch.setattr("yun.stacks.building._build_id", lambda: next(builds))
    first = store.ensure("bookworm", output=lambda _: None)
    second = store.rebuild("bookworm", output=lambda _: None)
    third = store.rebuild("bookworm", output=lambda _: None)

    current = (tmp_path / "stacks" / "bookworm" / "current").resolve()
    assert current == third.rootfs.parent
    assert second.rootfs.is_dir()  # instances started on it may still run
    assert not first.rootfs.exists()


def test_a_failed_build_says_where_the_log_is_and_leaves_nothing(
    tmp_path: Path, fake_tools: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_BUILD", "1")
    store = StackStore(tmp_path / "stacks")
    lines: list[str] = []

    with pytest.raises(StackBuildError) as failure:
        store.ensure("testing", output=lines.append)

    log = store.log_path("testing")
    assert str(failure.value) == (
        f"mmdebstrap failed to build the stack testing (exit 25); see {log}"
    )
    assert "E: Unable to locate package nodejs" in lines
    assert store.built("testing") is None
    assert sorted(p.name for p in (tmp_path / "stacks" / "testing").iterdir()) == [
        ".lock",
        "build.log",
    ]


def test_an_unknown_stack_is_named_with_the_known_ones(tmp_path: Path, fake_tools: Path) -> None:
    with pytest.raises(StackBuildError, match=r"no stack named 'cflinuxfs4' \(stacks: "):
        StackStore(tmp_path).ensure("cflinuxfs4", output=lambda _: None)


def test_building_without_mmdebstrap_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackBuildError, match=r"apt-get install mmdebstrap"):
        StackStore(tmp_path).ensure("trixie", output=lambda _: None)


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [("2:1.19~1", "1.19"), ("18.19.0+dfsg-6~deb12u2", "18.19.0"), ("3.11.2-1+b1", "3.11.2")],
)
def test_debian_versions_read_as_the_runtimes_own(debian: str, upstream: str) -> None:
    assert upstream_version(debian) == upstream


def test_versions_of_a_root_without_runtimes(tmp_path: Path) -> None:
    (tmp_path / "var/lib/dpkg").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(
        "Package: bash\nStatus: install ok installed\nVersion: 5.2-1\n"
    )
    assert runtime_versions(tmp_path) == {}
