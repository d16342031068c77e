"""The busybox image through a real registry: push, pull, unpack, run with runc, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.integration.registry.conftest import RunContainer, http_get, port_is_free, urlopen

from yun.registry import (
    ImageConfig,
    ImageError,
    RegistryServer,
    pull,
    push,
    read_image_config,
    start_command,
    unpack,
)
from yun.registry import port as image_port

pytestmark = pytest.mark.integration

BUSYBOX_CONFIG = ImageConfig(
    entrypoint=["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"],
    cmd=[],
    env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/www"},
    working_dir="/www",
    user="",
    exposed_ports=[8080],
)


def test_busybox_image_has_the_promised_config(busybox_layout: Path) -> None:
    config = read_image_config(busybox_layout, "v1")
    assert config == BUSYBOX_CONFIG
    assert image_port(config) == 8080


def test_push_pull_unpack_round_trip(
    registry: RegistryServer, busybox_layout: Path, tmp_path: Path
) -> None:
    pushed = push(busybox_layout, "v1", f"{registry.address}/demo/busybox:1")
    assert pushed.startswith(f"{registry.address}/demo/busybox@sha256:")
    with urlopen(f"{registry.url}/v2/_catalog", timeout=5) as response:
        assert json.load(response)["repositories"] == ["demo/busybox"]

    pulled = pull(f"{registry.address}/demo/busybox:1", tmp_path / "pulled")
    assert pulled.tag == "1"
    assert pulled.digest == pushed.partition("@")[2]
    by_digest = pull(pushed, tmp_path / "pulled")
    assert by_digest.digest == pulled.digest

    bundle = tmp_path / "bundle"
    config = unpack(pulled.layout, pulled.tag, bundle)
    assert config == BUSYBOX_CONFIG
    rootfs = bundle / "rootfs"
    assert (rootfs / "bin" / "busybox").is_file()
    assert (rootfs / "bin" / "sh").is_symlink()
    assert "Hello from busybox" in (rootfs / "www" / "index.html").read_text()
    runtime = json.loads((bundle / "config.json").read_text())
    assert runtime["process"]["args"] == start_command(config)
    assert runtime["process"]["cwd"] == "/www"


def test_unpacked_bundle_runs_with_runc_and_serves_the_page(
    registry: RegistryServer,
    busybox_layout: Path,
    tmp_path: Path,
    run_container: RunContainer,
    free_loopback_port: int,
) -> None:
    push(busybox_layout, "v1", f"{registry.address}/busybox:run")
    pulled = pull(f"{registry.address}/busybox:run", tmp_path / "layout")
    bundle = tmp_path / "bundle"
    config = unpack(pulled.layout, pulled.tag, bundle)
    port = free_loopback_port
    # busybox httpd takes the last -p, so appending one picks the port, as a Cmd would.
    args = [*start_command(config), "-p", f"127.0.0.1:{port}"]
    with run_container(bundle, args=args):
        page = http_get(f"http://127.0.0.1:{port}/")
        assert b"Hello from busybox on Yun" in page
    assert port_is_free(port)


def test_pulling_a_missing_tag_is_one_clear_line(
    registry: RegistryServer, busybox_layout: Path, tmp_path: Path
) -> None:
    push(busybox_layout, "v1", f"{registry.address}/app:1")
    ref = f"{registry.address}/app:2"
    with pytest.raises(ImageError) as caught:
        pull(ref, tmp_path / "layout")
    assert str(caught.value) == f"cannot pull {ref}: manifest unknown"


def test_pulling_from_a_stopped_registry_says_so(registry: RegistryServer, tmp_path: Path) -> None:
    registry.stop()
    ref = f"{registry.address}/app:1"
    with pytest.raises(ImageError, match=r"^cannot pull .*: connection refused"):
        pull(ref, tmp_path / "layout")


def test_unpacking_an_unknown_tag_fails_cleanly(busybox_layout: Path, tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no tag nope"):
        unpack(busybox_layout, "nope", tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()
