"""The OCI runtime configuration (`config.json`) of one app instance, as a pure function.

The runc driver writes what `container_config` returns into the instance's bundle; keeping it
free of I/O lets the unit tests pin down every isolation promise (what is read-only, which
namespaces, which user, which limits) without root. The root filesystem is the host "stack": an
empty, read-only directory in the bundle onto which the host's `/usr` (and `/lib`, `/bin`, …,
or symlinks to `/usr` on a merged-/usr host) and a few files of `/etc` are bind-mounted
read-only, so staging and running use the same interpreters (ARCHITECTURE.md, "The stack").
The droplet's `app/` and `deps/` appear where Cloud Foundry puts them, `/home/vcap/app` and
`/home/vcap/deps`, and the app runs as the unprivileged `vcap` user with no capabilities.

With `id_base` the container has a user namespace of its own: its ids 0-65535 are host ids
`id_base` and up (`ID_RANGE`), so its root, and `vcap` at `id_base + 2000`, are nobody on the
host. The driver gives the container's files to those host ids (runc 1.1 has no idmapped
mounts). The container's /sys is then the host's, bound read-only with what is mounted under
it masked (the cgroup tree, securityfs, debugfs) and its network interfaces too: a user
namespace may not mount sysfs for a network namespace it does not own, and the driver makes
that namespace before the container.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yun.agent.drivers import seccomp
from yun.agent.env import FILE_DESCRIPTOR_LIMIT

OCI_VERSION = "1.0.2"
VCAP_UID = 2000
VCAP_GID = 2000
APP_DIR = "/home/vcap/app"
DEPS_DIR = "/home/vcap/deps"
LAUNCHER = "/lifecycle/launcher.sh"
STATUS_DIR = "/lifecycle/status"  # the only writable place besides the app, deps and /tmp
# The instance's identity (`agent.identity`), read-only; /lifecycle is the container's own,
# where a stack's /etc is not.
CREDENTIALS_DIR = "/lifecycle/credentials"
TRUST_STORE = "/etc/ssl/certs/ca-certificates.crt"  # Debian's bundle: OpenSSL's, Python's
PIDS_LIMIT = 1024
MIB = 1024 * 1024
ID_BASE = 1_000_000_000  # host ids of containers' users: far above people's and subuid ranges
ID_RANGE = 65536  # ids each container maps: 0 (root) to 65535 (nobody's 65534 among them)

# Host directories that make up the stack, mounted read-only (or mirrored as symlinks).
STACK_DIRS = ("usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin")
# Host files of /etc that programs on the stack expect. passwd, group and hosts are not here:
# the driver writes its own into the rootfs so the host's users and names do not leak in.
ETC_ENTRIES = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "gai.conf",
    "host.conf",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nginx",
    "nsswitch.conf",
    "protocols",
    "python3",
    "resolv.conf",
    "services",
    "ssl",
    "timezone",
)

# CPU weight: 1024 shares (the kernel's default weight of a cgroup) per GiB of memory, i.e.
# `shares = memory_mb`, like Cloud Foundry where CPU follows the memory an app pays for.
# The kernel (cgroup v1) accepts 2..262144; runc maps shares onto v2's cpu.weight itself.
CPU_SHARES_MIN = 2
CPU_SHARES_MAX = 262144

# What runc's own `runc spec` masks: kernel interfaces an app has no business reading.
MASKED_PATHS = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
)
# Under a user namespace /sys is the host's, mounts under it included: what is mounted there
# (the cgroup tree, securityfs, debugfs, tracing, bpf) and the network interfaces (other
# containers' veths among them) are hidden too.
MASKED_HOST_SYSFS = ("/sys/fs", "/sys/kernel", "/sys/class/net", "/sys/devices/virtual/net")
READONLY_PATHS = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

_RO_BIND = ("bind", "ro", "nosuid", "nodev")
_RW_BIND = ("bind", "nosuid", "nodev")


def cpu_shares(memory_mb: int) -> int:
    """CPU shares of an instance with `memory_mb` of memory (see CPU_SHARES_MIN above)."""
    return max(CPU_SHARES_MIN, min(CPU_SHARES_MAX, memory_mb))


@dataclass(frozen=True)
class Stack:
    """How a userland appears in containers: the host's own, or a stack's root filesystem.

    `links` mirrors top-level symlinks (a merged-/usr root has `bin -> usr/bin`), `binds` are
    paths of `root` mounted read-only at the same place inside. For the host only a few files
    of `/etc` are shown; a stack's whole `/etc` is, with the files the driver writes itself
    (`GENERATED_ETC`) mounted over it.
    """

    links: Mapping[str, str] = field(default_factory=dict)
    binds: Sequence[str] = ()
    root: Path = Path("/")

    @property
    def own_etc(self) -> bool:
        return "/etc" in self.binds


# What the driver writes into each container's /etc (`runc_bundle.make_rootfs`).
GENERATED_ETC = ("passwd", "group", "hosts", "hostname", "resolv.conf")


def generated_etc(rootfs: Path, stack: Stack) -> Path:
    """Where the generated /etc files are written: the container root's own /etc, or, when a
    stack's whole /etc covers that, a folder beside the root. (runc looks a bind's source up
    after the earlier mounts, so a file under the covered folder would be the stack's own.)"""
    return rootfs.parent / "etc" if stack.own_etc else rootfs / "etc"


