"""App templates, an app store: `yun templates` lists them, `yun create-app-from-template
TEMPLATE NAME` makes an app from one, with its manifest's settings, buildpack, cron jobs and
route, and the services it needs (made for the app and bound to it).

A template is a folder: the app's files, its `manifest.yml` (the application's name is replaced
by the new app's), and `template.yml` (a description, and the services as `{name, offering}`;
each is made as `APP-NAME`). Yun bundles some (`yun/app_templates/`); a folder in the server's
templates directory (`$YUN_HOME/templates`, `YUN_TEMPLATES_DIR`) is one too, and replaces a
bundled one of its name.

`POST /v3/apps/from_template` makes the app (as a push of the manifest would), its services and
bindings, and its package from the template's files; the client then waits for the bindings,
stages and starts it as `yun push` does.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from yun.api.apps import PushBody, push_app
from yun.api.auth import Ctx, CurrentUser
from yun.api.context import ApiContext
from yun.api.errors import ApiError
from yun.api.packages import PackageBody, Resource, create_package
from yun.manifest import ManifestError, parse_manifest, to_manifest
from yun.store.models import App

router = APIRouter()
BUNDLED = Path(__file__).resolve().parents[1] / "app_templates"
META = "template.yml"
NOT_FILES = (META, "manifest.yml", "README.md")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    services: tuple[tuple[str, str], ...]  # (name, offering)
    folder: Path
    origin: str  # "bundled" or "local"

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "services": [{"name": n, "offering": o} for n, o in self.services],
            "origin": self.origin,
        }


def read_template(folder: Path, origin: str) -> Template:
    """The template in `folder`; ValueError saying what is wrong with it."""
    try:
        meta = yaml.safe_load((folder / META).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{META}: {exc}") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{META}: expected a mapping with description and services")
    services = []
    for index, item in enumerate(meta.get("services") or []):
        if not isinstance(item, dict) or not item.get("name") or not item.get("offering"):
            raise ValueError(f"{META}: services[{index}]: needs a name and an offering")
        services.append((str(item["name"]), str(item["offering"])))
    if not (folder / "manifest.yml").is_file():
        raise ValueError("it has no manifest.yml")
    return Template(
        folder.name, str(meta.get("description") or ""), tuple(services), folder, origin
    )


def templates(ctx: ApiContext) -> dict[str, Template]:
    """Every template by name: the bundled ones, replaced by the server's own of a name."""
    found: dict[str, Template] = {}
    for root, origin in ((BUNDLED, "bundled"), (ctx.settings.templates_dir, "local")):
        folders = sorted(root.iterdir()) if root.is_dir() else []
        for folder in folders:
            if not folder.is_dir() or not NAME.match(folder.name):
                continue
            try:
                found[folder.name] = read_template(folder, origin)
            except ValueError as exc:
                log.warning("template %s is left out: %s", folder, exc)
    return found


class FromTemplateBody(BaseModel):
    template: str = Field(min_length=1, max_length=63)
    name: str = Field(min_length=1, max_length=63)
    space_guid: str | None = None
    start: bool = True


@router.get("/v3/templates")
def list_templates(ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    return {"resources": [t.view() for t in sorted(templates(ctx).values(), key=_by_name)]}


def _by_name(template: Template) -> str:
    return template.name


@router.post("/v3/apps/from_template", status_code=201)
def create_from_template(body: FromTemplateBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    template = templates(ctx).get(body.template)
    if template is None:
        raise ApiError(404, f"template: {body.template} not found (see `yun templates`)")
    space_guid = body.space_guid or ctx.defaults.space_guid
    with ctx.store.session() as session:
        taken = session.scalar(
            select(App.guid).where(App.space_guid == space_guid, App.name == body.name)
        )
    if taken is not None:
        raise ApiError(409, f"name: app {body.name} already exists in this space")
    application = _application(template, body.name)
    app = push_app(
        PushBody(
            application=application,
            source=f"template {template.name}",
            space_guid=space_guid,
            start=body.start,
        ),
        ctx,
        user,
    )
    package = create_package(app["guid"], PackageBody(resources=_files(ctx, template)), ctx, user)
    return {
        "app": app,
        "package": package,
        "template": template.view(),
        "pending_bindings": app.get("pending_bindings", []),
    }


def _application(template: Template, name: str) -> dict[str, Any]:
    try:
        manifest = parse_manifest(template.folder / "manifest.yml")
    except ManifestError as exc:
        raise ApiError(422, f"template {template.name}: {exc}") from exc
    if len(manifest.applications) != 1:
        raise ApiError(422, f"template {template.name}: its manifest must list one application")
    data = to_manifest(manifest.applications[0])
    data.pop("path", None)
    data["name"] = name
    if template.services:
        data["services"] = {f"{name}-{own}": offering for own, offering in template.services}
    return data


def _files(ctx: ApiContext, template: Template) -> list[Resource]:
    files = []
    for path in sorted(template.folder.rglob("*")):
        relative = path.relative_to(template.folder).as_posix()
        if not path.is_file() or path.is_symlink() or relative in NOT_FILES:
            continue
        if "__pycache__" in path.parts or "node_modules" in path.parts:
            continue
        digest = ctx.blobs.put_file(path)
        files.append(
            Resource(
                path=relative,
                sha256=digest,
                size=path.stat().st_size,
                mode=path.stat().st_mode & 0o777,
            )
        )
    return files
