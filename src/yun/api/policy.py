"""Who may make which API call: one table, read for every call under `/v3/` (a dependency of
the whole app), so no route is reachable by accident.

`PUBLIC` calls need no token; `ANYONE` needs a logged-in user (the handler may narrow it:
`DELETE /v3/users/NAME/tokens` is admins' or one's own); `ADMIN` needs the Admin role. Users
without the Admin role can, so far, log in, change their password and end their sessions;
org and space roles (Cloud Foundry's) will give them their share of the rest through this
table. A call missing from the table is refused: a new route must say who may call it.
"""

from __future__ import annotations

from fastapi import Request

from yun.api.auth import Bearer, Ctx, current_user
from yun.api.errors import ApiError

PUBLIC = "public"
ANYONE = "anyone"
ADMIN = "admin"

POLICY: dict[tuple[str, str], str] = {
    ("POST", "/v3/admin/rotate-key"): ADMIN,
    ("GET", "/v3/apps"): ADMIN,
    ("POST", "/v3/apps/push"): ADMIN,
    ("DELETE", "/v3/apps/{guid}"): ADMIN,
    ("GET", "/v3/apps/{guid}"): ADMIN,
    ("POST", "/v3/apps/{guid}/actions/cancel-deployment"): ADMIN,
    ("POST", "/v3/apps/{guid}/actions/continue-deployment"): ADMIN,
    ("POST", "/v3/apps/{guid}/actions/restage"): ADMIN,
    ("POST", "/v3/apps/{guid}/actions/restart"): ADMIN,
    ("POST", "/v3/apps/{guid}/actions/rollback"): ADMIN,
    ("POST", "/v3/apps/{guid}/actions/start"): ADMIN,
    ("POST", "/v3/apps/{guid}/actions/stop"): ADMIN,
    ("DELETE", "/v3/apps/{guid}/autoscale"): ADMIN,
    ("GET", "/v3/apps/{guid}/autoscale"): ADMIN,
    ("PUT", "/v3/apps/{guid}/autoscale"): ADMIN,
    ("GET", "/v3/apps/{guid}/deployments"): ADMIN,
    ("POST", "/v3/apps/{guid}/droplets/current/export"): ADMIN,
    ("GET", "/v3/apps/{guid}/env"): ADMIN,
    ("PATCH", "/v3/apps/{guid}/environment_variables"): ADMIN,
    ("GET", "/v3/apps/{guid}/events"): ADMIN,
    ("GET", "/v3/apps/{guid}/logs"): ADMIN,
    ("GET", "/v3/apps/{guid}/logs/stream"): ADMIN,
    ("POST", "/v3/apps/{guid}/packages"): ADMIN,
    ("PATCH", "/v3/apps/{guid}/processes/{type_}"): ADMIN,
    ("GET", "/v3/apps/{guid}/revisions"): ADMIN,
    ("POST", "/v3/auth/logout"): ANYONE,
    ("POST", "/v3/auth/refresh"): PUBLIC,
    ("POST", "/v3/auth/token"): PUBLIC,
    ("POST", "/v3/bits"): ADMIN,
    ("POST", "/v3/builds"): ADMIN,
    ("GET", "/v3/builds/{guid}"): ADMIN,
    ("GET", "/v3/ca"): ANYONE,
    ("GET", "/v3/certificates"): ADMIN,
    ("DELETE", "/v3/certificates/{name}"): ADMIN,
    ("GET", "/v3/certificates/{name}"): ADMIN,
    ("PUT", "/v3/certificates/{name}"): ADMIN,
    ("GET", "/v3/domains"): ADMIN,
    ("POST", "/v3/domains"): ADMIN,
    ("DELETE", "/v3/domains/{name}"): ADMIN,
    ("GET", "/v3/events"): ADMIN,
    ("GET", "/v3/info"): PUBLIC,
    ("GET", "/v3/organizations"): ADMIN,
    ("POST", "/v3/organizations"): ADMIN,
    ("DELETE", "/v3/organizations/{name}"): ADMIN,
    ("PATCH", "/v3/organizations/{name}"): ADMIN,
    ("DELETE", "/v3/organizations/{org}/spaces/{name}"): ADMIN,
    ("GET", "/v3/organizations/{org}/spaces/{name}"): ADMIN,
    ("PATCH", "/v3/organizations/{org}/spaces/{name}"): ADMIN,
    ("POST", "/v3/resource_match"): ADMIN,
    ("GET", "/v3/routes"): ADMIN,
    ("POST", "/v3/routes"): ADMIN,
    ("DELETE", "/v3/routes/{guid}"): ADMIN,
    ("PATCH", "/v3/routes/{guid}"): ADMIN,
    ("POST", "/v3/routes/{guid}/destinations"): ADMIN,
    ("DELETE", "/v3/routes/{guid}/destinations/{app_guid}"): ADMIN,
    ("GET", "/v3/service_backups/{guid}"): ADMIN,
    ("POST", "/v3/service_backups/{guid}/actions/restore"): ADMIN,
    ("GET", "/v3/service_bindings"): ADMIN,
    ("POST", "/v3/service_bindings"): ADMIN,
    ("DELETE", "/v3/service_bindings/{guid}"): ADMIN,
    ("GET", "/v3/service_bindings/{guid}"): ADMIN,
    ("GET", "/v3/service_brokers"): ADMIN,
    ("POST", "/v3/service_brokers"): ADMIN,
    ("DELETE", "/v3/service_brokers/{guid}"): ADMIN,
    ("PATCH", "/v3/service_brokers/{guid}"): ADMIN,
    ("GET", "/v3/service_instances"): ADMIN,
    ("POST", "/v3/service_instances"): ADMIN,
    ("DELETE", "/v3/service_instances/{guid}"): ADMIN,
    ("GET", "/v3/service_instances/{guid}"): ADMIN,
    ("PATCH", "/v3/service_instances/{guid}"): ADMIN,
    ("GET", "/v3/service_instances/{guid}/backups"): ADMIN,
    ("POST", "/v3/service_instances/{guid}/backups"): ADMIN,
    ("GET", "/v3/service_offerings"): ADMIN,
    ("GET", "/v3/spaces"): ADMIN,
    ("POST", "/v3/spaces"): ADMIN,
    ("GET", "/v3/stacks"): ADMIN,
    ("POST", "/v3/stacks/{name}/build"): ADMIN,
    ("GET", "/v3/tcp_routes"): ADMIN,
    ("POST", "/v3/tcp_routes"): ADMIN,
    ("DELETE", "/v3/tcp_routes/{guid}"): ADMIN,
    ("GET", "/v3/users"): ADMIN,
    ("POST", "/v3/users"): ADMIN,
    ("PUT", "/v3/users/me/password"): ANYONE,
    ("DELETE", "/v3/users/{name}"): ADMIN,
    ("DELETE", "/v3/users/{name}/tokens"): ANYONE,
}


def authorize(request: Request, ctx: Ctx, authorization: Bearer) -> None:
    route = request.scope.get("route")
    path = str(getattr(route, "path", ""))
    if not path.startswith("/v3/"):
        return  # the docs, and the built-in broker's OSB API (which checks its own credentials)
    rule = POLICY.get((request.method, path))
    if rule is None:
        raise ApiError(403, f"{request.method} {path} has no access policy; nobody may call it")
    if rule == PUBLIC:
        return
    user = current_user(request, ctx, authorization)
    if rule == ADMIN and not user.admin:
        raise ApiError(403, f"{user.name} may not do this: it needs the Admin role")