def host_stack(root: Path = Path("/")) -> Stack:
    """The host's userland (found at `root`): only what exists is mounted, and of /etc only
    the files programs need (`ETC_ENTRIES`), so the host's secrets stay out."""
    links, binds = _userland(root)
    for name in ETC_ENTRIES:
        if (root / "etc" / name).exists():
            binds.append(f"/etc/{name}")
    return Stack(links=links, binds=tuple(binds))


def built_stack(root: Path) -> Stack:
    """A stack's root filesystem at `root` (built by `yun.stacks`): its /usr and its whole /etc
    (it holds nothing of the host's), with the driver's generated files over it."""
    links, binds = _userland(root)
    return Stack(links=links, binds=(*binds, "/etc"), root=root)


def _userland(root: Path) -> tuple[dict[str, str], list[str]]:
    links: dict[str, str] = {}
    binds: list[str] = []
    for name in STACK_DIRS:
        path = root / name
        if path.is_symlink():
            links[name] = str(path.readlink())
        elif path.is_dir():
            binds.append(f"/{name}")
    return links, binds


def stack_mounts(stack: Stack, *, rootfs: Path) -> list[dict[str, Any]]:
    """Read-only binds of the stack; `rootfs` is the container's own root (in the bundle),
    whose generated /etc files go over a stack's /etc."""
    result = [bind(stack.root / path.lstrip("/"), writable=False, at=path) for path in stack.binds]
    if stack.own_etc:
        for name in GENERATED_ETC:
            own = generated_etc(rootfs, stack) / name
            if own.exists() or name == "resolv.conf":
                source = own if own.exists() else Path("/etc/resolv.conf")
                result.append(bind(source, writable=False, at=f"/etc/{name}"))
    return result


@dataclass(frozen=True)
class ContainerSpec:
    """Everything `container_config` needs; host paths are absolute."""

    hostname: str
    args: Sequence[str]
    env: Mapping[str, str]
    app_dir: Path  # the extracted droplet's app/ (writable, owned by vcap)
    deps_dir: Path
    status_dir: Path  # exit status and hook markers, read by the driver from the host
    launcher: Path
    memory_mb: int
    cgroups_path: str  # e.g. "/yun/<container id>"
    stack: Stack
    netns: Path | None = None  # None: share the host's network namespace
    rootfs: Path = Path("rootfs")  # the bundle's root dir (absolute), holding generated /etc
    pids_limit: int = PIDS_LIMIT
    swap_limit: bool = True  # False where the kernel does not account swap (v1 without memsw)
    credentials: Path | None = None  # the instance's identity folder, at CREDENTIALS_DIR
    trust_store: Path | None = None  # the stack's CA bundle with the platform CA, at TRUST_STORE
    id_base: int | None = None  # host id of the container's root (a user namespace); None: none
    gvisor: bool = False  # run by gVisor's runsc (its seccomp list differs by one rule)


