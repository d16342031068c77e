"""Pipelines (an org's ordered spaces) and promotions (`yun create-pipeline`, `pipelines`,
`pipeline`, `delete-pipeline`, `promote`); see `store/promotions.py` for what a promotion does
and `controllers/promoting.py` for how it runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.applying import apply_spec
from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError, not_found
from yun.api.lookups import get_app
from yun.api.policy import CallerGrants
from yun.manifest import AppSpec
from yun.store import events
from yun.store.models import App, Domain, Droplet, Org, Pipeline, Promotion, Revision, Space
from yun.store.roles import DEVELOP, SEE_ORG

router = APIRouter()


class PipelineBody(BaseModel):
    org: str = Field(min_length=1, max_length=255)
    name: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._-]+$")
    stages: list[str] = Field(min_length=2, max_length=20)


class PromoteBody(BaseModel):
    to_space: str = Field(min_length=1, max_length=255)
    test: bool = False


def _spaces(session: Session, org: Org, names: list[str]) -> list[Space]:
    found = []
    for index, name in enumerate(names):
        space = session.scalar(select(Space).where(Space.org_guid == org.guid, Space.name == name))
        if space is None:
            raise ApiError(422, f"stages[{index}]: no space {name} in org {org.name}")
        found.append(space)
    if len({s.guid for s in found}) != len(found):
        raise ApiError(422, "stages: a space is listed twice")
    return found


def pipeline_view(session: Session, pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline's stages in order, each with the revision every app in it runs."""
    stages = []
    for guid in pipeline.stages:
        space = session.get(Space, guid)
        apps = []
        for app in session.scalars(select(App).where(App.space_guid == guid).order_by(App.name)):
            revision = session.get(Revision, app.revision_guid) if app.revision_guid else None
            droplet = session.get(Droplet, revision.droplet_guid) if revision else None
            apps.append(
                {
                    "name": app.name,
                    "state": app.state,
                    "revision": revision.version if revision else None,
                    "droplet": f"sha256:{droplet.blob}" if droplet and droplet.blob else None,
                    "commit": revision.commit if revision else "",
                }
            )
        stages.append({"space": space.name if space else "?", "space_guid": guid, "apps": apps})
    return {
        "guid": pipeline.guid,
        "name": pipeline.name,
        "org_guid": pipeline.org_guid,
        "org": org.name if (org := session.get(Org, pipeline.org_guid)) else "",
        "stages": stages,
        "created_by": pipeline.created_by,
    }


