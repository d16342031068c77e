"""The seccomp filter of every container (OCI `linux.seccomp`, applied by runc).

An allow-list, as container engines ship by default: what ordinary programs call is allowed,
everything else fails with EPERM. Left out are the calls that reach past the container or
into the kernel's privileged corners even for an unprivileged user: new namespaces (`unshare`,
`setns`, `clone` with a CLONE_NEW* flag), mounts (`mount`, the new mount API, `pivot_root`),
the kernel keyring (`keyctl`, `add_key`, `request_key`), `bpf`, `perf_event_open`, `ptrace` and
other processes' memory, `userfaultfd`, io_uring, module loading, clocks, reboot, swap, quotas
and `personality` beyond the harmless settings.

`clone3` answers ENOSYS rather than EPERM: its flags sit in memory a filter cannot read, and
the C libraries then fall back to `clone`, whose flags it can. Names this machine's libseccomp
does not know are skipped by runc, so the list may name calls of newer kernels.

Under gVisor (`runsc --oci-seccomp`) the same list is applied by gVisor's own kernel, which
answers every refusal with EPERM whatever `errnoRet` says: there `clone3` is allowed, or no
thread could start (glibc falls back to `clone` on ENOSYS only). What clone3 could make there
is a namespace of gVisor's kernel, not of the host's.
"""

from __future__ import annotations

import errno
import platform
from typing import Any

# Every CLONE_NEW* flag `clone` takes: NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
CLONE_NAMESPACES |= 0x20000000 | 0x40000000

# personality(2) settings a program may ask for: Linux, its 32-bit flavour, no address
# randomisation for itself (debuggers, some JITs), and the query (0xffffffff).
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)

_FILES = """
    access chdir chmod chown close close_range copy_file_range creat dup dup2 dup3
    faccessat faccessat2 fadvise64 fallocate fchdir fchmod fchmodat fchmodat2 fchown fchownat
    fcntl fdatasync fgetxattr flistxattr flock fremovexattr fsetxattr fstat fstatfs fsync
    ftruncate futimesat getcwd getdents getdents64 getxattr inotify_add_watch inotify_init
    inotify_init1 inotify_rm_watch lchown lgetxattr link linkat listxattr llistxattr
    lremovexattr lseek lsetxattr lstat mkdir mkdirat mknod mknodat newfstatat open openat
    openat2 pipe pipe2 pread64 preadv preadv2 pwrite64 pwritev pwritev2 read readahead readlink
    readlinkat readv removexattr rename renameat renameat2 rmdir sendfile setxattr splice stat
    statfs statx symlink symlinkat sync sync_file_range syncfs tee truncate umask unlink
    unlinkat utime utimensat utimes vmsplice write writev fanotify_mark memfd_create cachestat
"""
_MEMORY = """
    brk madvise membarrier mincore mlock mlock2 mlockall mmap mprotect mremap msync munlock
    munlockall munmap pkey_alloc pkey_free pkey_mprotect remap_file_pages map_shadow_stack
"""
_PROCESSES = """
    arch_prctl capget capset chroot execve execveat exit exit_group fork get_robust_list
    get_thread_area getcpu getegid geteuid getgid getgroups getpgid getpgrp getpid getppid
    getpriority getrandom getresgid getresuid getrlimit getrusage getsid gettid getuid
    ioprio_get ioprio_set kill pause pidfd_open pidfd_send_signal prctl prlimit64 restart_syscall
    rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
    rt_sigtimedwait rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min
    sched_getaffinity sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval
    sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp
    set_robust_list set_thread_area set_tid_address setfsgid setfsuid setgid setgroups
    setpgid setpriority setregid setresgid setresuid setreuid setrlimit setsid setuid
    sigaltstack sysinfo tgkill tkill times uname vfork wait4 waitid futex futex_waitv
    landlock_add_rule landlock_create_ruleset landlock_restrict_self
"""
_TIME_AND_EVENTS = """
    alarm clock_getres clock_gettime clock_nanosleep epoll_create epoll_create1 epoll_ctl
    epoll_pwait epoll_pwait2 epoll_wait eventfd eventfd2 getitimer gettimeofday nanosleep poll
    ppoll pselect6 select setitimer signalfd signalfd4 time timer_create timer_delete
    timer_getoverrun timer_gettime timer_settime timerfd_create timerfd_gettime timerfd_settime
    io_cancel io_destroy io_getevents io_pgetevents io_setup io_submit
"""
_NETWORK_AND_IPC = """
    accept accept4 bind connect getpeername getsockname getsockopt listen recvfrom recvmmsg
    recvmsg sendmmsg sendmsg sendto setsockopt shutdown socket socketpair ioctl
    mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedsend mq_unlink msgctl msgget msgrcv
    msgsnd semctl semget semop semtimedop shmat shmctl shmdt shmget
"""
# What 32-bit programs call instead (x86 and arm on a 64-bit kernel).
_COMPAT = """
    _llseek _newselect chown32 fadvise64_64 fchown32 fcntl64 fstat64 fstatat64 fstatfs64
    ftruncate64 getegid32 geteuid32 getgid32 getgroups32 getresgid32 getresuid32 getuid32 ipc
    lchown32 lstat64 mmap2 recv send sendfile64 setfsgid32 setfsuid32 setgid32 setgroups32
    setregid32 setresgid32 setresuid32 setreuid32 setuid32 sigaction sigpending sigprocmask
    sigreturn sigsuspend socketcall stat64 statfs64 truncate64 ugetrlimit waitpid
    clock_gettime64 clock_getres_time64 clock_nanosleep_time64 futex_time64 ppoll_time64
    pselect6_time64 recvmmsg_time64 rt_sigtimedwait_time64 semtimedop_time64 timer_gettime64
    timer_settime64 timerfd_gettime64 timerfd_settime64 utimensat_time64 io_pgetevents_time64
    mq_timedreceive_time64 mq_timedsend_time64 sched_rr_get_interval_time64 arm_fadvise64_64
    arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls
"""
ALLOWED = tuple(
    sorted(
        {
            name
            for group in (_FILES, _MEMORY, _PROCESSES, _TIME_AND_EVENTS, _NETWORK_AND_IPC, _COMPAT)
            for name in group.split()
        }
    )
)

_ARCHITECTURES = {
    "x86_64": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "aarch64": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
}


def profile(machine: str | None = None, *, gvisor: bool = False) -> dict[str, Any]:
    """The `linux.seccomp` object of a container's config.json (one run by runsc: `gvisor`)."""
    no_namespaces = {"index": 0, "value": CLONE_NAMESPACES, "valueTwo": 0}
    rules: list[dict[str, Any]] = [
        {"names": list(ALLOWED), "action": "SCMP_ACT_ALLOW"},
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{**no_namespaces, "op": "SCMP_CMP_MASKED_EQ"}],
        },
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
    ]
    if gvisor:
        rules[-1] = {"names": ["clone3"], "action": "SCMP_ACT_ALLOW"}
    rules += [
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}],
        }
        for value in PERSONALITIES
    ]
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EPERM,
        "architectures": _ARCHITECTURES.get(machine or platform.machine(), []),
        "syscalls": rules,
    }