def _mount(destination: str, kind: str, source: str, options: Sequence[str]) -> dict[str, Any]:
    return {"destination": destination, "type": kind, "source": source, "options": list(options)}


def bind(path: Path | str, *, writable: bool, at: str | None = None) -> dict[str, Any]:
    """A bind mount of the host's `path` (at the same place unless `at` says otherwise)."""
    return _mount(at or str(path), "bind", str(path), _RW_BIND if writable else _RO_BIND)


def kernel_mounts(memory_mb: int, *, own_users: bool = False) -> list[dict[str, Any]]:
    """/proc, /dev, /sys and a private /tmp: what every container gets, droplet or image.
    With `own_users` (a user namespace), /sys is the host's, read-only."""
    tmp_size = f"size={max(memory_mb, 16)}m"  # tmpfs pages count against the memory limit
    sys_options = ("nosuid", "noexec", "nodev", "ro")
    sysfs = (  # with what is mounted under it (a user namespace may not leave that out)
        _mount("/sys", "bind", "/sys", ("rbind", *sys_options))
        if own_users
        else _mount("/sys", "sysfs", "sysfs", sys_options)
    )
    return [
        _mount("/proc", "proc", "proc", ()),
        _mount("/dev", "tmpfs", "tmpfs", ("nosuid", "strictatime", "mode=755", "size=65536k")),
        _mount(
            "/dev/pts",
            "devpts",
            "devpts",
            ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"),
        ),
        _mount("/dev/shm", "tmpfs", "shm", ("nosuid", "noexec", "nodev", "mode=1777", tmp_size)),
        _mount("/dev/mqueue", "mqueue", "mqueue", ("nosuid", "noexec", "nodev")),
        sysfs,
        _mount("/tmp", "tmpfs", "tmpfs", ("nosuid", "nodev", "mode=1777", tmp_size)),
    ]


def mounts(spec: ContainerSpec) -> list[dict[str, Any]]:
    """Kernel filesystems first, then the stack, then the instance's own directories; later
    mounts may sit inside earlier ones, which runc mounts in order."""
    result = kernel_mounts(spec.memory_mb, own_users=spec.id_base is not None)
    result += stack_mounts(spec.stack, rootfs=spec.rootfs)
    result += [
        _mount(APP_DIR, "bind", str(spec.app_dir), _RW_BIND),
        _mount(DEPS_DIR, "bind", str(spec.deps_dir), _RW_BIND),
        _mount(LAUNCHER, "bind", str(spec.launcher), (*_RO_BIND, "noexec")),
        _mount(STATUS_DIR, "bind", str(spec.status_dir), (*_RW_BIND, "noexec")),
    ]
    if spec.credentials is not None:
        result.append(_mount(CREDENTIALS_DIR, "bind", str(spec.credentials), (*_RO_BIND, "noexec")))
    if spec.trust_store is not None:
        result.append(bind(spec.trust_store, writable=False, at=TRUST_STORE))
    return result


def trust_store_with(stack: Stack, ca_pem: str, into: Path) -> Path | None:
    """`into`: the stack's CA bundle followed by `ca_pem` (so the app's TLS clients trust the
    platform CA, as they trust the stack's); None when the stack has no bundle."""
    try:
        bundle = (stack.root / TRUST_STORE.lstrip("/")).read_text()
    except OSError:
        return None
    into.write_text(bundle.rstrip("\n") + "\n" + ca_pem)
    into.chmod(0o644)
    return into


def namespaces(netns: Path | None, *, own_users: bool = False) -> list[dict[str, str]]:
    kinds = ("pid", "mount", "uts", "ipc", "user") if own_users else ("pid", "mount", "uts", "ipc")
    result = [{"type": kind} for kind in kinds]
    if netns is not None:
        result.append({"type": "network", "path": str(netns)})
    return result


def id_mappings(id_base: int) -> dict[str, list[dict[str, int]]]:
    """The user namespace's uid and gid maps: the container's 0.. are the host's `id_base`.."""
    mapping = [{"containerID": 0, "hostID": id_base, "size": ID_RANGE}]
    return {"uidMappings": mapping, "gidMappings": list(mapping)}


