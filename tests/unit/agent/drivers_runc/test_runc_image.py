"""An image instance's config: the image's own process and user, the droplet's walls."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yun.agent.drivers.runc_image import (
    ImageContainer,
    ImageRunError,
    image_config,
    image_mounts,
    resolve_program,
    resolve_user,
    shifted_root,
)
from yun.agent.specs import ImageSpec


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nweb:x:101:102::/srv:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\nweb:x:102:\nstaff:x:50:\n")
    (root / "usr" / "bin").mkdir(parents=True)
    server = root / "usr" / "bin" / "server"
    server.write_text("#!/bin/sh\n")
    server.chmod(0o755)
    (root / "bin").symlink_to("usr/bin")
    (root / "usr" / "bin" / "escape").symlink_to("/../../../../bin/sh")
    return root


@pytest.mark.parametrize(
    ("user", "ids"),
    [
        ("", (0, 0)),
        ("web", (101, 102)),
        ("101", (101, 102)),
        ("web:staff", (101, 50)),
        ("7:8", (7, 8)),
    ],
)
def test_users_resolve_through_the_images_own_files(
    rootfs: Path, user: str, ids: tuple[int, int]
) -> None:
    assert resolve_user(rootfs, user) == ids


def test_an_unknown_user_is_one_clear_error(rootfs: Path) -> None:
    with pytest.raises(ImageRunError, match="'nobody' is not in the image"):
        resolve_user(rootfs, "nobody")


def test_programs_are_found_on_the_images_path_not_the_hosts(rootfs: Path) -> None:
    assert resolve_program(rootfs, "server", "/bin:/usr/bin", "/") == "/bin/server"
    assert resolve_program(rootfs, "./run", "", "/app") == "/app/run"
    with pytest.raises(ImageRunError, match="no program 'python3'"):
        resolve_program(rootfs, "python3", "/usr/bin", "/")  # the host has one; the image not


def test_symlinks_cannot_lead_a_lookup_out_of_the_image(rootfs: Path) -> None:
    (rootfs / "usr" / "bin" / "sh").symlink_to("/../../etc/../../bin/sh")
    with pytest.raises(ImageRunError):
        resolve_program(rootfs, "sh", "/usr/bin", "/")


def test_the_config_runs_the_images_process_without_privileges(tmp_path: Path) -> None:
    image = ImageSpec(
        rootfs=tmp_path / "rootfs",
        argv=["server", "--port", "80"],
        env={"PATH": "/opt/bin:/usr/bin", "MODE": "image"},
        working_dir="/srv",
        user="web",
        port=80,
    )
    config = image_config(
        ImageContainer(
            hostname="guid-1",
            image=image,
            env={"PORT": "80", "MODE": "platform"},
            uid=101,
            gid=102,
            program="/usr/bin/server",
            memory_mb=128,
            cgroups_path="/yun/c1",
            paths=image_mounts(tmp_path),
            status_file="/lifecycle/status/exit-status",
            netns=Path("/run/netns/c1"),
        )
    )
    process = config["process"]
    assert process["args"][-3:] == ["/usr/bin/server", "--port", "80"]
    assert process["user"] == {"uid": 101, "gid": 102, "additionalGids": []}
    assert process["cwd"] == "/srv"
    assert process["noNewPrivileges"] is True
    assert all(caps == [] for caps in process["capabilities"].values())
    env = dict(item.split("=", 1) for item in process["env"])
    assert env["PATH"] == "/opt/bin:/usr/bin"  # the image's
    assert env["MODE"] == "platform"  # the platform's variables win
    assert config["linux"]["resources"]["memory"]["limit"] == 128 * 1024 * 1024
    assert {"type": "network", "path": "/run/netns/c1"} in config["linux"]["namespaces"]
    assert {"type": "pid"} in config["linux"]["namespaces"]
    by_target = {m["destination"]: m for m in config["mounts"]}
    assert "ro" in by_target["/lifecycle/busybox"]["options"]
    assert by_target["/lifecycle/status"]["source"] == str(tmp_path / "status")
    assert "/home/vcap/app" not in by_target  # nothing of the droplet layout


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to other users needs root")
def test_the_shifted_copy_moves_every_owner_once_and_keeps_the_image(rootfs: Path) -> None:
    server = rootfs / "usr" / "bin" / "server"
    os.chown(server, 101, 102)
    server.chmod(0o4755)  # set-uid: chown clears it, the copy must keep it
    os.link(server, rootfs / "usr" / "bin" / "server-again")  # one inode, two names
    far = rootfs / "far"
    far.write_text("")
    os.chown(far, 70000, 70000)  # beyond the namespace's ids
    base = 1_000_000_000
    shifted = shifted_root(rootfs, base)
    assert shifted == rootfs.with_name(f"rootfs-ids-{base}")
    copied = shifted / "usr" / "bin" / "server"
    assert (copied.stat().st_uid, copied.stat().st_gid) == (base + 101, base + 102)
    assert copied.stat().st_mode & 0o7777 == 0o4755
    assert (shifted / "usr/bin/server-again").stat().st_uid == base + 101  # not twice
    assert (shifted / "etc/passwd").stat().st_uid == base  # root's
    assert (shifted / "bin").is_symlink() and (shifted / "bin").lstat().st_uid == base
    assert (shifted / "far").stat().st_uid == base + 65534  # nobody's
    assert server.stat().st_uid == 101 and rootfs.stat().st_uid == 0  # the image is untouched
    (shifted / "marker").write_text("")
    assert shifted_root(rootfs, base) == shifted and (shifted / "marker").exists()  # made once
