"""The FastAPI application: routers, error handlers and the info endpoint."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from yun import __version__
from yun.api import (
    api_keys,
    app_templates,
    apps,
    auth,
    autoscale,
    build_triggers,
    certificates,
    clusters,
    deployments,
    domains,
    events,
    git_deploy,
    git_http,
    kubernetes,
    live_config,
    logs,
    metrics,
    network_policies,
    orgs,
    packages,
    pipelines,
    platform_backup,
    quotas,
    roles,
    route_mappings,
    route_services,
    routes,
    runtimes,
    schedules,
    security_groups,
    service_backups,
    service_bindings,
    service_brokers,
    service_instances,
    stacks,
    tasks,
    usage,
    users,
    webhooks,
)
from yun.api.audit import AuditMiddleware
from yun.api.context import ApiContext
from yun.api.errors import (
    ERRORS,
    ApiError,
    api_error_handler,
    http_error_handler,
    quota_error_handler,
    validation_error_handler,
)
from yun.api.limits import BodyLimit
from yun.api.links import add_links
from yun.api.policy import POLICY, PUBLIC, authorize
from yun.api.timing import CallTiming
from yun.store.quotas import QuotaExceeded
from yun.ui import views as ui_views


def create_app(ctx: ApiContext) -> FastAPI:
    api = FastAPI(
        title="Yun", version=__version__, docs_url=None, dependencies=[Depends(authorize)]
    )
    api.state.ctx = ctx
    api.state.git_grants = git_http.PushGrants()
    api.add_exception_handler(ApiError, api_error_handler)
    api.add_exception_handler(RequestValidationError, validation_error_handler)
    api.add_exception_handler(StarletteHTTPException, http_error_handler)
    api.add_exception_handler(QuotaExceeded, quota_error_handler)
    api.add_middleware(BodyLimit)
    if ctx.metrics is not None:
        api.add_middleware(CallTiming, instruments=ctx.metrics.instruments)
    api.add_middleware(AuditMiddleware, store=ctx.store)  # outermost: it sees the 413s too
    for module in (
        auth,
        app_templates,
        apps,
        autoscale,
        deployments,
        tasks,
        schedules,
        packages,
        logs,
        metrics,
        domains,
        certificates,
        routes,
        route_mappings,
        service_brokers,
        service_instances,
        service_bindings,
        service_backups,
        stacks,
        users,
        orgs,
        roles,
        quotas,
        events,
        usage,
        webhooks,
        network_policies,
        security_groups,
        live_config,
        api_keys,
        pipelines,
        platform_backup,
        build_triggers,
        git_http,
        git_deploy,
        kubernetes,
        clusters,
        runtimes,
        route_services,
    ):
        api.include_router(module.router, responses=ERRORS)
    api.include_router(ui_views.router)

    @api.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI over /openapi.json, from Yun's own copy: nothing from the internet."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Yun API",
            swagger_js_url="/ui/vendor/swagger-ui-bundle.js",
            swagger_css_url="/ui/vendor/swagger-ui.css",
            swagger_favicon_url="/ui/static/favicon.svg",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @api.get("/v3/info")
    def info() -> dict[str, Any]:
        settings = ctx.settings
        return {
            "name": "yun",
            "version": __version__,
            "domain": settings.domain,
            "router": f"http://{settings.router_bind}:{settings.router_port}",
            "default_org": "main",
            "default_space": "dev",
            "driver": ctx.driver,
        }

    document = api.openapi

    def openapi() -> dict[str, Any]:
        """The generated document, with the access policy's public calls marked as needing no
        token (the app-wide policy dependency marks every call otherwise)."""
        schema = document()
        if not any("links" in r for o in _operations(schema) for r in o["responses"].values()):
            add_links(schema)
        for (method, path), rule in POLICY.items():
            operation = schema.get("paths", {}).get(path, {}).get(method.lower())
            if operation is not None and rule.need == PUBLIC:
                operation["security"] = []
        return schema

    api.openapi = openapi  # type: ignore[method-assign]
    return api


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for operations in schema.get("paths", {}).values()
        for operation in operations.values()
        if isinstance(operation, dict) and "responses" in operation
    ]
