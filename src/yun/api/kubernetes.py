"""`GET /v3/apps/{guid}/kubernetes`: the app's current revision as the Kubernetes objects the
Kubernetes backend would apply (`yun k8s render APP`), for GitOps and kubectl users, whichever
backend the app's space uses. The Secret holds the app's environment, so the call needs the
right to read it (as `yun env`)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from yun.api.auth import Ctx, CurrentUser
from yun.api.errors import ApiError
from yun.api.lookups import get_app
from yun.controllers.kube_release import DEFAULT_REGISTRY, NoRevision, canary_of, release_of
from yun.kube.render import GATEWAY_FORM, Exposure, render
from yun.store.models import Cluster

router = APIRouter()
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


@router.get("/v3/apps/{guid}/kubernetes")
def kubernetes_objects(
    guid: str,
    ctx: Ctx,
    _user: CurrentUser,
    registry: str = "",
    gateway: str = "",
    ingress_class: str = "",
    cluster: str = "",
) -> dict[str, Any]:
    """The objects, in the order to apply them. `gateway` (NAMESPACE/NAME) renders an HTTPRoute
    attached to that Gateway, else an Ingress (of `ingress_class` when given); `cluster` takes
    the registry, Gateway and Ingress class of that cluster (`yun clusters`) where not given."""
    if cluster:
        with ctx.store.session() as session:
            found = session.scalar(select(Cluster).where(Cluster.name == cluster))
            if found is None:
                raise ApiError(422, f"cluster: {cluster} not found (see `yun clusters`)")
            registry = registry or found.image_registry
            gateway = gateway or ("" if ingress_class else found.gateway)
            ingress_class = ingress_class or ("" if gateway else found.ingress_class)
    registry = registry or DEFAULT_REGISTRY
    if gateway and not GATEWAY_FORM.fullmatch(gateway):
        raise ApiError(422, f"gateway {gateway!r}: give it as NAMESPACE/NAME (DNS labels)")
    if ingress_class and not _NAME.fullmatch(ingress_class):
        raise ApiError(422, f"ingress_class {ingress_class!r} is not a Kubernetes name")
    if not registry or any(c.isspace() or c in "@" for c in registry):
        raise ApiError(422, f"registry {registry!r}: give it as HOST[:PORT][/PATH]")
    namespace, _, name = gateway.partition("/")
    exposure = Exposure(ingress_class=ingress_class, gateway=(namespace, name) if gateway else None)
    with ctx.store.session() as session:
        app = get_app(session, guid)
        options: dict[str, Any] = {
            "registry": registry,
            "exposure": exposure,
            "timing": ctx.settings.timing,
        }
        try:
            release = release_of(session, app, **options)
        except NoRevision as exc:
            raise ApiError(409, str(exc)) from None
        canary = canary_of(session, app, **options)
        return {
            "app": app.name,
            "version": release.version,
            "canary": {"version": canary.release.version, "weight": canary.weight}
            if canary
            else None,
            "objects": render(release, canary),
        }
