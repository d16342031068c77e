"""What an OCI image asks of its runtime, read from an image layout, and unpacking it for runc.

An image layout (a folder with `oci-layout`, `index.json` and `blobs/`) is how images travel
between skopeo, umoci and the agent. `read_image_config` follows index.json → manifest → config
blob and returns the part of the image config an instance needs (`ImageConfig`); `unpack` turns
a tag into a runc bundle (BUNDLE/rootfs + BUNDLE/config.json) with `umoci unpack`.
`start_command` and `port` apply Docker's rules, the way Cloud Foundry runs docker-image apps.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yun.registry.errors import ImageError
from yun.registry.tools import run_tool

DEFAULT_PORT = 8080
REF_NAME = "org.opencontainers.image.ref.name"
INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@dataclass(frozen=True)
class ImageConfig:
    """The runtime part of an OCI image config (`config` in the config blob)."""

    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str = ""
    user: str = ""
    exposed_ports: list[int] = field(default_factory=list)  # TCP only, ascending


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # not valid OCI, but some tools write a bare string
        return [value]
    return [str(item) for item in value]


def _env(entries: Any) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in _strings(entries):
        name, _, value = entry.partition("=")
        if name:
            env[name] = value  # later entries win, as in Docker
    return env


def _tcp_ports(exposed: Any) -> list[int]:
    ports = set()
    for key in exposed or {}:
        number, _, protocol = str(key).partition("/")
        if (protocol or "tcp").lower() == "tcp" and number.isdigit() and 0 < int(number) < 65536:
            ports.add(int(number))
    return sorted(ports)


def parse_image_config(blob: Mapping[str, Any]) -> ImageConfig:
    """`ImageConfig` from a parsed OCI (or Docker v2) image config blob."""
    config = blob.get("config") or {}
    return ImageConfig(
        entrypoint=_strings(config.get("Entrypoint")),
        cmd=_strings(config.get("Cmd")),
        env=_env(config.get("Env")),
        working_dir=str(config.get("WorkingDir") or ""),
        user=str(config.get("User") or ""),
        exposed_ports=_tcp_ports(config.get("ExposedPorts")),
    )


def start_command(config: ImageConfig) -> list[str]:
    """What the container runs: Entrypoint followed by Cmd (Cmd alone without an Entrypoint)."""
    return [*config.entrypoint, *config.cmd]


def port(config: ImageConfig) -> int:
    """The port the app listens on: the lowest exposed TCP port, else 8080 (Cloud Foundry's)."""
    return config.exposed_ports[0] if config.exposed_ports else DEFAULT_PORT


# -- image layouts --------------------------------------------------------------------------


def _blob(layout: Path, digest: str) -> dict[str, Any]:
    algorithm, _, encoded = digest.partition(":")
    try:
        data: dict[str, Any] = json.loads((layout / "blobs" / algorithm / encoded).read_bytes())
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot read blob {digest} of {layout}: {exc}") from exc
    return data


def _matches_host(descriptor: Mapping[str, Any]) -> bool:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    wanted = descriptor.get("platform") or {}
    return bool(wanted.get("os", "linux") == "linux" and wanted.get("architecture", arch) == arch)


def manifest_digest(layout: Path, tag: str) -> str:
    """Digest of the manifest (or index) that `tag` names in the layout's index.json."""
    try:
        index = json.loads((layout / "index.json").read_text())
    except (OSError, ValueError) as exc:
        raise ImageError(f"{layout} is not an OCI image layout: {exc}") from exc
    for descriptor in index.get("manifests") or []:
        if (descriptor.get("annotations") or {}).get(REF_NAME) == tag:
            return str(descriptor["digest"])
    raise ImageError(f"no tag {tag} in the image layout {layout}")


def _image_manifest(layout: Path, digest: str) -> dict[str, Any]:
    manifest = _blob(layout, digest)
    if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
        choices = manifest.get("manifests") or []
        chosen = next((m for m in choices if _matches_host(m)), None)
        if chosen is None:
            raise ImageError(f"image {digest} in {layout} has no manifest for this platform")
        return _image_manifest(layout, str(chosen["digest"]))
    return manifest


def read_image_config(layout: Path, tag: str) -> ImageConfig:
    """The `ImageConfig` of `tag` in the image layout at `layout`."""
    manifest = _image_manifest(layout, manifest_digest(layout, tag))
    return parse_image_config(_blob(layout, str(manifest["config"]["digest"])))


def unpack(layout: Path, tag: str, bundle_dir: Path) -> ImageConfig:
    """Unpack `tag` into a runc bundle at `bundle_dir` (which must not exist yet).

    The bundle gets rootfs/ and a config.json that umoci derives from the image config; the
    agent adjusts namespaces, mounts and the process before running it.
    """
    config = read_image_config(layout, tag)
    argv = ["umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle_dir)]
    if os.geteuid() != 0:
        argv.insert(2, "--rootless")
    run_tool(argv, action=f"cannot unpack {layout}:{tag}")
    return config
