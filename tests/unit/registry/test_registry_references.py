"""Taking image references apart: registry host, loopback, repository, layout tag."""

from __future__ import annotations

import pytest

from yun.registry.references import is_loopback, layout_tag, registry_host, repository


@pytest.mark.parametrize(
    ("ref", "host"),
    [
        ("busybox", "docker.io"),
        ("library/busybox:1.36", "docker.io"),
        ("docker://busybox", "docker.io"),
        ("localhost/app", "localhost"),
        ("localhost:5005/app:1", "localhost:5005"),
        ("127.0.0.1:5005/team/app@sha256:abc", "127.0.0.1:5005"),
        ("ghcr.io/org/app:v2", "ghcr.io"),
        ("[::1]:5000/app", "[::1]:5000"),
    ],
)
def test_registry_host(ref: str, host: str) -> None:
    assert registry_host(ref) == host


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5005", True),
        ("127.0.0.2", True),
        ("localhost:5000", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("docker.io", False),
        ("registry.example:5000", False),
        ("10.0.0.1:5000", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("ref", "tag"),
    [
        ("127.0.0.1:5005/app:1", "1"),
        ("127.0.0.1:5005/app", "latest"),
        ("busybox", "latest"),
        ("app@sha256:0123abcd", "sha256-0123abcd"),
        ("docker://localhost:5000/a/b:v1.2-rc_3", "v1.2-rc_3"),
    ],
)
def test_layout_tag(ref: str, tag: str) -> None:
    assert layout_tag(ref) == tag


@pytest.mark.parametrize(
    ("ref", "repo"),
    [
        ("127.0.0.1:5005/app:1", "127.0.0.1:5005/app"),
        ("127.0.0.1:5005/team/app", "127.0.0.1:5005/team/app"),
        ("127.0.0.1:5005/app@sha256:ab", "127.0.0.1:5005/app"),
        ("busybox:1", "busybox"),
    ],
)
def test_repository(ref: str, repo: str) -> None:
    assert repository(ref) == repo
