"""Image references ("127.0.0.1:5005/app:1", "docker://busybox@sha256:…") taken apart."""

from __future__ import annotations

import re

DOCKER_HUB = "docker.io"
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
_TAG_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def strip_transport(ref: str) -> str:
    return ref.removeprefix("docker://")


def registry_host(ref: str) -> str:
    """The registry part of an image reference ("docker.io" when there is none), port kept."""
    first, sep, _ = strip_transport(ref).partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def is_loopback(host: str) -> bool:
    """Whether `host` ("127.0.0.1:5005", "localhost", "[::1]:5000") is this machine."""
    name = host
    if name.startswith("["):
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    return name in _LOOPBACK_HOSTS or name.startswith("127.")


def repository(ref: str) -> str:
    """The reference without its tag or digest: "host:port/repo"."""
    name = strip_transport(ref).partition("@")[0]
    head, slash, last = name.rpartition("/")
    return f"{head}{slash}{last.partition(':')[0]}"


def layout_tag(ref: str) -> str:
    """A tag for a local layout, from the reference: its tag, its digest, or "latest"."""
    name, at, digest = strip_transport(ref).partition("@")
    if at:
        return _TAG_CHARS.sub("-", digest)
    _, colon, tag = name.rpartition("/")[2].partition(":")
    return _TAG_CHARS.sub("-", tag) if colon and tag else "latest"
