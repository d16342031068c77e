"""ImageConfig from OCI image configs, and Docker's rules for the start command and port."""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import pytest

from yun.registry import (
    ImageConfig,
    ImageError,
    manifest_digest,
    parse_image_config,
    port,
    read_image_config,
    start_command,
)

NGINX_LIKE = {
    "architecture": "amd64",
    "os": "linux",
    "config": {
        "ExposedPorts": {"80/tcp": {}},
        "Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "NGINX_VERSION=1.25.3",
        ],
        "Entrypoint": ["/docker-entrypoint.sh"],
        "Cmd": ["nginx", "-g", "daemon off;"],
        "WorkingDir": "",
        "StopSignal": "SIGQUIT",
    },
    "rootfs": {"type": "layers", "diff_ids": []},
}


def test_nginx_like_config_is_read_whole() -> None:
    config = parse_image_config(NGINX_LIKE)
    assert config == ImageConfig(
        entrypoint=["/docker-entrypoint.sh"],
        cmd=["nginx", "-g", "daemon off;"],
        env={
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "NGINX_VERSION": "1.25.3",
        },
        working_dir="",
        user="",
        exposed_ports=[80],
    )
    assert start_command(config) == ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]
    assert port(config) == 80


@pytest.mark.parametrize(
    ("entrypoint", "cmd", "expected"),
    [
        (None, ["python3", "app.py"], ["python3", "app.py"]),
        (["/bin/busybox", "httpd"], None, ["/bin/busybox", "httpd"]),
        (["/entry"], ["--port", "9000"], ["/entry", "--port", "9000"]),
        ([], [], []),
        (None, None, []),
    ],
)
def test_start_command_is_entrypoint_then_cmd(
    entrypoint: list[str] | None, cmd: list[str] | None, expected: list[str]
) -> None:
    config = parse_image_config({"config": {"Entrypoint": entrypoint, "Cmd": cmd}})
    assert start_command(config) == expected


def test_a_config_without_runtime_part_gives_defaults() -> None:
    for blob in ({}, {"config": None}, {"config": {}}):
        config = parse_image_config(blob)
        assert config == ImageConfig()
        assert start_command(config) == []
        assert port(config) == 8080


def test_env_list_becomes_a_dict_later_entries_winning_values_keeping_equals() -> None:
    config = parse_image_config(
        {"config": {"Env": ["A=1", "B=x=y", "EMPTY=", "A=2", "=nameless", "NOVALUE"]}}
    )
    assert config.env == {"A": "2", "B": "x=y", "EMPTY": "", "NOVALUE": ""}


def test_exposed_ports_keep_tcp_only_sorted_and_the_lowest_is_the_port() -> None:
    exposed = {"9090/tcp": {}, "53/udp": {}, "8443": {}, "3000/TCP": {}, "bogus/tcp": {}}
    config = parse_image_config({"config": {"ExposedPorts": exposed}})
    assert config.exposed_ports == [3000, 8443, 9090]
    assert port(config) == 3000


def test_udp_only_image_falls_back_to_8080() -> None:
    config = parse_image_config({"config": {"ExposedPorts": {"53/udp": {}}}})
    assert config.exposed_ports == []
    assert port(config) == 8080


@pytest.mark.parametrize("user", ["1000", "vcap", "1000:1000", "nobody:nogroup"])
def test_user_is_kept_as_written(user: str) -> None:
    assert parse_image_config({"config": {"User": user}}).user == user


def test_working_dir_is_read() -> None:
    assert parse_image_config({"config": {"WorkingDir": "/srv"}}).working_dir == "/srv"


# -- reading a layout -----------------------------------------------------------------------


def _put_blob(layout: Path, content: dict[str, Any]) -> dict[str, Any]:
    data = json.dumps(content).encode()
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _layout(tmp_path: Path, *, multi_arch: bool) -> Path:
    layout = tmp_path / "layout"
    layout.mkdir()
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    config = _put_blob(layout, NGINX_LIKE)
    other = _put_blob(layout, {"config": {"Cmd": ["wrong-arch"]}})
    manifest = _put_blob(
        layout,
        {"schemaVersion": 2, "config": {**config, "mediaType": "x"}, "layers": []},
    )
    descriptor = {**manifest, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
    if multi_arch:
        wrong = _put_blob(layout, {"schemaVersion": 2, "config": other, "layers": []})
        index = _put_blob(
            layout,
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": [
                    {**wrong, "platform": {"os": "linux", "architecture": "s390x"}},
                    {**descriptor, "platform": {"os": "linux", "architecture": "amd64"}},
                    {**wrong, "platform": {"os": "linux", "architecture": "arm64"}},
                ],
            },
        )
        descriptor = {**index, "mediaType": "application/vnd.oci.image.index.v1+json"}
    descriptor["annotations"] = {"org.opencontainers.image.ref.name": "v1"}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}))
    return layout


def test_read_image_config_follows_index_manifest_and_config(tmp_path: Path) -> None:
    layout = _layout(tmp_path, multi_arch=False)
    assert read_image_config(layout, "v1") == parse_image_config(NGINX_LIKE)
    assert manifest_digest(layout, "v1").startswith("sha256:")


@pytest.mark.skipif(platform.machine() not in ("x86_64", "amd64"), reason="fixture is amd64")
def test_read_image_config_picks_this_platform_from_an_index(tmp_path: Path) -> None:
    layout = _layout(tmp_path, multi_arch=True)
    assert start_command(read_image_config(layout, "v1"))[0] == "/docker-entrypoint.sh"


def test_unknown_tag_and_missing_layout_are_image_errors(tmp_path: Path) -> None:
    layout = _layout(tmp_path, multi_arch=False)
    with pytest.raises(ImageError, match="no tag v2 in the image layout"):
        read_image_config(layout, "v2")
    with pytest.raises(ImageError, match="is not an OCI image layout"):
        read_image_config(tmp_path / "nowhere", "v1")
