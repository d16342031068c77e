"""A droplet exported as an OCI image: layers, config, push, and running it with runc."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.helpers import write_droplet
from tests.integration.registry.conftest import RunContainer, http_get

from yun.builder import launcher_path
from yun.registry import (
    ImageError,
    RegistryServer,
    export_droplet,
    pull,
    read_image_config,
    unpack,
)

pytestmark = pytest.mark.integration

COMMAND = 'echo "$GREETING" > greeting.txt && exec python3 -m http.server "$PORT" --bind 127.0.0.1'


def make_droplet(path: Path, *, start_command: str = "python3 app.py") -> Path:
    files = {
        "app/index.html": "<h1>droplet app</h1>\n",
        "app/app.py": "print('hello')\n",
        "deps/0/profile.d/greeting.sh": 'export GREETING="hello from deps"\n',
        "staging_info.json": json.dumps({"start_command": start_command}),
    }
    return write_droplet(path, files, ("app", "deps", "deps/0", "deps/0/profile.d"))


@pytest.fixture
def droplet(tmp_path: Path) -> Path:
    return make_droplet(tmp_path / "droplet.tgz")


def test_exported_droplet_carries_the_command_and_cf_environment(
    registry: RegistryServer, droplet: Path, tmp_path: Path
) -> None:
    ref = export_droplet(
        droplet,
        stack_rootfs=None,
        registry_url=registry.url,
        repository="apps/demo",
        tag="r1",
        command="python3 app.py --port $PORT",
    )
    assert ref.startswith(f"{registry.address}/apps/demo@sha256:")
    pulled = pull(f"{registry.address}/apps/demo:r1", tmp_path / "layout")
    assert pulled.digest == ref.partition("@")[2]
    config = read_image_config(pulled.layout, pulled.tag)
    assert config.cmd == ["/bin/bash", "-c", "python3 app.py --port $PORT"]
    assert config.entrypoint == []
    assert config.env["HOME"] == "/home/vcap/app"
    assert config.env["DEPS_DIR"] == "/home/vcap/deps"
    assert config.env["PORT"] == "8080"
    assert config.working_dir == "/home/vcap/app"
    assert config.exposed_ports == [8080]

    bundle = tmp_path / "bundle"
    unpack(pulled.layout, pulled.tag, bundle)
    home = bundle / "rootfs" / "home" / "vcap"
    assert (home / "app" / "index.html").read_text() == "<h1>droplet app</h1>\n"
    assert (home / "deps" / "0" / "profile.d" / "greeting.sh").is_file()
    assert not (home / "app" / "staging_info.json").exists()


def test_empty_command_falls_back_to_the_staged_one_and_a_stack_is_a_layer(
    registry: RegistryServer, droplet: Path, tmp_path: Path
) -> None:
    stack = tmp_path / "stack"
    (stack / "etc").mkdir(parents=True)
    (stack / "etc" / "stack-release").write_text("yun-test-stack\n")
    export_droplet(
        droplet,
        stack_rootfs=stack,
        registry_url=registry.address,
        repository="apps/staged",
        tag="r1",
        command="",
    )
    pulled = pull(f"{registry.address}/apps/staged:r1", tmp_path / "layout")
    assert read_image_config(pulled.layout, pulled.tag).cmd == ["/bin/bash", "-c", "python3 app.py"]
    unpack(pulled.layout, pulled.tag, tmp_path / "bundle")
    rootfs = tmp_path / "bundle" / "rootfs"
    assert (rootfs / "etc" / "stack-release").read_text() == "yun-test-stack\n"
    assert (rootfs / "home" / "vcap" / "app" / "app.py").is_file()


def test_exported_image_runs_with_the_launcher_on_the_host_stack(
    registry: RegistryServer,
    droplet: Path,
    tmp_path: Path,
    run_container: RunContainer,
    free_loopback_port: int,
) -> None:
    export_droplet(
        droplet,
        stack_rootfs=None,
        registry_url=registry.url,
        repository="apps/web",
        tag="r1",
        command=COMMAND,
        launcher=launcher_path(),
    )
    pulled = pull(f"{registry.address}/apps/web:r1", tmp_path / "layout")
    bundle = tmp_path / "bundle"
    config = unpack(pulled.layout, pulled.tag, bundle)
    assert config.cmd == ["/bin/bash", "/home/vcap/launcher.sh", COMMAND]
    # The host's userland is the stack: bind /usr read-only, as the runc driver does.
    rootfs = bundle / "rootfs"
    for name in ("bin", "sbin", "lib", "lib64"):
        if Path(f"/{name}").is_symlink() and not (rootfs / name).exists():
            (rootfs / name).symlink_to(f"usr/{name}")
    (rootfs / "usr").mkdir(exist_ok=True)
    port = free_loopback_port
    with run_container(bundle, args=config.cmd, env={"PORT": str(port)}, binds=["/usr"]):
        assert http_get(f"http://127.0.0.1:{port}/greeting.txt") == b"hello from deps\n"
        assert http_get(f"http://127.0.0.1:{port}/index.html") == b"<h1>droplet app</h1>\n"


def test_export_to_a_stopped_registry_is_one_clear_line(
    registry: RegistryServer, droplet: Path
) -> None:
    registry.stop()
    with pytest.raises(ImageError) as caught:
        export_droplet(
            droplet,
            stack_rootfs=None,
            registry_url=registry.url,
            repository="apps/demo",
            tag="r1",
            command="true",
        )
    message = str(caught.value)
    assert message.startswith(f"cannot export droplet droplet.tgz to {registry.address}/apps/")
    assert message.endswith("connection refused (is the registry running?)")
    assert "\n" not in message


def test_a_broken_droplet_is_reported(registry: RegistryServer, tmp_path: Path) -> None:
    broken = tmp_path / "broken.tgz"
    broken.write_bytes(b"not a tarball")
    with pytest.raises(ImageError, match="unreadable droplet"):
        export_droplet(
            broken,
            stack_rootfs=None,
            registry_url=registry.url,
            repository="a",
            tag="1",
            command="true",
        )