def resources(spec: ContainerSpec) -> dict[str, Any]:
    return limits(spec.memory_mb, pids_limit=spec.pids_limit, swap_limit=spec.swap_limit)


def limits(
    memory_mb: int, *, pids_limit: int = PIDS_LIMIT, swap_limit: bool = True
) -> dict[str, Any]:
    """Memory (no swap where the kernel accounts it), CPU shares following memory, pids."""
    limit = memory_mb * MIB
    memory: dict[str, int] = {"limit": limit}
    if swap_limit:
        memory["swap"] = limit  # OCI's swap is memory + swap: equal means no swap at all
    return {
        "devices": [{"allow": False, "access": "rwm"}],  # runc adds the standard devices
        "memory": memory,
        "cpu": {"shares": cpu_shares(memory_mb)},
        "pids": {"limit": pids_limit},
    }


def process(
    *, uid: int, gid: int, args: Sequence[str], env: Mapping[str, str], cwd: str
) -> dict[str, Any]:
    """The container's process: no capabilities at all, no new privileges, bounded files."""
    no_caps: list[str] = []
    return {
        "terminal": False,
        "user": {"uid": uid, "gid": gid, "additionalGids": []},
        "args": list(args),
        "env": [f"{key}={value}" for key, value in env.items()],
        "cwd": cwd,
        "capabilities": dict.fromkeys(
            ("bounding", "effective", "inheritable", "permitted", "ambient"), no_caps
        ),
        "rlimits": [
            {"type": "RLIMIT_NOFILE", "hard": FILE_DESCRIPTOR_LIMIT, "soft": FILE_DESCRIPTOR_LIMIT},
            {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
        ],
        "noNewPrivileges": True,
    }


def linux(
    *,
    cgroups_path: str,
    resources: dict[str, Any],
    netns: Path | None,
    gvisor: bool = False,
    id_base: int | None = None,
) -> dict[str, Any]:
    """Cgroup, limits, namespaces, masks and the seccomp list (as gVisor applies it, for a
    bundle runsc runs); with `id_base`, a user namespace mapping the container's ids there
    (its /sys the host's, see `kernel_mounts`, with the host's parts masked)."""
    masked = [*MASKED_PATHS, *(MASKED_HOST_SYSFS if id_base is not None else ())]
    config: dict[str, Any] = {
        "cgroupsPath": cgroups_path,
        "resources": resources,
        "namespaces": namespaces(netns, own_users=id_base is not None),
        "maskedPaths": masked,
        "readonlyPaths": list(READONLY_PATHS),
        "seccomp": seccomp.profile(gvisor=gvisor),
    }
    if id_base is not None:
        config.update(id_mappings(id_base))
    return config


def container_config(spec: ContainerSpec) -> dict[str, Any]:
    """The `config.json` of the bundle whose rootfs directory is `rootfs` next to it."""
    config = linux(
        cgroups_path=spec.cgroups_path,
        resources=resources(spec),
        netns=spec.netns,
        gvisor=spec.gvisor,
        id_base=spec.id_base,
    )
    return {
        "ociVersion": OCI_VERSION,
        "root": {"path": "rootfs", "readonly": True},
        "hostname": spec.hostname,
        "process": process(uid=VCAP_UID, gid=VCAP_GID, args=spec.args, env=spec.env, cwd=APP_DIR),
        "mounts": mounts(spec),
        "linux": config,
    }


def passwd_file() -> str:
    """/etc/passwd of a container: root, the app's user and nobody, nothing of the host."""
    return (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"vcap:x:{VCAP_UID}:{VCAP_GID}:vcap:{APP_DIR}:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )


def group_file() -> str:
    return f"root:x:0:\nvcap:x:{VCAP_GID}:\nnogroup:x:65534:\n"


def hosts_file(hostname: str, address: str) -> str:
    own = "127.0.1.1" if address.startswith("127.") else address
    return f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{own}\t{hostname}\n"
