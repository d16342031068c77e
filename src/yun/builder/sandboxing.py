"""Staging inside a sandbox, so that a buildpack cannot touch the host.

Buildpacks and Stackato hooks are other people's code. Where the platform can run containers,
every child of a staging (detect, supply, finalize, compile, release, hooks, `git clone`) runs in
a throwaway container that sees the host stack read-only and only the staging's own folders
writable, at the same paths as on the host (so the contract's arguments need no translation).

The builder only knows the two small interfaces below; the agent's `RuncStaging` implements them
with runc, and without a sandbox children run on the host as before. A session spans one staging
(one network namespace, one root filesystem); each child is one container of that session.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from .model import StagingError
from .processes import STEP_TIMEOUT, Completed, Output, Runner, run_streaming

HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
"""The environment of the host-side command that starts a sandboxed child."""


class SandboxSession(Protocol):
    def command(
        self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str]
    ) -> AbstractContextManager[Sequence[str]]:
        """The host command that runs `argv` in the sandbox; leaving the context removes what
        that run left behind (a container killed on a timeout, say). Raises RuntimeError with
        the sandbox's own message when the child could not be started."""
        ...


class Sandbox(Protocol):
    def session(
        self,
        name: str,
        *,
        writable: Sequence[Path],
        readable: Sequence[Path],
        stack_root: Path | None = None,
    ) -> AbstractContextManager[SandboxSession]:
        """A sandbox for one staging: `writable` and `readable` folders (or files) of the host
        appear at the same paths inside, everything else only as the stack: the one built at
        `stack_root`, or the host's own userland."""
        ...


@contextlib.contextmanager
def runner(
    sandbox: Sandbox | None,
    *,
    name: str,
    writable: Sequence[Path],
    readable: Sequence[Path],
    stack_root: Path | None = None,
) -> Iterator[Runner]:
    """The `Runner` of one staging: inside a session of `sandbox`, or on the host without one."""
    if sandbox is None:
        yield run_streaming
        return
    with contextlib.ExitStack() as stack:
        try:
            session = stack.enter_context(
                sandbox.session(name, writable=writable, readable=readable, stack_root=stack_root)
            )
        except RuntimeError as exc:
            raise StagingError(f"cannot start the staging container: {exc}") from exc
        yield _in_session(session)


def _in_session(session: SandboxSession) -> Runner:
    def run(
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        output: Output,
        capture_stdout: bool = False,
        timeout: float = STEP_TIMEOUT,
    ) -> Completed:
        try:
            with session.command(argv, cwd=cwd, env=env) as host_argv:
                return run_streaming(
                    host_argv,
                    cwd=Path("/"),
                    env=HOST_ENV,
                    output=output,
                    capture_stdout=capture_stdout,
                    timeout=timeout,
                )
        except RuntimeError as exc:
            raise StagingError(f"staging container for {Path(argv[0]).name}: {exc}") from exc

    return run
