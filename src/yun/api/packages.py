"""Uploads and builds: resource matching, bits, packages, and staging requests.

The CLI first asks which of its files the blobstore already has (`resource_match`), sends a tar
of only the missing ones (`/v3/bits`), then declares the package as the full file list.
"""

from __future__ import annotations

import re
import tarfile
import tempfile
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from yun.api.auth import Ctx, CurrentUser
from yun.api.context import ExportError
from yun.api.deployments import ReleaseOptions
from yun.api.errors import ApiError, not_found
from yun.api.lookups import get_app
from yun.store import events
from yun.store.models import App, Build, Package
from yun.store.quotas import QuotaGuard

router = APIRouter()

MAX_UPLOAD = 1 << 30
DIGEST = re.compile(r"^[0-9a-f]{64}$")


class Resource(BaseModel):
    path: str = Field(min_length=1, max_length=4096)
    sha256: str
    size: int = Field(ge=0, strict=True)  # a number of bytes, not `true`
    mode: int = 0o644


class Fingerprint(BaseModel):
    sha256: str
    size: int = Field(ge=0, strict=True)  # a number of bytes, not `true`


class MatchBody(BaseModel):
    resources: list[Fingerprint]


class DockerData(BaseModel):
    image: str = Field(min_length=1, max_length=1024, pattern=r"^[^\s]+$")
    username: str | None = Field(default=None, max_length=255)
    password: str | None = Field(default=None, max_length=4096)


class PackageBody(BaseModel):
    type: Literal["bits", "docker"] = "bits"
    resources: list[Resource] = Field(default_factory=list)
    data: DockerData | None = None


class BuildBody(ReleaseOptions):
    package_guid: str
    start: bool = True


def _check_path(path: str, where: str) -> None:
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\x00" in path:
        raise ApiError(422, f"{where}: {path!r} is not a relative path inside the app")


