"""A private registry (htpasswd basic auth, bcrypt entries): right and wrong credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import free_port

from yun.registry import ImageError, RegistryServer, pull, push, write_htpasswd

pytestmark = pytest.mark.integration

USER, PASSWORD = "alice", "correct horse battery staple"


@pytest.fixture
def private_registry(tmp_path: Path) -> Iterator[RegistryServer]:
    htpasswd = tmp_path / "htpasswd"
    write_htpasswd(htpasswd, {USER: PASSWORD}, cost=4)
    server = RegistryServer(root=tmp_path / "private", port=free_port(), htpasswd=htpasswd)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_image(private_registry: RegistryServer, busybox_layout: Path) -> str:
    ref = f"{private_registry.address}/secret/app:1"
    push(busybox_layout, "v1", ref, username=USER, password=PASSWORD)
    return ref


def test_pull_with_the_right_credentials_works(private_image: str, tmp_path: Path) -> None:
    pulled = pull(private_image, tmp_path / "layout", username=USER, password=PASSWORD)
    assert pulled.digest.startswith("sha256:")
    assert (tmp_path / "layout" / "index.json").is_file()


def test_pull_with_wrong_credentials_is_a_clear_error(private_image: str, tmp_path: Path) -> None:
    with pytest.raises(ImageError) as caught:
        pull(private_image, tmp_path / "layout", username=USER, password="Tr0ub4dor&3")
    assert str(caught.value) == (
        f"cannot pull {private_image}: authentication required: wrong or missing credentials"
    )
    assert "Tr0ub4dor" not in str(caught.value)


def test_pull_without_credentials_is_refused(private_image: str, tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="authentication required"):
        pull(private_image, tmp_path / "layout")


def test_push_without_credentials_is_refused(
    private_registry: RegistryServer, busybox_layout: Path
) -> None:
    with pytest.raises(ImageError, match=r"^cannot push .*: authentication required"):
        push(busybox_layout, "v1", f"{private_registry.address}/anon/app:1")
