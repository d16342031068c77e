"""The Distribution config Yun renders, and what a RegistryServer refuses to do."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.helpers import free_port

from yun.registry import RegistryError, RegistryServer, render_config


def test_config_serves_filesystem_storage_on_the_given_address_with_deletes(
    tmp_path: Path,
) -> None:
    config = yaml.safe_load(render_config(root=tmp_path, host="127.0.0.1", port=5005, secret="s3"))
    assert config["version"] == 0.1
    assert config["storage"]["filesystem"] == {"rootdirectory": str(tmp_path / "data")}
    assert config["storage"]["delete"] == {"enabled": True}
    assert config["http"]["addr"] == "127.0.0.1:5005"
    assert config["http"]["secret"] == "s3"
    assert "auth" not in config  # loopback: no auth


def test_config_with_htpasswd_turns_basic_auth_on(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    config = yaml.safe_load(
        render_config(root=tmp_path, host="0.0.0.0", port=5000, secret="s", htpasswd=htpasswd)
    )
    assert config["auth"] == {"htpasswd": {"realm": "yun-registry", "path": str(htpasswd)}}
    assert config["http"]["addr"] == "0.0.0.0:5000"


def test_paths_with_yaml_specials_survive(tmp_path: Path) -> None:
    root = tmp_path / "a: b #c"
    config = yaml.safe_load(render_config(root=root, host="127.0.0.1", port=1, secret="x"))
    assert config["storage"]["filesystem"]["rootdirectory"] == str(root / "data")


def test_a_registry_off_loopback_needs_auth(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs htpasswd auth"):
        RegistryServer(root=tmp_path, port=5000, host="0.0.0.0")
    server = RegistryServer(root=tmp_path, port=5000, host="0.0.0.0", htpasswd=tmp_path / "h")
    assert server.url == "http://127.0.0.1:5000"


def test_address_and_url(tmp_path: Path) -> None:
    server = RegistryServer(root=tmp_path / "r", port=5005)
    assert server.address == "127.0.0.1:5005"
    assert server.url == "http://127.0.0.1:5005"
    assert RegistryServer(root=tmp_path, port=5, host="::1").address == "[::1]:5"


def test_a_fresh_root_has_nothing_running(tmp_path: Path) -> None:
    server = RegistryServer(root=tmp_path, port=5005)
    assert server.pid() is None
    assert not server.running()
    server.stop()  # nothing to stop is fine


def test_a_pidfile_naming_another_process_is_not_adopted(tmp_path: Path) -> None:
    (tmp_path / "registry.pid").write_text("1\n")  # init, alive but not our registry
    assert not RegistryServer(root=tmp_path, port=5005).running()


def test_missing_htpasswd_file_is_reported_before_starting(tmp_path: Path) -> None:
    server = RegistryServer(root=tmp_path / "r", port=5005, htpasswd=tmp_path / "missing")
    with pytest.raises(RegistryError, match="no htpasswd file"):
        server.start()


def test_missing_binary_is_reported(tmp_path: Path) -> None:
    server = RegistryServer(root=tmp_path, port=free_port(), binary="no-such-registry-binary")
    with pytest.raises(RegistryError, match="is not installed"):
        server.start()


def test_an_unusable_storage_folder_is_a_registry_error(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the storage folder should be")
    with pytest.raises(RegistryError, match=r"cannot start registry: .*File exists"):
        RegistryServer(root=tmp_path, port=free_port()).start()


def test_a_registry_that_exits_at_once_says_why(tmp_path: Path) -> None:
    fake = tmp_path / "fake-registry"
    fake.write_text(
        "#!/bin/sh\necho 'level=info msg=\"starting\"'\n"
        "echo 'level=fatal msg=\"open /srv/certs/key.pem: permission denied\"' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    server = RegistryServer(root=tmp_path / "root", port=free_port(), binary=str(fake))
    with pytest.raises(RegistryError) as caught:
        server.start()
    assert str(caught.value) == (
        "registry failed to start: open /srv/certs/key.pem: permission denied"
    )
    assert not server.running()
    assert not (tmp_path / "root" / "registry.pid").exists()
