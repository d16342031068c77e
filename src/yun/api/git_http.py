"""git push deploys: each app has a repository at `/git/ORG/SPACE/APP.git` on the API's port,
served over git's smart HTTP protocol by `git http-backend` (git's own CGI program), as Heroku,
Dokku and piku users expect (`git remote add yun URL; git push yun main`).

Callers authenticate with HTTP basic auth: their user name and either their password or an
access token; failures count towards the same login throttle as `yun login`. Fetching and
cloning need the right to see the space's apps; pushing needs SpaceDeveloper. A push to an app
that does not exist yet creates it in that space, as Dokku does.

Repositories are bare, one per app, at `$YUN_HOME/git/APP_GUID.git` (by guid: a renamed app
keeps its history), made on first use with a pre-receive hook (`yun.githook`) that has the
pushed commit staged and deployed before git accepts it (`git_deploy`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from yun.api.applying import apply_spec
from yun.api.auth import Ctx, client_address
from yun.api.context import ApiContext
from yun.api.errors import ApiError
from yun.manifest import AppSpec, ManifestError, parse_application
from yun.store import events
from yun.store.models import App, Org, Space, Token, User
from yun.store.passwords import hash_token, verify_password
from yun.store.roles import DEVELOP, SEE, grants_of

router = APIRouter()

SERVICES = ("git-upload-pack", "git-receive-pack")
PUSH = "git-receive-pack"
GRANT_LIFETIME = 3600.0  # seconds a push's hook may call back
REALM = 'Basic realm="Yun", charset="UTF-8"'
EXIT_WAIT = 30.0  # seconds http-backend may take to exit once its answer is out
MAX_BODY = 1 << 30  # a push's pack, at most
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushGrant:
    """What a push's pre-receive hook may do when it calls back: deploy `app_guid` as `user`."""

    app_guid: str
    user_guid: str
    expires_at: float


class PushGrants:
    """One-time tokens, one per push, that its hook presents to the API."""

    def __init__(self) -> None:
        self._grants: dict[str, PushGrant] = {}

    def issue(self, *, app_guid: str, user_guid: str) -> str:
        now = time.time()
        self._grants = {k: g for k, g in self._grants.items() if g.expires_at > now}
        token = secrets.token_urlsafe(32)
        self._grants[token] = PushGrant(app_guid, user_guid, now + GRANT_LIFETIME)
        return token

    def take(self, token: str) -> PushGrant | None:
        grant = self._grants.pop(token, None)
        return grant if grant is not None and grant.expires_at > time.time() else None


def repos_dir(ctx: ApiContext) -> Path:
    return ctx.settings.home / "git"


def hook_script() -> str:
    return f'#!/bin/sh\nexec "{sys.executable}" -m yun.githook\n'


def ensure_repo(path: Path) -> None:
    """A bare repository with Yun's pre-receive hook (written again if Python moved)."""
    if not (path / "HEAD").is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "--bare", "--quiet", "--initial-branch=main", str(path)], check=True
        )
        subprocess.run(["git", "-C", str(path), "config", "http.receivepack", "true"], check=True)
    hook = path / "hooks" / "pre-receive"
    script = hook_script()
    if not hook.is_file() or hook.read_text() != script:
        hook.write_text(script)
        hook.chmod(0o755)


def _challenge(message: str) -> Response:
    return Response(
        message + "\n",
        status_code=401,
        headers={"WWW-Authenticate": REALM},
        media_type="text/plain",
    )


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        name, _, secret = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return name, secret


def authenticate(ctx: ApiContext, name: str, secret: str) -> User | None:
    """The user whose name and password, or access token, these are."""
    with ctx.store.session() as session:
        user = session.scalar(select(User).where(User.name == name))
        if user is None:
            return None
        token = session.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
        good = (
            token is not None
            and token.user_guid == user.guid
            and token.kind == "access"
            and token.expires_at > time.time()
        ) or verify_password(secret, user.password_hash)
        if not good:
            return None
        session.expunge(user)
        return user


@dataclass(frozen=True)
class Target:
    app_guid: str
    created: bool


def find_target(
    ctx: ApiContext, *, user: User, org: str, space: str, app: str, push: bool
) -> Target:
    """The app the URL names, made when a push names one not there yet; ApiError (404, 403,
    422) when the caller may not see or change it, or the name is not an app's."""
    missing = ApiError(404, f"repository {org}/{space}/{app}.git not found")
    with ctx.store.session() as session:
        found_org = session.scalar(select(Org).where(Org.name == org))
        found_space = (
            session.scalar(
                select(Space).where(Space.org_guid == found_org.guid, Space.name == space)
            )
            if found_org
            else None
        )
        if found_org is None or found_space is None:
            raise missing
        grants = grants_of(session, user)
        if not grants.may(SEE, found_org.guid, found_space.guid):
            raise missing
        if push and not grants.may(DEVELOP, found_org.guid, found_space.guid):
            raise ApiError(
                403, f"{user.name} may not push to {org}/{space}: it needs SpaceDeveloper"
            )
        row = session.scalar(select(App).where(App.space_guid == found_space.guid, App.name == app))
        if row is not None:
            return Target(row.guid, created=False)
        if not push:
            raise missing
        try:
            spec: AppSpec = parse_application({"name": app}, source="git push", index=0)
        except ManifestError as exc:
            raise ApiError(422, str(exc)) from exc
        made, _ = apply_spec(session, space_guid=found_space.guid, spec=spec)
        events.record(
            session, type="audit.app.create", app=made, actor=user.name, data={"via": "git push"}
        )
        session.flush()
        return Target(made.guid, created=True)