@router.post("/v3/pipelines", status_code=201)
def create_pipeline(body: PipelineBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        org = session.scalar(select(Org).where(Org.name == body.org))
        if org is None:
            raise not_found(f"org {body.org}")
        spaces = _spaces(session, org, body.stages)
        taken = session.scalar(
            select(Pipeline).where(Pipeline.org_guid == org.guid, Pipeline.name == body.name)
        )
        if taken is not None:
            raise ApiError(409, f"name: org {org.name} already has a pipeline {body.name}")
        pipeline = Pipeline(
            org_guid=org.guid, name=body.name, stages=[s.guid for s in spaces], created_by=user.name
        )
        session.add(pipeline)
        events.record(
            session,
            type="audit.pipeline.create",
            app=None,
            actor=user.name,
            data={"name": body.name, "stages": body.stages},
        )
        session.flush()
        return pipeline_view(session, pipeline)


@router.get("/v3/pipelines")
def list_pipelines(ctx: Ctx, grants: CallerGrants) -> dict[str, Any]:
    with ctx.store.session() as session:
        rows = session.scalars(select(Pipeline).order_by(Pipeline.name))
        return {
            "resources": [
                pipeline_view(session, p) for p in rows if grants.may(SEE_ORG, p.org_guid, None)
            ]
        }


def _pipeline(session: Session, guid: str) -> Pipeline:
    found = session.get(Pipeline, guid)
    if found is None:
        raise not_found(f"pipeline {guid}")
    return found


@router.get("/v3/pipelines/{guid}")
def show_pipeline(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        return pipeline_view(session, _pipeline(session, guid))


@router.delete("/v3/pipelines/{guid}")
def delete_pipeline(guid: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        pipeline = _pipeline(session, guid)
        view = pipeline_view(session, pipeline)
        session.delete(pipeline)
        events.record(
            session,
            type="audit.pipeline.delete",
            app=None,
            actor=user.name,
            data={"name": pipeline.name},
        )
    return view


def promotion_view(session: Session, promotion: Promotion) -> dict[str, Any]:
    source = session.get(Revision, promotion.revision_guid)
    target = (
        session.get(Revision, promotion.target_revision_guid)
        if promotion.target_revision_guid
        else None
    )
    space = session.get(Space, promotion.to_space_guid)
    return {
        "guid": promotion.guid,
        "state": promotion.state,
        "test": promotion.test,
        "from_revision": source.version if source else None,
        "to_space": space.name if space else None,
        "to_revision": target.version if target else None,
        "output": list(promotion.output),
        "reason": promotion.reason,
        "created_at": promotion.created_at,
        "created_by": promotion.created_by,
    }


@router.post("/v3/apps/{guid}/actions/promote", status_code=202)
def promote_app(
    guid: str, body: PromoteBody, ctx: Ctx, user: CurrentUser, grants: CallerGrants
) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        space = session.get(Space, app.space_guid)
        assert space is not None
        target_space = session.scalar(
            select(Space).where(Space.org_guid == space.org_guid, Space.name == body.to_space)
        )
        if target_space is None or target_space.guid == space.guid:
            what = "the app's own space" if target_space else "not a space of this org"
            raise ApiError(422, f"to_space: {body.to_space} is {what}")
        if not grants.may(DEVELOP, target_space.org_guid, target_space.guid):
            raise ApiError(
                403, f"{user.name} may not promote into {body.to_space}: it needs SpaceDeveloper"
            )
        if app.revision_guid is None:
            raise ApiError(422, f"app {app.name} has never been staged; nothing to promote")
        _target_app(session, app, target_space, actor=user.name)
        promotion = Promotion(
            app_guid=app.guid,
            revision_guid=app.revision_guid,
            to_space_guid=target_space.guid,
            test=body.test,
            created_by=user.name,
        )
        session.add(promotion)
        session.flush()
        view = promotion_view(session, promotion)
    ctx.wake("promotions")
    return view


def _target_app(session: Session, app: App, space: Space, *, actor: str) -> App:
    """The app of the same name in `space`; made (with the source's settings but not its
    variables or services, and a route of its own) when there is none."""
    found = session.scalar(select(App).where(App.space_guid == space.guid, App.name == app.name))
    if found is not None:
        return found
    spec = AppSpec.from_dict(app.spec) if app.spec else AppSpec(name=app.name)
    domain = session.scalar(
        select(Domain).where(Domain.internal.is_(False)).order_by(Domain.created_at)
    )
    routes = [f"{app.name}-{space.name}.{domain.name}".lower()] if domain else []
    spec = AppSpec(
        name=app.name,
        memory_mb=spec.memory_mb,
        disk_mb=spec.disk_mb,
        instances=spec.instances,
        command=spec.command,
        buildpacks=spec.buildpacks,
        health_check=spec.health_check,
        timeout=spec.timeout,
        routes=[] if spec.no_route else routes,
        no_route=spec.no_route,
        processes=spec.processes,
        stack=spec.stack,
        runtime=spec.runtime,
    )
    made, _ = apply_spec(session, space_guid=space.guid, spec=spec)
    events.record(session, type="audit.app.create", app=made, actor=actor, data={"via": "promote"})
    return made


@router.get("/v3/apps/{guid}/promotions")
def list_promotions(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        rows = session.scalars(
            select(Promotion)
            .where(Promotion.app_guid == app.guid)
            .order_by(Promotion.created_at.desc())
        )
        return {"resources": [promotion_view(session, p) for p in rows]}
