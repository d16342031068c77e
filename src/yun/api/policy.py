"""Who may make which API call: one table, read for every call under `/v3/` (a dependency of
the whole app), so no route is reachable by accident.

Each entry is a `Rule`: what the call needs, and (for calls on an org, a space or what is in
a space) where it acts, found by a target of `yun.api.scopes`:

- `PUBLIC`: no token; `ANYONE`: a logged-in user (the handler narrows what it lists to what
  the caller may see, or, as `DELETE /v3/users/NAME/tokens`, checks it is their own);
  `ADMIN`: the Admin role.
- A `Permission` (`yun.store.roles`) with a target: one of its roles in that space, or in its
  org. A caller who may not even see the target gets the 404 of a missing one; one who may see
  but not do this gets a 403 that names the roles it needs.
- A `Permission` without a target: the role in some space (uploading bits needs a
  SpaceDeveloper somewhere; the package that uses them is checked against its app's space).

A call missing from the table is refused: a new route must say who may call it. The caller's
roles are read once, and handlers that filter listings find them in `request.state.grants`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from yun.api.auth import Bearer, Ctx, current_user
from yun.api.errors import ApiError
from yun.api.scopes import (
    APP,
    BACKUP,
    BINDING,
    BODY_APP,
    BODY_INSTANCE,
    BODY_ORG,
    BODY_PACKAGE,
    BODY_SOURCE_APP,
    BODY_SPACE,
    BUILD,
    INSTANCE,
    NETWORK_POLICY,
    ORG,
    PIPELINE,
    QUERY_SPACE,
    ROUTE,
    SPACE,
    TCP_ROUTE,
    WEBHOOK,
    Call,
    Scope,
    Target,
)
from yun.store.roles import (
    DEVELOP,
    MANAGE_ORG,
    MANAGE_SPACE,
    OPERATE,
    SECRETS,
    SEE,
    SEE_ORG,
    SEE_SPACE,
    Grants,
    Permission,
    grants_of,
)

PUBLIC = "public"
ANYONE = "anyone"
ADMIN = "admin"
BODY_TARGETS = (BODY_APP, BODY_INSTANCE, BODY_ORG, BODY_PACKAGE, BODY_SOURCE_APP, BODY_SPACE)


@dataclass(frozen=True)
class Rule:
    need: str | Permission
    target: Target | None = None


POLICY: dict[tuple[str, str], Rule] = {
    ("POST", "/v3/admin/backup"): Rule(ADMIN),
    ("POST", "/v3/admin/rotate-key"): Rule(ADMIN),
    ("GET", "/v3/apps"): Rule(SEE, QUERY_SPACE),
    ("POST", "/v3/apps/push"): Rule(DEVELOP, BODY_SPACE),
    ("POST", "/v3/apps/from_template"): Rule(DEVELOP, BODY_SPACE),
    ("DELETE", "/v3/apps/{guid}"): Rule(DEVELOP, APP),
    ("GET", "/v3/apps/{guid}"): Rule(SEE, APP),
    ("POST", "/v3/apps/{guid}/actions/cancel-deployment"): Rule(OPERATE, APP),
    ("POST", "/v3/apps/{guid}/actions/continue-deployment"): Rule(OPERATE, APP),
    ("POST", "/v3/apps/{guid}/actions/promote"): Rule(DEVELOP, APP),
    ("POST", "/v3/apps/{guid}/actions/restage"): Rule(OPERATE, APP),
    ("POST", "/v3/apps/{guid}/actions/restart"): Rule(OPERATE, APP),
    ("POST", "/v3/apps/{guid}/actions/rollback"): Rule(DEVELOP, APP),
    ("POST", "/v3/apps/{guid}/actions/start"): Rule(OPERATE, APP),
    ("POST", "/v3/apps/{guid}/actions/stop"): Rule(OPERATE, APP),
    ("DELETE", "/v3/apps/{guid}/autoscale"): Rule(OPERATE, APP),
    ("GET", "/v3/apps/{guid}/build_triggers"): Rule(SEE, APP),
    ("POST", "/v3/apps/{guid}/build_triggers"): Rule(DEVELOP, APP),
    ("DELETE", "/v3/apps/{guid}/build_triggers/{trigger}"): Rule(DEVELOP, APP),
    ("GET", "/v3/apps/{guid}/autoscale"): Rule(SEE, APP),
    ("PUT", "/v3/apps/{guid}/autoscale"): Rule(OPERATE, APP),
    ("GET", "/v3/apps/{guid}/deployments"): Rule(SEE, APP),
    ("POST", "/v3/apps/{guid}/droplets/current/export"): Rule(DEVELOP, APP),
    ("GET", "/v3/apps/{guid}/config"): Rule(SECRETS, APP),  # values, as env
    ("PATCH", "/v3/apps/{guid}/config"): Rule(DEVELOP, APP),
    ("GET", "/v3/apps/{guid}/config/history"): Rule(SEE, APP),  # secret values masked
    ("POST", "/v3/apps/{guid}/config/rollback"): Rule(DEVELOP, APP),
    ("GET", "/v3/apps/{guid}/env"): Rule(SECRETS, APP),
    ("GET", "/v3/apps/{guid}/kubernetes"): Rule(SECRETS, APP),  # its Secret holds the env
    ("PATCH", "/v3/apps/{guid}/environment_variables"): Rule(DEVELOP, APP),
    ("GET", "/v3/apps/{guid}/events"): Rule(SEE, APP),
    ("GET", "/v3/apps/{guid}/logs"): Rule(SEE, APP),
    ("GET", "/v3/apps/{guid}/logs/stream"): Rule(SEE, APP),
    ("GET", "/v3/apps/{guid}/metrics"): Rule(SEE, APP),
    ("POST", "/v3/apps/{guid}/packages"): Rule(DEVELOP, APP),
    ("PATCH", "/v3/apps/{guid}/processes/{type_}"): Rule(OPERATE, APP),
    ("GET", "/v3/apps/{guid}/promotions"): Rule(SEE, APP),
    ("GET", "/v3/apps/{guid}/revisions"): Rule(SEE, APP),
    ("GET", "/v3/apps/{guid}/schedules"): Rule(SEE, APP),
    ("POST", "/v3/apps/{guid}/schedules"): Rule(DEVELOP, APP),
    ("DELETE", "/v3/apps/{guid}/schedules/{name}"): Rule(DEVELOP, APP),
    ("GET", "/v3/apps/{guid}/tasks"): Rule(SEE, APP),
    ("POST", "/v3/apps/{guid}/tasks"): Rule(DEVELOP, APP),
    ("GET", "/v3/apps/{guid}/tasks/{sequence}"): Rule(SEE, APP),
    ("POST", "/v3/apps/{guid}/tasks/{sequence}/actions/cancel"): Rule(DEVELOP, APP),
    ("POST", "/v3/auth/logout"): Rule(ANYONE),
    ("POST", "/v3/auth/refresh"): Rule(PUBLIC),
    ("POST", "/v3/auth/token"): Rule(PUBLIC),
    ("POST", "/v3/bits"): Rule(DEVELOP),
    ("POST", "/v3/builds"): Rule(DEVELOP, BODY_PACKAGE),
    ("GET", "/v3/builds/{guid}"): Rule(SEE, BUILD),
    ("GET", "/v3/ca"): Rule(ANYONE),
    ("GET", "/v3/certificates"): Rule(ADMIN),
    ("DELETE", "/v3/certificates/{name}"): Rule(ADMIN),
    ("GET", "/v3/certificates/{name}"): Rule(ADMIN),
    ("PUT", "/v3/certificates/{name}"): Rule(ADMIN),
    ("GET", "/v3/domains"): Rule(ANYONE),
    ("POST", "/v3/domains"): Rule(ADMIN),
    ("DELETE", "/v3/domains/{name}"): Rule(ADMIN),
    ("GET", "/v3/events"): Rule(ANYONE),
    ("GET", "/v3/info"): Rule(PUBLIC),
    ("GET", "/v3/metrics/apps"): Rule(ANYONE),
    ("GET", "/v3/organizations"): Rule(ANYONE),
    ("POST", "/v3/organizations"): Rule(ADMIN),
    ("DELETE", "/v3/organizations/{name}"): Rule(ADMIN),
    ("GET", "/v3/organizations/{name}"): Rule(SEE_ORG, ORG),
    ("PUT", "/v3/organizations/{name}/quota"): Rule(ADMIN),
    ("PUT", "/v3/organizations/{org}/spaces/{name}/quota"): Rule(MANAGE_ORG, SPACE),
    ("PUT", "/v3/organizations/{org}/spaces/{name}/cluster"): Rule(ADMIN),
    ("PUT", "/v3/organizations/{org}/spaces/{name}/runtime"): Rule(MANAGE_ORG, SPACE),
    ("GET", "/v3/clusters"): Rule(ADMIN),
    ("POST", "/v3/clusters"): Rule(ADMIN),
    ("DELETE", "/v3/clusters/{name}"): Rule(ADMIN),
    ("GET", "/v3/quotas"): Rule(ANYONE),
    ("POST", "/v3/quotas"): Rule(ADMIN),
    ("DELETE", "/v3/quotas/{name}"): Rule(ADMIN),
    ("PATCH", "/v3/quotas/{name}"): Rule(ADMIN),
    ("PATCH", "/v3/organizations/{name}"): Rule(MANAGE_ORG, ORG),
    ("DELETE", "/v3/organizations/{org}/spaces/{name}"): Rule(MANAGE_ORG, SPACE),
    ("GET", "/v3/organizations/{org}/spaces/{name}"): Rule(SEE_SPACE, SPACE),
    ("PATCH", "/v3/organizations/{org}/spaces/{name}"): Rule(MANAGE_SPACE, SPACE),
    ("GET", "/v3/organizations/{org}/users"): Rule(SEE_ORG, ORG),
    ("PUT", "/v3/organizations/{org}/users/{user}/roles/{role}"): Rule(MANAGE_ORG, ORG),
    ("DELETE", "/v3/organizations/{org}/users/{user}/roles/{role}"): Rule(MANAGE_ORG, ORG),
    ("GET", "/v3/organizations/{org}/spaces/{name}/users"): Rule(SEE_SPACE, SPACE),
    ("GET", "/v3/organizations/{org}/spaces/{name}/config"): Rule(SECRETS, SPACE),
    ("PATCH", "/v3/organizations/{org}/spaces/{name}/config"): Rule(DEVELOP, SPACE),
    ("GET", "/v3/organizations/{org}/spaces/{name}/config/history"): Rule(SEE, SPACE),
    ("POST", "/v3/organizations/{org}/spaces/{name}/config/rollback"): Rule(DEVELOP, SPACE),
    ("PUT", "/v3/organizations/{org}/spaces/{name}/users/{user}/roles/{role}"): Rule(
        MANAGE_SPACE, SPACE
    ),
    ("DELETE", "/v3/organizations/{org}/spaces/{name}/users/{user}/roles/{role}"): Rule(
        MANAGE_SPACE, SPACE
    ),
    ("GET", "/v3/pipelines"): Rule(ANYONE),
    ("POST", "/v3/pipelines"): Rule(MANAGE_ORG, BODY_ORG),
    ("DELETE", "/v3/pipelines/{guid}"): Rule(MANAGE_ORG, PIPELINE),
    ("GET", "/v3/pipelines/{guid}"): Rule(SEE_ORG, PIPELINE),
    ("POST", "/v3/resource_match"): Rule(DEVELOP),
    ("GET", "/v3/routes"): Rule(ANYONE),
    ("POST", "/v3/routes"): Rule(DEVELOP, BODY_SPACE),
    ("DELETE", "/v3/routes/{guid}"): Rule(DEVELOP, ROUTE),
    ("PATCH", "/v3/routes/{guid}"): Rule(DEVELOP, ROUTE),
    ("PUT", "/v3/routes/{guid}/route_service"): Rule(DEVELOP, ROUTE),
    ("DELETE", "/v3/routes/{guid}/route_service"): Rule(DEVELOP, ROUTE),
    ("POST", "/v3/routes/{guid}/destinations"): Rule(OPERATE, ROUTE),
    ("GET", "/v3/routes/{guid}/api_plans"): Rule(SEE, ROUTE),
    ("POST", "/v3/routes/{guid}/api_plans"): Rule(DEVELOP, ROUTE),
    ("DELETE", "/v3/routes/{guid}/api_plans/{name}"): Rule(DEVELOP, ROUTE),
    ("GET", "/v3/routes/{guid}/api_keys"): Rule(SEE, ROUTE),
    ("POST", "/v3/routes/{guid}/api_keys"): Rule(DEVELOP, ROUTE),
    ("DELETE", "/v3/routes/{guid}/api_keys/{name}"): Rule(DEVELOP, ROUTE),
    ("DELETE", "/v3/routes/{guid}/destinations/{app_guid}"): Rule(OPERATE, ROUTE),
    ("GET", "/v3/service_backups/{guid}"): Rule(SEE, BACKUP),
    ("POST", "/v3/service_backups/{guid}/actions/restore"): Rule(DEVELOP, BACKUP),
    ("GET", "/v3/service_bindings"): Rule(ANYONE),
    ("POST", "/v3/service_bindings"): Rule(OPERATE, BODY_INSTANCE),
    ("DELETE", "/v3/service_bindings/{guid}"): Rule(OPERATE, BINDING),
    ("GET", "/v3/service_bindings/{guid}"): Rule(SEE, BINDING),
    ("GET", "/v3/service_brokers"): Rule(ADMIN),
    ("POST", "/v3/service_brokers"): Rule(ADMIN),
    ("DELETE", "/v3/service_brokers/{guid}"): Rule(ADMIN),
    ("PATCH", "/v3/service_brokers/{guid}"): Rule(ADMIN),
    ("GET", "/v3/service_instances"): Rule(SEE, QUERY_SPACE),
    ("POST", "/v3/service_instances"): Rule(DEVELOP, BODY_SPACE),
    ("DELETE", "/v3/service_instances/{guid}"): Rule(DEVELOP, INSTANCE),
    ("GET", "/v3/service_instances/{guid}"): Rule(SEE, INSTANCE),
    ("PATCH", "/v3/service_instances/{guid}"): Rule(DEVELOP, INSTANCE),
    ("GET", "/v3/service_instances/{guid}/backups"): Rule(SEE, INSTANCE),
    ("POST", "/v3/service_instances/{guid}/backups"): Rule(DEVELOP, INSTANCE),
    ("GET", "/v3/service_offerings"): Rule(ANYONE),
    ("GET", "/v3/spaces"): Rule(ANYONE),
    ("POST", "/v3/spaces"): Rule(MANAGE_ORG, BODY_ORG),
    ("GET", "/v3/stacks"): Rule(ANYONE),
    ("POST", "/v3/stacks/{name}/build"): Rule(ADMIN),
    ("GET", "/v3/tcp_routes"): Rule(ANYONE),
    ("GET", "/v3/templates"): Rule(ANYONE),
    ("POST", "/v3/tcp_routes"): Rule(DEVELOP, BODY_APP),
    ("DELETE", "/v3/tcp_routes/{guid}"): Rule(DEVELOP, TCP_ROUTE),
    ("GET", "/v3/usage"): Rule(ANYONE),
    ("GET", "/v3/users"): Rule(ADMIN),
    ("POST", "/v3/users"): Rule(ADMIN),
    ("PUT", "/v3/users/me/password"): Rule(ANYONE),
    ("DELETE", "/v3/users/{name}"): Rule(ADMIN),
    ("DELETE", "/v3/users/{name}/tokens"): Rule(ANYONE),
    ("GET", "/v3/network_policies"): Rule(SEE, QUERY_SPACE),
    ("POST", "/v3/network_policies"): Rule(DEVELOP, BODY_SOURCE_APP),  # and the destination's
    ("DELETE", "/v3/network_policies/{guid}"): Rule(DEVELOP, NETWORK_POLICY),
    ("GET", "/v3/security_groups"): Rule(ANYONE),  # why a connection is refused is no secret
    ("POST", "/v3/security_groups"): Rule(ADMIN),
    ("GET", "/v3/security_groups/{name}"): Rule(ANYONE),
    ("PUT", "/v3/security_groups/{name}"): Rule(ADMIN),
    ("DELETE", "/v3/security_groups/{name}"): Rule(ADMIN),
    ("PUT", "/v3/security_groups/{name}/organizations/{org}/spaces/{space}"): Rule(ADMIN),
    ("DELETE", "/v3/security_groups/{name}/organizations/{org}/spaces/{space}"): Rule(ADMIN),
    ("PUT", "/v3/security_groups/{name}/running_default"): Rule(ADMIN),
    ("DELETE", "/v3/security_groups/{name}/running_default"): Rule(ADMIN),
    ("GET", "/v3/webhooks"): Rule(DEVELOP, QUERY_SPACE),
    ("POST", "/v3/webhooks"): Rule(DEVELOP, BODY_SPACE),
    ("DELETE", "/v3/webhooks/{guid}"): Rule(DEVELOP, WEBHOOK),
    ("GET", "/v3/webhooks/{guid}/deliveries"): Rule(DEVELOP, WEBHOOK),
}


async def authorize(request: Request, ctx: Ctx, authorization: Bearer) -> None:
    route = request.scope.get("route")
    path = str(getattr(route, "path", ""))
    if not path.startswith("/v3/"):
        return  # the docs, and the built-in broker's OSB API (which checks its own credentials)
    rule = POLICY.get((request.method, path))
    if rule is None:
        raise ApiError(403, f"{request.method} {path} has no access policy; nobody may call it")
    if rule.need == PUBLIC:
        return
    body = await _json_body(request) if rule.target in BODY_TARGETS else {}
    call = Call(
        path=dict(request.path_params),
        query=dict(request.query_params),
        body=body,
        default_space=ctx.defaults.space_guid,
    )
    await run_in_threadpool(_decide, request, ctx, authorization, rule, call)


async def _json_body(request: Request) -> dict[str, Any]:
    """The body's JSON object, or nothing (then the handler's validation names what is wrong)."""
    try:
        found = json.loads(await request.body())
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _decide(request: Request, ctx: Ctx, authorization: Bearer, rule: Rule, call: Call) -> None:
    user = current_user(request, ctx, authorization)
    with ctx.store.session() as session:
        grants = grants_of(session, user)
        request.state.grants = grants
        if rule.need == ANYONE:
            return
        if rule.need == ADMIN or not isinstance(rule.need, Permission):
            if not user.admin:
                raise ApiError(403, f"{user.name} may not do this: it needs the Admin role")
            return
        if rule.target is None:
            if not grants.anywhere(rule.need):
                raise ApiError(403, _refusal(grants, rule.need, "any space"))
            return
        scope = rule.target(session, call)
    if not _sees(grants, scope):
        raise ApiError(404, scope.missing)
    if not grants.may(rule.need, scope.org_guid, scope.space_guid):
        raise ApiError(403, _refusal(grants, rule.need, _where(scope)))


def _sees(grants: Grants, scope: Scope) -> bool:
    if scope.kind == "org":
        return grants.may(SEE_ORG, scope.org_guid, None)
    if scope.kind == "space":
        return grants.may(SEE_SPACE, scope.org_guid, scope.space_guid)
    return grants.may(SEE, scope.org_guid, scope.space_guid)


def _where(scope: Scope) -> str:
    return "this org" if scope.kind == "org" else "this space"


def _refusal(grants: Grants, permission: Permission, where: str) -> str:
    roles = sorted(permission.space_roles) + [
        f"{r} of the org" for r in sorted(permission.org_roles)
    ]
    return f"{grants.user} may not {permission.name} in {where}: it needs {' or '.join(roles)}"


def caller_grants(request: Request) -> Grants:
    """The caller's roles, as the policy read them for this call."""
    grants = getattr(request.state, "grants", None)
    if not isinstance(grants, Grants):
        raise ApiError(401, "this call needs a bearer token; run `yun login` first")
    return grants


CallerGrants = Annotated[Grants, Depends(caller_grants)]