def hook_url(ctx: ApiContext) -> str:
    settings = ctx.settings
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(
        settings.api_host, settings.api_host
    )
    scheme = "https" if settings.tls_cert else "http"
    return f"{scheme}://{host}:{settings.api_port}/git-hook"


@router.api_route(
    "/git/{org}/{space}/{repo}/{rest:path}", methods=["GET", "POST"], include_in_schema=False
)
async def git_http(
    org: str, space: str, repo: str, rest: str, request: Request, ctx: Ctx
) -> Response:
    service = request.query_params.get("service", "") if rest == "info/refs" else rest
    if not repo.endswith(".git") or service not in SERVICES:
        return Response("not a git smart HTTP request\n", status_code=404, media_type="text/plain")
    credentials = _basic(request)
    if credentials is None:
        return _challenge("git push and fetch need your Yun user name and password or token")
    name, secret = credentials
    address = client_address(request)
    wait = ctx.throttle.wait(name, address)
    if wait:
        return Response(
            f"too many failed logins for {name}; try again in {wait}s\n",
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    user = await run_in_threadpool(authenticate, ctx, name, secret)
    if user is None:
        ctx.throttle.failed(name, address)
        return _challenge("wrong user name, password or token")
    ctx.throttle.succeeded(name, address)
    try:
        target = await run_in_threadpool(
            find_target, ctx, user=user, org=org, space=space, app=repo[:-4], push=service == PUSH
        )
    except ApiError as exc:
        return Response(exc.message + "\n", status_code=exc.status, media_type="text/plain")
    path = repos_dir(ctx) / f"{target.app_guid}.git"
    await run_in_threadpool(ensure_repo, path)
    env = _cgi_env(ctx, request, user=user, address=address, path_info=f"/{path.name}/{rest}")
    if service == PUSH:
        grants: PushGrants = request.app.state.git_grants
        env["YUN_GIT_HOOK_URL"] = hook_url(ctx)
        env["YUN_GIT_HOOK_TOKEN"] = grants.issue(app_guid=target.app_guid, user_guid=user.guid)
        if ctx.settings.tls_cert is not None:
            env["YUN_GIT_CA"] = str(ctx.settings.tls_cert)
    return await _run_backend(request, env)


def _cgi_env(
    ctx: ApiContext, request: Request, *, user: User, address: str, path_info: str
) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repos_dir(ctx)),
        "GIT_PROJECT_ROOT": str(repos_dir(ctx)),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": path_info,
        "REQUEST_METHOD": request.method,
        "QUERY_STRING": request.url.query,
        "CONTENT_TYPE": request.headers.get("content-type", ""),
        "REMOTE_USER": user.name,
        "REMOTE_ADDR": address,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    # No CONTENT_LENGTH: http-backend then reads the body to its end, which the handler
    # always closes; given a length, it spins for ever on a body cut short by the client.
    for header, variable in (
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ):
        if value := request.headers.get(header):
            env[variable] = value
    return env


async def _run_backend(request: Request, env: dict[str, str]) -> Response:
    """Run `git http-backend` on the request: the body, read first into a file (git sends
    a pack, then waits for the answer), is its stdin; its answer is streamed back as it
    comes, so a push's `remote:` lines arrive while its hook stages and deploys."""
    body = tempfile.TemporaryFile()  # noqa: SIM115 (closed once the backend has started)
    try:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > MAX_BODY:
                return Response(
                    f"a push larger than {MAX_BODY >> 20} MiB\n",
                    status_code=413,
                    media_type="text/plain",
                )
            body.write(chunk)
        body.seek(0)
        process = await run_in_threadpool(_start_backend, env, body)
    finally:
        body.close()
    status, headers = await run_in_threadpool(_read_headers, process)
    media = headers.pop("Content-Type", None)
    return StreamingResponse(
        _answer(process), status_code=status, headers=headers, media_type=media
    )


def _start_backend(env: dict[str, str], body: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["git", "http-backend"],
        env=env,
        bufsize=0,  # unbuffered: each read returns what has come, so progress streams
        stdin=body,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _read_headers(process: subprocess.Popen[bytes]) -> tuple[int, dict[str, str]]:
    """The CGI headers http-backend writes before its answer."""
    assert process.stdout is not None
    status, headers = 200, {}
    while line := process.stdout.readline().decode("latin-1").rstrip("\r\n"):
        key, _, value = line.partition(":")
        if key.lower() == "status":
            status = int(value.strip().split()[0])
        else:
            headers[key.strip()] = value.strip()
    return status, headers


def _answer(process: subprocess.Popen[bytes]) -> Iterator[bytes]:
    """The answer's body as it comes; then http-backend is reaped (killed if the client
    went away, or if it outstays its answer), and what it complained of is logged."""
    assert process.stdout is not None and process.stderr is not None
    finished = False
    try:
        while chunk := process.stdout.read(65536):
            yield chunk
        finished = True
    finally:
        if not finished:
            process.kill()
        try:
            process.wait(timeout=EXIT_WAIT)
        except subprocess.TimeoutExpired:
            log.warning("git http-backend (pid %d) did not exit after its answer", process.pid)
            process.kill()
            process.wait()
        for line in process.stderr.read().decode(errors="replace").splitlines():
            log.warning("git http-backend: %s", line)
        process.stdout.close()
        process.stderr.close()
