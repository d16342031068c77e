"""What a git push deploys: the pre-receive hook of the app's repository (`yun.githook`) sends
the pushed commit as a tar to `POST /git-hook`, with the push's one-time token, and reads back
progress lines, which git shows the pusher as `remote:` lines.

The commit is deployed as `yun push` would deploy its folder: the repository's `manifest.yml`
(the application named as the repository, or its only one) is applied, the files become a
package that records the commit, the package is staged (its output streamed), and the droplet
rolls out (a rolling deployment when the app runs, so the old version serves until the new
one does). The last line says how it ended (`YUN-RESULT ok …` or `YUN-RESULT failed: why`);
the hook refuses the push unless it is ok, and the running version keeps serving.
"""

from __future__ import annotations

import tarfile
import tempfile
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import IO, Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from yun.api.apps import PushBody, push_app
from yun.api.auth import Ctx
from yun.api.context import ApiContext
from yun.api.errors import ApiError
from yun.api.git_http import PushGrants
from yun.api.packages import (
    MAX_UPLOAD,
    BuildBody,
    PackageBody,
    Resource,
    create_build,
    create_package,
)
from yun.logstore.tail import Tail
from yun.manifest import ManifestError, parse_manifest, to_manifest
from yun.store.models import (
    App,
    Build,
    Deployment,
    Instance,
    Package,
    Process,
    Revision,
    ServiceBinding,
    User,
)
from yun.store.queries import route_urls

router = APIRouter()

RESULT = "YUN-RESULT "
MANIFESTS = ("manifest.yml", "manifest.yaml")
SKIPPED = (".cfignore",)  # never part of an app's files, as with `yun push`
POLL = 0.3
START_TIMEOUT = 300.0  # seconds for the new instances to run after staging
ENDED = ("DEPLOYED", "FAILED", "CANCELED", "PAUSED")


class PushFailed(Exception):
    """The deployment of a push failed; the message says why, in one line."""


