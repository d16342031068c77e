"""Building OCI images with umoci: droplets exported as images, and a tiny busybox image.

`export_droplet` makes a droplet runnable by any OCI runtime, which is how a revision can leave
this machine (a Kubernetes backend pulls it from the registry). Its layers are the stack rootfs
(optional: without one, the runtime must provide the stack, as Yun's runc driver does by
bind-mounting the host's), deps/ at /home/vcap/deps and app/ at /home/vcap/app, deps first since
they change less often. The stack's layer is made once per stack build (`stack_base`, an OCI
layout beside the build's rootfs) and shared by every export: the same blob, so a registry and
a node hold it once for all the apps on that stack. The config sets HOME, DEPS_DIR, PORT=8080,
the working dir and a Cmd that runs the start command through bash, as Cloud Foundry's
launcher does.

`build_busybox_image` builds a self-contained web server image from busybox-static, for tests
of pulling, unpacking and running images without network access.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from yun import archives
from yun.droplet_image import APP_DIR, DEPS_DIR, LAUNCHER
from yun.registry.errors import ImageError
from yun.registry.tools import run_tool
from yun.registry.transfer import push

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX = Path("/bin/busybox")
BUSYBOX_PAGE = "<!doctype html>\n<title>Yun</title>\n<h1>Hello from busybox on Yun</h1>\n"
STAGING_INFO = "staging_info.json"
STACK_TAG = "stack"


def _umoci(*args: str, action: str) -> None:
    run_tool(["umoci", *args], action=action)


def _new_image(layout: Path, tag: str, *, action: str) -> str:
    """Create an empty image `tag` in `layout` (making the layout if needed); its `L:T` name."""
    if not (layout / "index.json").exists():
        layout.parent.mkdir(parents=True, exist_ok=True)
        _umoci("init", "--layout", str(layout), action=action)
    image = f"{layout}:{tag}"
    _umoci("new", "--image", image, action=action)
    return image


def _configure(
    image: str,
    *,
    action: str,
    entrypoint: list[str] | None = None,
    cmd: list[str] | None = None,
    env: dict[str, str],
    working_dir: str,
    port: int,
) -> None:
    args = ["config", "--image", image, "--author", "yun", "--history.created_by", "yun"]
    args += ["--config.workingdir", working_dir, "--config.exposedports", f"{port}/tcp"]
    for name, value in env.items():
        args += ["--config.env", f"{name}={value}"]
    for word in entrypoint or []:
        args += ["--config.entrypoint", word]
    for word in cmd or []:
        args += ["--config.cmd", word]
    _umoci(*args, action=action)


def build_busybox_image(layout: Path, tag: str, *, page: str = BUSYBOX_PAGE) -> None:
    """An image `tag` in `layout`: busybox httpd serving /www/index.html (`page`) on 8080.

    Assembled the umoci way: init → new → unpack → add files → repack → config.
    """
    action = f"cannot build busybox image {layout}:{tag}"
    if not BUSYBOX.is_file():
        raise ImageError(f"{action}: {BUSYBOX} is missing (apt-get install busybox-static)")
    image = _new_image(layout, tag, action=action)
    with tempfile.TemporaryDirectory(prefix="yun-busybox-") as work:
        bundle = Path(work) / "bundle"
        _umoci("unpack", "--image", image, str(bundle), action=action)
        rootfs = bundle / "rootfs"
        _populate_busybox(rootfs, page)
        _umoci("repack", "--image", image, str(bundle), action=action)
    _configure(
        image,
        action=action,
        entrypoint=["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"],
        env={"PATH": DEFAULT_PATH, "HOME": "/www"},
        working_dir="/www",
        port=8080,
    )


def _populate_busybox(rootfs: Path, page: str) -> None:
    (rootfs / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    (rootfs / "bin" / "busybox").chmod(0o755)
    applets = subprocess.run(
        [str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:  # e.g. "bin/sh", "usr/sbin/httpd"
        link = rootfs / applet
        if link.name == "busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    for folder in ("tmp", "etc", "www", "proc", "sys", "dev"):
        (rootfs / folder).mkdir(exist_ok=True)
    (rootfs / "tmp").chmod(0o1777)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\n")
    (rootfs / "www" / "index.html").write_text(page)


def export_droplet(
    droplet_tgz: Path,
    *,
    stack_rootfs: Path | None,
    registry_url: str,
    repository: str,
    tag: str,
    command: str,
    launcher: Path | None = None,
) -> str:
    """Build an OCI image from a droplet, push it; returns "HOST:PORT/REPO@sha256:…".

    `command` is the start command (the droplet's own web command when empty). With `launcher`
    (the builder's launcher.sh) the image sources profile.d scripts before running it, as
    instances started from the droplet do; without it, bash runs the command directly.
    """
    registry = registry_url.removeprefix("http://").removeprefix("https://").rstrip("/")
    target = f"{registry}/{repository}:{tag}"
    action = f"cannot export droplet {droplet_tgz.name} to {target}"
    with tempfile.TemporaryDirectory(prefix="yun-export-") as work:
        droplet = Path(work) / "droplet"
        try:
            archives.extract_file(droplet_tgz, droplet)
        except (OSError, tarfile.TarError) as exc:
            raise ImageError(f"{action}: unreadable droplet: {exc}") from exc
        command = command or _staged_command(droplet)
        if not command:
            raise ImageError(f"{action}: no start command")
        for folder in ("app", "deps"):
            (droplet / folder).mkdir(exist_ok=True)
        layout = Path(work) / "layout"
        if stack_rootfs is not None:
            _copy_layout(stack_base(stack_rootfs), layout)
            _umoci("tag", "--image", f"{layout}:{STACK_TAG}", tag, action=action)
            image = f"{layout}:{tag}"
        else:
            image = _new_image(layout, tag, action=action)
        _umoci("insert", "--image", image, str(droplet / "deps"), DEPS_DIR, action=action)
        if launcher is not None:
            _umoci("insert", "--image", image, str(launcher), LAUNCHER, action=action)
        _umoci("insert", "--image", image, str(droplet / "app"), APP_DIR, action=action)
        cmd = ["/bin/bash", LAUNCHER, command] if launcher else ["/bin/bash", "-c", command]
        env = {"PATH": DEFAULT_PATH, "HOME": APP_DIR, "DEPS_DIR": DEPS_DIR, "PORT": "8080"}
        _configure(image, action=action, cmd=cmd, env=env, working_dir=APP_DIR, port=8080)
        try:
            return push(layout, tag, target, tls_verify=not registry_url.startswith("http://"))
        except ImageError as exc:
            raise ImageError(f"{action}: {exc.reason}", reason=exc.reason) from exc


def stack_base(stack_rootfs: Path) -> Path:
    """An OCI layout whose image `stack` is the stack's root filesystem as one layer, made once
    per stack build beside its rootfs (`<build>/oci`), under a lock; the layout."""
    build = stack_rootfs.resolve().parent
    layout, done = build / "oci", build / "oci.done"
    if done.exists():
        return layout
    action = f"cannot make an image layer of the stack {stack_rootfs}"
    with (build / "oci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return layout
        shutil.rmtree(layout, ignore_errors=True)
        image = _new_image(layout, STACK_TAG, action=action)
        _umoci("insert", "--image", image, str(stack_rootfs), "/", action=action)
        done.touch()
    return layout


def _copy_layout(source: Path, target: Path) -> None:
    """A copy of an OCI layout whose blobs are hard links (they are never written again); its
    index is a file of its own, since adding to the copy rewrites it."""

    def place(src: str, dst: str) -> object:
        if f"{os.sep}blobs{os.sep}" in src:
            try:
                os.link(src, dst)
                return dst
            except OSError:
                pass  # another filesystem: copied instead
        return shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=place)


def _staged_command(droplet: Path) -> str:
    try:
        info = json.loads((droplet / STAGING_INFO).read_text())
    except (OSError, ValueError):
        return ""
    return str(info.get("start_command") or "")
