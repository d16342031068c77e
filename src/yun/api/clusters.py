"""Kubernetes clusters (admins): `yun create-cluster`, `clusters`, `delete-cluster` (refused
while a space is placed on it), `set-space-cluster ORG SPACE CLUSTER` (`local`: this machine's
node agent, the default). `yun k8s render APP --cluster NAME` renders for one (its registry,
its Gateway or Ingress class).

The kubeconfig is stored sealed, as every secret is; the CLI sends it flattened (the files it
names put in). Creating a cluster asks its apiserver for `/version` first, unless told not to,
so a wrong address or credential is found at once, not at the first push.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError
from yun.api.scopes import Call, space_named
from yun.kube.kubeconfig import KubeconfigError, describe
from yun.kube.render import GATEWAY_FORM
from yun.store import events
from yun.store.models import Cluster, Org, Space

router = APIRouter()
LOCAL = "local"
DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class NewCluster(BaseModel):
    name: str = Field(pattern=DNS_LABEL, description="A DNS label; `local` is this machine")
    kubeconfig: str = Field(min_length=1, max_length=1 << 20)
    context: str = Field(default="", max_length=255)
    registry: str = Field(default="", max_length=512, pattern=r"^[^\s@]*$")
    ingress_class: str = Field(default="", max_length=253, pattern=r"^([a-z0-9][-a-z0-9.]*)?$")
    gateway: str = Field(default="", max_length=253, description="NAMESPACE/NAME of a Gateway")
    check: bool = Field(default=True, description="Ask the apiserver for /version first")


def cluster_view(session: Session, cluster: Cluster) -> dict[str, Any]:
    spaces = session.execute(
        select(Org.name, Space.name)
        .join(Org, Org.guid == Space.org_guid)
        .where(Space.cluster_guid == cluster.guid)
        .order_by(Org.name, Space.name)
    )
    return {
        "guid": cluster.guid,
        "name": cluster.name,
        "server": cluster.server,
        "context": cluster.context,
        "registry": cluster.image_registry,
        "ingress_class": cluster.ingress_class,
        "gateway": cluster.gateway,
        "spaces": [f"{org}/{space}" for org, space in spaces],
        "reachable": cluster.reachable,  # None until the platform has asked it
        "reach_reason": cluster.reach_reason,
        "reach_since": cluster.reach_since,
        "created_at": cluster.created_at,
    }


def _find(session: Session, name: str) -> Cluster:
    cluster = session.scalar(select(Cluster).where(Cluster.name == name))
    if cluster is None:
        raise ApiError(404, f"cluster {name} not found (see `yun clusters`)")
    return cluster


def _reach(kubeconfig: str, context: str, server: str) -> str:
    """The cluster's version, or a 422 naming the server when it does not answer."""
    from yun.kube.client import KubeCluster, KubeError  # loaded only when a cluster is used

    try:
        cluster = KubeCluster.from_text(kubeconfig, context=context)
        try:
            return cluster.version()
        finally:
            cluster.close()
    except KubeError as exc:
        raise ApiError(422, f"kubeconfig: {server} (context {context}): {exc}") from None


@router.post("/v3/clusters", status_code=201)
async def create_cluster(body: NewCluster, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    if body.name == LOCAL:
        raise ApiError(422, "name: `local` is this machine's own placement; choose another")
    if body.gateway and not GATEWAY_FORM.fullmatch(body.gateway):
        raise ApiError(422, f"gateway {body.gateway!r}: give it as NAMESPACE/NAME")
    if body.gateway and body.ingress_class:
        raise ApiError(422, "gateway, ingress_class: give one of them, not both")
    try:
        described = describe(body.kubeconfig, body.context)
    except KubeconfigError as exc:
        raise ApiError(422, str(exc)) from None
    version = ""
    if body.check:
        version = await run_in_threadpool(
            _reach, body.kubeconfig, described.context, described.server
        )
    with ctx.store.session() as session:
        if session.scalar(select(Cluster).where(Cluster.name == body.name)) is not None:
            raise ApiError(409, f"cluster {body.name} already exists")
        cluster = Cluster(
            name=body.name,
            kubeconfig=body.kubeconfig,
            context=described.context,
            server=described.server,
            image_registry=body.registry,
            ingress_class=body.ingress_class,
            gateway=body.gateway,
        )
        session.add(cluster)
        session.flush()
        view = cluster_view(session, cluster)
        events.record(
            session,
            type="audit.cluster.create",
            app=None,
            actor=user.name,
            data={"name": body.name, "server": described.server, "version": version},
        )
        return {**view, "version": version}


@router.get("/v3/clusters")
def list_clusters(ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        clusters = session.scalars(select(Cluster).order_by(Cluster.name))
        return {"resources": [cluster_view(session, c) for c in clusters]}


@router.delete("/v3/clusters/{name}")
def delete_cluster(name: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        cluster = _find(session, name)
        using = cluster_view(session, cluster)["spaces"]
        if using:
            raise ApiError(
                409,
                f"cluster {name} is used by space {', '.join(using)}; move them first"
                " (`yun set-space-cluster ORG SPACE local`)",
            )
        session.delete(cluster)
        events.record(
            session, type="audit.cluster.delete", app=None, actor=user.name, data={"name": name}
        )
        return {"deleted": name}


class ClusterChoice(BaseModel):
    cluster: str = Field(min_length=1, max_length=63, description="A cluster's name, or local")


@router.put("/v3/organizations/{org}/spaces/{name}/cluster")
def set_space_cluster(
    org: str, name: str, body: ClusterChoice, ctx: Ctx, user: CurrentUser
) -> dict[str, Any]:
    """Place the space's apps on a cluster, or back on this machine (`local`): the instance
    controller's next pass starts them there and stops them where they ran."""
    with ctx.store.session() as session:
        _, space = space_named(session, Call({"org": org, "name": name}, {}, {}, ""))
        if body.cluster == LOCAL:
            space.cluster_guid = None
        else:
            cluster = session.scalar(select(Cluster).where(Cluster.name == body.cluster))
            if cluster is None:
                raise ApiError(422, f"cluster: {body.cluster} not found (see `yun clusters`)")
            space.cluster_guid = cluster.guid
        events.record(
            session,
            type="audit.space.cluster",
            app=None,
            actor=user.name,
            data={"org": org, "space": name, "cluster": body.cluster},
            space_guid=space.guid,
        )
    ctx.wake("instances")
    return {"org": org, "space": name, "cluster": body.cluster}