@router.post("/git-hook", include_in_schema=False)
async def git_hook(request: Request, ctx: Ctx) -> StreamingResponse:
    grants: PushGrants = request.app.state.git_grants
    header = request.headers.get("authorization", "")
    grant = grants.take(header.removeprefix("Bearer ").strip()) if header else None
    if grant is None:
        raise ApiError(401, "not a push's token, or one already used")
    commit = request.headers.get("x-yun-commit", "")
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (the response's generator closes it)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > MAX_UPLOAD:
            spool.close()
            raise ApiError(413, f"the pushed tree is larger than {MAX_UPLOAD >> 20} MiB")
        spool.write(chunk)
    spool.seek(0)
    return StreamingResponse(
        _lines(ctx, spool, app_guid=grant.app_guid, user_guid=grant.user_guid, commit=commit),
        media_type="text/plain",
    )


def _lines(
    ctx: ApiContext, spool: IO[bytes], *, app_guid: str, user_guid: str, commit: str
) -> Iterator[str]:
    try:
        for line in deploy(ctx, spool, app_guid=app_guid, user_guid=user_guid, commit=commit):
            yield line + "\n"
    except (PushFailed, ApiError, ManifestError) as exc:
        yield f"{RESULT}failed: {exc}\n"
    finally:
        spool.close()


def deploy(
    ctx: ApiContext, spool: IO[bytes], *, app_guid: str, user_guid: str, commit: str
) -> Iterator[str]:
    with ctx.store.session() as session:
        user = session.get(User, user_guid)
        app = session.get(App, app_guid)
        if user is None or app is None:
            raise PushFailed("the app or the pushing user is gone")
        session.expunge(user)
        name, space_guid = app.name, app.space_guid
    yield f"Deploying commit {commit[:12]} to {name}"
    with tempfile.TemporaryDirectory() as folder:
        resources, manifest = _files(ctx, spool, Path(folder))
        application, said = _application(name, manifest)
        yield from said
        view = push_app(PushBody(application=application, space_guid=space_guid), ctx, user)
        yield from _bindings(ctx, list(view.get("pending_bindings") or []))
        package = create_package(app_guid, PackageBody(resources=resources), ctx, user)
    with ctx.store.session() as session:
        row = session.get(Package, package["guid"])
        if row is not None:
            row.commit = commit
    yield f"Uploaded {len(resources)} files; staging"
    build = create_build(BuildBody(package_guid=package["guid"]), ctx, user)
    droplet_guid = yield from _staging(ctx, app_guid, build["guid"], int(build["log_offset"]))
    version = yield from _rollout(ctx, app_guid, droplet_guid)
    with ctx.store.session() as session:
        urls = route_urls(session, app_guid)
    port = ctx.settings.router_port
    shown = ", ".join(f"http://{url}" + (f":{port}" if port != 80 else "") for url in urls)
    yield f"{RESULT}ok: {name} runs revision {version} (commit {commit[:12]}) {shown}".rstrip()


def _files(ctx: ApiContext, spool: IO[bytes], folder: Path) -> tuple[list[Resource], str | None]:
    """The tree's regular files, stored as blobs, and its manifest's text (if it has one)."""
    resources: list[Resource] = []
    manifest: str | None = None
    try:
        with tarfile.open(fileobj=spool, mode="r:") as tar:
            for member in tar:
                if not member.isfile() or member.name in SKIPPED:
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                if member.name in MANIFESTS and manifest is None:
                    manifest = handle.read().decode(errors="replace")
                    continue
                digest = ctx.blobs.put_stream(handle)
                resources.append(
                    Resource(path=member.name, sha256=digest, size=member.size, mode=member.mode)
                )
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise PushFailed(f"the pushed tree could not be read: {exc}") from exc
    return resources, manifest


def _application(name: str, manifest: str | None) -> tuple[dict[str, Any], list[str]]:
    """The manifest application to apply, named as the repository, and what to tell about it."""
    if manifest is None:
        return {"name": name}, ["No manifest.yml: the app keeps its settings"]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "manifest.yml"
        path.write_text(manifest)
        parsed = parse_manifest(path)
    said = [warning.replace(str(path), "manifest.yml") for warning in parsed.warnings]
    apps = parsed.applications
    chosen = [spec for spec in apps if spec.name == name] or (apps if len(apps) == 1 else [])
    if not chosen:
        listed = ", ".join(spec.name for spec in apps) or "none"
        raise PushFailed(f"manifest.yml has no application {name} (it has {listed})")
    data = to_manifest(chosen[0])
    data.pop("path", None)  # the repository is the app
    data["name"] = name
    said.append(f"Applying manifest.yml ({chosen[0].name})")
    return data, said


def _bindings(ctx: ApiContext, guids: list[str]) -> Iterator[str]:
    """Wait for the services the manifest made and bound: the new revision takes their
    credentials."""
    deadline = time.monotonic() + START_TIMEOUT
    for guid in guids:
        yield "Waiting for a service binding"
        while True:
            with ctx.store.session() as session:
                binding = session.get(ServiceBinding, guid)
                operation = dict(binding.last_operation) if binding else {"state": "failed"}
            if operation.get("state") == "succeeded":
                break
            if operation.get("state") == "failed":
                said = operation.get("description") or "the broker refused it"
                raise PushFailed(f"a service binding failed: {said}")
            if time.monotonic() > deadline:
                raise PushFailed("a service binding took more than 300 s")
            time.sleep(POLL)


def _staging(
    ctx: ApiContext, app_guid: str, build_guid: str, offset: int
) -> Generator[str, None, str]:
    """Staging's output as it comes; the droplet it made (its guid), or PushFailed."""
    with Tail(ctx.logs, app_guid, offset) as tail:
        while True:
            with ctx.store.session() as session:
                build = session.get(Build, build_guid)
                state = build.state if build else "FAILED"
                error, droplet = (build.error, build.droplet_guid) if build else ("gone", None)
            lines, _ = tail.read()
            for line in lines:
                if line.source.startswith("STG"):
                    yield line.message
            if state != "STAGING" and not lines:
                break
            if state == "STAGING":
                time.sleep(POLL)
    if state != "STAGED" or droplet is None:
        raise PushFailed(f"staging failed: {error or state.lower()}; the running version serves")
    return droplet


def _rollout(ctx: ApiContext, app_guid: str, droplet_guid: str) -> Generator[str, None, int]:
    """The new revision's rollout, step by step; its version once its instances run."""
    deadline = time.monotonic() + START_TIMEOUT
    shown = 0
    while True:
        with ctx.store.session() as session:
            revision = session.scalar(select(Revision).where(Revision.droplet_guid == droplet_guid))
            if revision is None:
                raise PushFailed("the staged droplet has no revision")
            deployment = session.scalar(
                select(Deployment)
                .where(Deployment.revision_guid == revision.guid)
                .order_by(Deployment.created_at.desc())
            )
            version = revision.version
            steps = list(deployment.history) if deployment else []
            state = deployment.state if deployment else ""
            reason = deployment.reason if deployment else ""
            running, crashed = _instances(session, app_guid, version)
        for _, text in steps[shown:]:
            yield f"  {text}"
        shown = len(steps)
        if state in ("FAILED", "CANCELED"):
            raise PushFailed(f"deployment {state.lower()}: {reason}; the running version serves")
        if state == "PAUSED" or (state in ("", "DEPLOYED") and running):
            return version
        if crashed and not running and not deployment:
            raise PushFailed(f"every instance crashed: {crashed}; see `yun logs` ")
        if time.monotonic() > deadline:
            raise PushFailed(f"revision {version} did not start within {START_TIMEOUT:g}s")
        time.sleep(POLL)


def _instances(session: Any, app_guid: str, version: int) -> tuple[bool, str]:
    """Whether each process that should run has a running instance of `version`, and why the
    ones that crashed did (when all did)."""
    wanted = list(
        session.scalars(select(Process).where(Process.app_guid == app_guid, Process.instances > 0))
    )
    rows = list(
        session.scalars(
            select(Instance).where(Instance.app_guid == app_guid, Instance.version == version)
        )
    )
    running = all(
        any(i.process_guid == proc.guid and i.state == "RUNNING" for i in rows) for proc in wanted
    )
    crashed = rows and all(i.state == "CRASHED" for i in rows)
    reasons = "; ".join(sorted({i.reason or "crashed" for i in rows})) if crashed else ""
    return running, reasons
