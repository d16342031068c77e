"""Running an OCI image with runc: the image's own root, made writable per instance.

A droplet instance borrows the host's stack; an image brings its own userland. The image is
unpacked once per revision (by the build controller) into a read-only root shared by all of
its instances; each instance mounts an overlay on top of it, so writes land in the instance's
own `upper/` (what its disk quota measures) and vanish with it. The process is the image's:
its Entrypoint + Cmd, Env, WorkingDir and User, with the platform's variables (PORT,
CF_INSTANCE_*, VCAP_APPLICATION, …) added on top, as Cloud Foundry does for docker apps.

An image may have no shell, so the exit status comes from a small wrapper run by the host's
statically linked busybox, mounted read-only under `/lifecycle`: it forwards TERM/INT/HUP to
the app and writes the app's exit status where the driver reads it, like the droplet launcher.
The app's executable is resolved against the image's PATH here, on the host side, so busybox
never substitutes one of its own applets for a program of the image.

The isolation is the droplet container's (namespaces, no capabilities, no new privileges,
cgroup limits, masked /proc paths). Under runc the instance has a user namespace too
(`oci.ID_BASE`): the image's users, root included, are unprivileged host ids. runc 1.1 has no
idmapped mounts, so the overlay's lower layer is then a copy of the image with its owners
moved into that range (`shifted_root`), made once per image beside it and shared by all of its
instances. Without one (gVisor, whose sandbox is the wall; or user namespaces off) the image's
user runs as that uid on the host, root included (a root without capabilities).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from yun.agent.drivers.oci import (
    CREDENTIALS_DIR,
    ID_RANGE,
    OCI_VERSION,
    kernel_mounts,
    limits,
    linux,
    process,
)
from yun.agent.specs import ImageSpec

BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static: no libraries needed in the image
LIFECYCLE = "/lifecycle"
WRAPPER_NAME = "image-launcher.sh"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Runs as the app's user under busybox sh: start the app, pass signals on, record its status.
WRAPPER = """\
status_file="$1"; shift
child=
forward() { [ -n "$child" ] && kill -"$1" "$child" 2>/dev/null; }
trap 'forward TERM' TERM
trap 'forward INT' INT
trap 'forward HUP' HUP
"$@" &
child=$!
while :; do
  wait "$child"
  code=$?
  kill -0 "$child" 2>/dev/null || break
done
echo "$code" > "$status_file"
exit "$code"
"""


class ImageRunError(RuntimeError):
    """The image cannot be run as asked (no such user, no such program)."""


@dataclass(frozen=True)
class ImageMounts:
    """Host paths of one image instance's bundle."""

    rootfs: Path  # the overlay mount point (the bundle's rootfs)
    upper: Path
    work: Path
    status_dir: Path
    etc_dir: Path  # generated hosts, hostname and resolv.conf, bind-mounted over the image's


def image_mounts(run_dir: Path) -> ImageMounts:
    return ImageMounts(
        rootfs=run_dir / "rootfs",
        upper=run_dir / "upper",
        work=run_dir / "overlay-work",
        status_dir=run_dir / "status",
        etc_dir=run_dir / "etc",
    )


def mount_overlay(lower: Path, paths: ImageMounts) -> None:
    """The instance's root: the shared image below, the instance's own writes above."""
    for folder in (paths.rootfs, paths.upper, paths.work):
        folder.mkdir(mode=0o755, exist_ok=True)
    options = f"lowerdir={lower},upperdir={paths.upper},workdir={paths.work}"
    _run(["mount", "-t", "overlay", "overlay", "-o", options, str(paths.rootfs)])


NOBODY = 65534  # where an owner beyond the user namespace's range lands