@router.post("/v3/resource_match")
def resource_match(body: MatchBody, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    known = sorted({r.sha256 for r in body.resources if ctx.blobs.exists(r.sha256)})
    return {"known": known}


@router.post("/v3/bits")
async def upload_bits(request: Request, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    """Body: a tar (optionally gzipped) of files; each regular file becomes a blob."""
    stored: list[str] = []
    received = 0
    with tempfile.TemporaryFile() as spool:
        async for chunk in request.stream():
            received += len(chunk)
            if received > MAX_UPLOAD:
                raise ApiError(413, f"upload is larger than {MAX_UPLOAD >> 20} MiB")
            spool.write(chunk)
        spool.seek(0)
        try:
            with tarfile.open(fileobj=spool, mode="r:*") as tar:
                for member in tar:
                    if not member.isfile():
                        continue
                    handle = tar.extractfile(member)
                    if handle is not None:
                        stored.append(ctx.blobs.put_stream(handle))
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ApiError(400, f"upload is not a readable tar archive: {exc}") from exc
    return {"stored": stored, "bytes": received}


@router.post("/v3/apps/{guid}/packages")
def create_package(guid: str, body: PackageBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    if body.type == "docker":
        return _docker_package(guid, body, ctx, user)
    seen: set[str] = set()
    for i, res in enumerate(body.resources):
        _check_path(res.path, f"resources[{i}].path")
        if not DIGEST.match(res.sha256):
            raise ApiError(422, f"resources[{i}].sha256: not a SHA-256 hex digest")
        if res.path in seen:
            raise ApiError(422, f"resources[{i}].path: {res.path!r} listed twice")
        seen.add(res.path)
    missing = [r.path for r in body.resources if not ctx.blobs.exists(r.sha256)]
    if missing:
        raise ApiError(
            422, f"package names files that were never uploaded: {', '.join(missing[:5])}"
        )
    with ctx.store.session() as session:
        app = get_app(session, guid)
        package = Package(
            app_guid=app.guid,
            state="READY",
            files=[r.model_dump() for r in body.resources],
            size=sum(r.size for r in body.resources),
        )
        session.add(package)
        session.flush()
        app.package_guid = package.guid
        events.record(
            session,
            type="audit.app.upload-bits",
            app=app,
            actor=user.name,
            data={"files": len(body.resources), "bytes": package.size},
        )
        return {"guid": package.guid, "state": package.state, "size": package.size}


def _docker_package(guid: str, body: PackageBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """A package that names an image instead of holding files: staging pulls it."""
    if body.data is None:
        raise ApiError(422, "data.image: a docker package names its image")
    if body.resources:
        raise ApiError(422, "resources: a docker package has no files")
    if body.data.username and not body.data.password:
        raise ApiError(422, "data.password: a registry username needs a password")
    with ctx.store.session() as session:
        app = get_app(session, guid)
        package = Package(
            app_guid=app.guid, state="READY", kind="docker", image=body.data.model_dump()
        )
        session.add(package)
        session.flush()
        app.package_guid = package.guid
        events.record(
            session,
            type="audit.app.package.create",
            app=app,
            actor=user.name,
            data={"type": "docker", "image": body.data.image},
        )
        return {"guid": package.guid, "state": package.state, "type": "docker"}


def build_view(build: Build) -> dict[str, Any]:
    return {
        "guid": build.guid,
        "app_guid": build.app_guid,
        "package_guid": build.package_guid,
        "state": build.state,
        "error": build.error,
        "droplet_guid": build.droplet_guid,
        "created_at": build.created_at,
    }


@router.post("/v3/builds")
def create_build(body: BuildBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        package = session.get(Package, body.package_guid)
        if package is None:
            raise not_found(f"package {body.package_guid}")
        app = get_app(session, package.app_guid)
        running = session.scalar(
            select(Build).where(Build.app_guid == app.guid, Build.state == "STAGING")
        )
        if running is not None:
            raise ApiError(409, f"app {app.name} is already staging (build {running.guid})")
        if body.start:  # a stopped app starts once staged: its quotas are checked now
            QuotaGuard(session, app.space_guid).check(starting=app.guid)
        offset = ctx.logs.end_offset(app.guid)
        build = Build(
            app_guid=app.guid,
            package_guid=package.guid,
            state="STAGING",
            created_by=user.name,
            start_after=body.start,
            release=body.plan().to_dict(),
        )
        session.add(build)
        events.record(session, type="audit.app.build.create", app=app, actor=user.name)
        session.flush()
        view = build_view(build)
    view["log_offset"] = offset
    ctx.wake(f"build:{view['guid']}")
    return view


@router.post("/v3/apps/{guid}/actions/restage")
def restage(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        if app.package_guid is None:
            raise ApiError(422, f"app {app.name} has no uploaded package; run `yun push` first")
        package_guid = app.package_guid
    return create_build(BuildBody(package_guid=package_guid, start=True), ctx, user)


@router.get("/v3/builds/{guid}")
def show_build(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        build = session.get(Build, guid)
        if build is None:
            raise not_found(f"build {guid}")
        return build_view(build)


@router.post("/v3/apps/{guid}/droplets/current/export")
def export_droplet(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    """Put the app's current build into the platform registry as an OCI image."""
    if ctx.export_droplet is None:
        raise ApiError(
            409,
            "this server runs no platform registry (YUN_REGISTRY_PORT=0 or"
            " docker-registry not installed)",
        )
    with ctx.store.session() as session:
        app = get_app(session, guid)
        app_guid = app.guid
    try:
        image = ctx.export_droplet(app_guid)
    except ExportError as exc:
        raise ApiError(409, str(exc)) from exc
    with ctx.store.session() as session:
        events.record(
            session,
            type="audit.app.droplet.export",
            app=session.get(App, app_guid),
            actor=user.name,
            data={"image": image},
        )
    return {"image": image}