def shifted_root(rootfs: Path, id_base: int) -> Path:
    """The image's root as a user namespace at `id_base` sees it: a copy whose owners are
    moved up by `id_base` (beside `rootfs`, so it goes with the image's bundle). Made once,
    under a lock, and renamed into place whole; later calls find it."""
    target = rootfs.with_name(f"{rootfs.name}-ids-{id_base}")
    if target.is_dir():
        return target
    with open(rootfs.with_name(f".{target.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():  # made while this one waited
            return target
        partial = target.with_name(f"{target.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)  # of a start that crashed
        _run(["cp", "-a", "--", str(rootfs), str(partial)])
        _shift_owners(rootfs, partial, id_base)
        partial.rename(target)
    return target


def _shift_owners(source: Path, copy: Path, id_base: int) -> None:
    """Give each file of `copy` its twin's owner in `source` plus `id_base`. Read from the
    source, so hard links (one inode, several names) are moved once, not once per name."""

    def shift(relative: str) -> None:
        seen = os.lstat(os.path.join(source, relative))
        uid, gid = (i if i < ID_RANGE else NOBODY for i in (seen.st_uid, seen.st_gid))
        target = os.path.join(copy, relative)
        os.lchown(target, id_base + uid, id_base + gid)
        if not stat.S_ISLNK(seen.st_mode) and seen.st_mode & (stat.S_ISUID | stat.S_ISGID):
            os.chmod(target, stat.S_IMODE(seen.st_mode))  # chown cleared set-id bits

    shift("")
    for directory, subdirs, files in os.walk(source):
        relative = os.path.relpath(directory, source)
        for name in (*subdirs, *files):
            shift(os.path.normpath(os.path.join(relative, name)))


def unmount_overlay(paths: ImageMounts) -> None:
    if os.path.ismount(paths.rootfs):
        _run(["umount", "--lazy", str(paths.rootfs)])


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ImageRunError(f"{argv[0]} failed: {done.stderr.strip() or done.returncode}")


def _table(path: Path) -> list[list[str]]:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line.split(":") for line in lines if line and not line.startswith("#")]


def resolve_user(rootfs: Path, user: str) -> tuple[int, int]:
    """uid and gid for the image's User ("", "name", "uid", "name:group", "uid:gid")."""
    name, _, group = user.partition(":")
    uid, gid = 0, 0
    if name:
        if name.isdigit():
            uid = int(name)
            gid = next((int(r[3]) for r in _table(rootfs / "etc/passwd") if r[2:3] == [name]), 0)
        else:
            row = next((r for r in _table(rootfs / "etc/passwd") if r[0] == name), None)
            if row is None or len(row) < 4:
                raise ImageRunError(f"image user {name!r} is not in the image's /etc/passwd")
            uid, gid = int(row[2]), int(row[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            row = next((r for r in _table(rootfs / "etc/group") if r[0] == group), None)
            if row is None or len(row) < 3:
                raise ImageRunError(f"image group {group!r} is not in the image's /etc/group")
            gid = int(row[2])
    return uid, gid


def resolve_program(rootfs: Path, program: str, path: str, working_dir: str) -> str:
    """`program` as an absolute path inside the image, found the way execvp would."""
    if "/" in program:
        absolute = PurePosixPath(working_dir, program)
        return str(absolute)
    for folder in (path or DEFAULT_PATH).split(":"):
        if not folder.startswith("/"):
            continue
        candidate = _inside(rootfs, PurePosixPath(folder, program))
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(PurePosixPath(folder, program))
    raise ImageRunError(f"the image has no program {program!r} on its PATH ({path})")


def _inside(rootfs: Path, target: PurePosixPath, hops: int = 0) -> Path | None:
    """`target` inside `rootfs`, following the image's symlinks without leaving it."""
    current = rootfs
    for part in target.parts[1:]:
        current = current / part
        while current.is_symlink():
            if hops > 40:
                return None
            hops += 1
            link = os.readlink(current)
            resolved = PurePosixPath(link) if link.startswith("/") else None
            if resolved is None:
                current = current.parent / link
                continue
            found = _inside(rootfs, resolved, hops)
            if found is None:
                return None
            current = found
    try:
        current.resolve().relative_to(rootfs.resolve())
    except ValueError:
        return None
    return current


def write_etc(paths: ImageMounts, *, hostname: str, address: str, dns: Sequence[str]) -> None:
    paths.etc_dir.mkdir(mode=0o755, exist_ok=True)
    own = "127.0.1.1" if address.startswith("127.") else address
    files = {
        "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n{own}\t{hostname}\n",
        "hostname": f"{hostname}\n",
        "resolv.conf": "".join(f"nameserver {server}\n" for server in dns)
        or Path("/etc/resolv.conf").read_text(errors="replace"),
    }
    for name, text in files.items():
        (paths.etc_dir / name).write_text(text)
        (paths.etc_dir / name).chmod(0o644)
    (paths.etc_dir / WRAPPER_NAME).write_text(WRAPPER)
    (paths.etc_dir / WRAPPER_NAME).chmod(0o644)


@dataclass(frozen=True)
class ImageContainer:
    """What `image_config` needs besides the image itself."""

    hostname: str
    image: ImageSpec
    env: Mapping[str, str]  # the platform's variables; they win over the image's
    uid: int
    gid: int
    program: str  # argv[0], resolved inside the image
    memory_mb: int
    cgroups_path: str
    paths: ImageMounts
    status_file: str  # inside the container
    netns: Path | None = None
    swap_limit: bool = True
    credentials: Path | None = None  # the instance's identity folder, at CREDENTIALS_DIR
    gvisor: bool = False  # run by gVisor's runsc
    id_base: int | None = None  # host id of the container's root (a user namespace); None: none


def _bind(destination: str, source: Path, *options: str) -> dict[str, Any]:
    return {
        "destination": destination,
        "type": "bind",
        "source": str(source),
        "options": ["bind", "nosuid", "nodev", *options],
    }


def image_config(spec: ImageContainer) -> dict[str, Any]:
    """The `config.json` of an image instance whose rootfs is the overlay in the bundle."""
    args = [
        f"{LIFECYCLE}/busybox",
        "sh",
        f"{LIFECYCLE}/{WRAPPER_NAME}",
        spec.status_file,
        spec.program,
        *spec.image.argv[1:],
    ]
    etc = spec.paths.etc_dir
    return {
        "ociVersion": OCI_VERSION,
        "root": {"path": "rootfs", "readonly": False},
        "hostname": spec.hostname,
        "process": process(
            uid=spec.uid,
            gid=spec.gid,
            args=args,
            env={"PATH": DEFAULT_PATH, **spec.image.env, **spec.env},
            cwd=spec.image.working_dir or "/",
        ),
        "mounts": [
            *kernel_mounts(spec.memory_mb, own_users=spec.id_base is not None),
            _bind("/etc/hosts", etc / "hosts", "ro"),
            _bind("/etc/hostname", etc / "hostname", "ro"),
            _bind("/etc/resolv.conf", etc / "resolv.conf", "ro"),
            _bind(f"{LIFECYCLE}/busybox", BUSYBOX, "ro"),
            _bind(f"{LIFECYCLE}/{WRAPPER_NAME}", etc / WRAPPER_NAME, "ro", "noexec"),
            _bind(f"{LIFECYCLE}/status", spec.paths.status_dir, "noexec"),
            *(
                [_bind(CREDENTIALS_DIR, spec.credentials, "ro", "noexec")]
                if spec.credentials is not None
                else []
            ),
        ],
        "linux": linux(
            cgroups_path=spec.cgroups_path,
            resources=limits(spec.memory_mb, swap_limit=spec.swap_limit),
            netns=spec.netns,
            gvisor=spec.gvisor,
            id_base=spec.id_base,
        ),
    }
