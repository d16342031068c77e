"""The web dashboard at `/ui`: pages rendered on the server, each from API calls made as the
signed-in user (`calls.Caller`), every value escaped by Jinja2.

Pages: sign-in; apps of a space (with the orgs and spaces to pick from); an app (instances,
routes and their policy, environment with values masked, bound services, revisions with
rollback, scale / restart / stop / start, the current deployment with continue and cancel, a
live log tail, charts of the last hour); the events timeline; the marketplace; service
instances with their bindings and backups. An action is a form posted to the page, which calls
the API and comes back to the page with the API's answer, or its refusal, shown on top.

A little JavaScript (`static/ui.js`) refreshes the instances and the deployment every two
seconds, follows the log and draws the charts with uPlot; the pages work without it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from yun.logstore.tail import Tail, dropped_notice
from yun.ui import assets
from yun.ui.calls import (
    CSRF,
    Caller,
    Refused,
    Tokens,
    forget,
    message_of,
    new_csrf,
    set_tokens,
)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)
FLASH = "yun_ui_flash"
# Scripts and styles only from Yun itself (no inline script, nothing from elsewhere), and no
# page of the dashboard inside another site's frame.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
        " script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
RECHECK = 60.0  # seconds between the log tail's checks that its reader may still read
ACTIONS = ("restart", "stop", "start", "continue-deployment", "cancel-deployment")


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(ts)))


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    seconds = int(max(0.0, time.time() - float(ts)))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size:.1f}".removesuffix(".0") + unit
        size /= 1024
    return str(value)


templates.env.filters.update(when=_when, ago=_ago, size=_size)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}


def _page(
    request: Request,
    api: Caller | None,
    name: str,
    context: dict[str, Any],
    status: int = 200,
) -> Response:
    flash = request.cookies.get(FLASH)
    shown = None
    if flash:
        try:
            shown = json.loads(flash)
        except ValueError:
            shown = None
    csrf = request.cookies.get(CSRF) or ""
    response = templates.TemplateResponse(
        request,
        name,
        {"flash": shown, "csrf": csrf, "user": request.cookies.get("yun_ui_user", ""), **context},
        status_code=status,
    )
    response.headers.update(PAGE_HEADERS)
    if flash:
        response.delete_cookie(FLASH, path="/ui")
    if not csrf and api is not None and api.signed_in:
        new_csrf(response, secure=_secure(request))
    return api.keep(response) if api is not None else response


def _back(request: Request, api: Caller, to: str, kind: str, text: str) -> Response:
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(
        FLASH,
        json.dumps({"kind": kind, "text": text}),
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=_secure(request),
    )
    return api.keep(response)


def _to_login(request: Request) -> Response:
    target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    response = RedirectResponse(f"/ui/login?next={target}", status_code=303)
    forget(response)
    return response


def _refused(request: Request, api: Caller, refused: Refused) -> Response:
    if refused.status == 401:
        return _to_login(request)
    return _page(
        request,
        api,
        "error.html",
        {"status": refused.status, "message": refused.message},
        status=refused.status,
    )


async def _checked(request: Request, form: dict[str, str]) -> bool:
    expected = request.cookies.get(CSRF, "")
    return bool(expected) and secrets.compare_digest(expected, form.get("csrf", ""))


# -- signing in and out ------------------------------------------------------------------------


@router.get("/ui")
async def home() -> Response:
    return RedirectResponse("/ui/apps", status_code=303)


@router.get("/ui/login")
async def login_page(request: Request, next: str = "/ui/apps") -> Response:
    return _page(request, None, "login.html", {"next": _safe_next(next), "error": None})


def _safe_next(target: str) -> str:
    """Only a page of the dashboard, never another site."""
    return target if target.startswith("/ui/") and not target.startswith("//") else "/ui/apps"


@router.post("/ui/login")
async def login(request: Request) -> Response:
    form = await _form(request)
    target = _safe_next(form.get("next", "/ui/apps"))
    async with Caller(request) as api:
        answer = await api.call(
            "POST",
            "/v3/auth/token",
            json={"username": form.get("username", ""), "password": form.get("password", "")},
        )
    if answer.status_code != 200:
        context = {"next": target, "error": message_of(answer), "username": form.get("username")}
        status = answer.status_code if answer.status_code < 500 else 502
        return _page(request, None, "login.html", context, status=status)
    body = answer.json()
    response = RedirectResponse(target, status_code=303)
    set_tokens(
        response, Tokens(body["access_token"], body["refresh_token"]), secure=_secure(request)
    )
    new_csrf(response, secure=_secure(request))
    response.set_cookie("yun_ui_user", str(body.get("user", "")), path="/ui", samesite="strict")
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    form = await _form(request)
    async with Caller(request) as api:
        if await _checked(request, form):
            await api.call("POST", "/v3/auth/logout")
    response = RedirectResponse("/ui/login", status_code=303)
    forget(response)
    response.delete_cookie("yun_ui_user", path="/ui")
    return response


# -- apps ----------------------------------------------------------------------------------------


async def _spaces(
    api: Caller, wanted: str | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    spaces = (await api.get("/v3/spaces"))["resources"]
    chosen = next((s for s in spaces if s["guid"] == wanted), None)
    if chosen is None and spaces:
        chosen = next((s for s in spaces if s.get("apps")), spaces[0])
    return spaces, chosen


@router.get("/ui/apps")
async def apps_page(request: Request, space: str | None = None) -> Response:
    async with Caller(request) as api:
        if not api.signed_in:
            return _to_login(request)
        try:
            spaces, chosen = await _spaces(api, space)
            apps = (
                (await api.get("/v3/apps", space_guid=chosen["guid"]))["resources"]
                if chosen
                else []
            )
            info = await api.get("/v3/info")
        except Refused as refused:
            return _refused(request, api, refused)
        context = {"spaces": spaces, "space": chosen, "apps": apps, "info": info, "tab": "apps"}
        return _page(request, api, "apps.html", context)


async def _app_parts(api: Caller, guid: str) -> dict[str, Any]:
    """The app, its newest deployment, and its instances' CPU from the latest sample."""
    app = await api.get(f"/v3/apps/{guid}")
    deployments = (await api.get(f"/v3/apps/{guid}/deployments"))["resources"]
    latest = await api.call("GET", "/v3/metrics/apps")
    cpu: dict[str, float | None] = {}
    if latest.status_code == 200:
        for found in latest.json()["resources"]:
            if found["guid"] == guid:
                cpu = {i["guid"]: i.get("cpu_percent") for i in found.get("instances", [])}
    return {"app": app, "deployment": deployments[0] if deployments else None, "cpu": cpu}


@router.get("/ui/apps/{guid}")
async def app_page(request: Request, guid: str) -> Response:
    async with Caller(request) as api:
        if not api.signed_in:
            return _to_login(request)
        try:
            parts = await _app_parts(api, guid)
            revisions = (await api.get(f"/v3/apps/{guid}/revisions"))["resources"]
            bindings = (await api.get("/v3/service_bindings", app_guid=guid))["resources"]
            routes = [
                r
                for r in (await api.get("/v3/routes"))["resources"]
                if r["url"] in parts["app"]["routes"]
            ]
            env_answer = await api.call("GET", f"/v3/apps/{guid}/env")
            env = env_answer.json() if env_answer.status_code == 200 else None
            env_refused = message_of(env_answer) if env is None else ""
            info = await api.get("/v3/info")
        except Refused as refused:
            return _refused(request, api, refused)
        context = {
            **parts,
            "revisions": revisions,
            "bindings": bindings,
            "routes": routes,
            "env": env,
            "env_refused": env_refused,
            "info": info,
            "tab": "apps",
        }
        return _page(request, api, "app.html", context)


@router.get("/ui/apps/{guid}/live")
async def app_live(request: Request, guid: str) -> Response:
    """The instances and the deployment, for the page's refresh every two seconds."""
    async with Caller(request) as api:
        try:
            parts = await _app_parts(api, guid)
        except Refused as refused:
            return Response(refused.message, status_code=refused.status)
        return _page(request, api, "_live.html", parts)


@router.post("/ui/apps/{guid}/{action}")
async def app_action(request: Request, guid: str, action: str) -> Response:
    form = await _form(request)
    page = f"/ui/apps/{guid}"
    async with Caller(request) as api:
        if not api.signed_in:
            return _to_login(request)
        if not await _checked(request, form):
            return _back(request, api, page, "error", "The form expired: try again.")
        try:
            if action == "scale":
                kind = form.get("process", "web")
                count = form.get("instances", "")
                if not count.isdigit():
                    return _back(
                        request, api, page, "error", f"instances: {count!r} is not a number"
                    )
                await api.json(
                    "PATCH", f"/v3/apps/{guid}/processes/{kind}", json={"instances": int(count)}
                )
                text = f"Scaling {kind} to {count} instances."
            elif action == "rollback":
                version = form.get("version", "")
                if not version.isdigit():
                    return _back(request, api, page, "error", "version: pick a revision")
                await api.json(
                    "POST", f"/v3/apps/{guid}/actions/rollback", json={"version": int(version)}
                )
                text = f"Rolling back to revision {version}."
            elif action in ACTIONS:
                await api.json("POST", f"/v3/apps/{guid}/actions/{action}")
                text = {
                    "restart": "Restarting.",
                    "stop": "Stopped.",
                    "start": "Starting.",
                    "continue-deployment": "The deployment goes on.",
                    "cancel-deployment": "Cancelling the deployment: the old revision serves.",
                }[action]
            else:
                return _back(request, api, page, "error", f"{action}: no such action")
        except Refused as refused:
            if refused.status == 401:
                return _to_login(request)
            return _back(request, api, page, "error", refused.message)
        return _back(request, api, page, "notice", text)


@router.get("/ui/apps/{guid}/metrics.json")
async def app_metrics(request: Request, guid: str, since: str = "1h") -> Response:
    async with Caller(request) as api:
        answer = await api.call("GET", f"/v3/apps/{guid}/metrics", params={"since": since})
        return api.keep(
            Response(answer.content, status_code=answer.status_code, media_type="application/json")
        )


@router.get("/ui/apps/{guid}/logs/stream")
async def app_logs(request: Request, guid: str) -> Response:
    """The last lines and then the live tail, as NDJSON. The API's recent-lines call decides
    whether the user may read the app's log; the tail then follows from where it ended, and
    asks the API again every minute: a role taken away (or a session ended) ends the stream,
    and the page's script opens a new one, which signs in afresh or is refused."""
    async with Caller(request) as api:
        answer = await api.call("GET", f"/v3/apps/{guid}/logs", params={"limit": 200})
        if answer.status_code != 200:
            return api.keep(Response(message_of(answer), status_code=answer.status_code))
        page = answer.json()
    logs = request.app.state.ctx.logs
    tail = Tail(logs, guid, int(page["offset"]))
    first = sorted(page["lines"], key=lambda line: float(line["ts"]))

    async def lines() -> AsyncIterator[bytes]:
        yield "".join(json.dumps(line) + "\n" for line in first).encode()
        with tail:
            idle = 0.0
            checked = time.monotonic()
            while not await request.is_disconnected():
                if time.monotonic() - checked >= RECHECK:
                    checked = time.monotonic()
                    async with Caller(request) as again:
                        still = await again.call("GET", f"/v3/apps/{guid}", renew=False)
                    if still.status_code != 200:
                        return
                found, dropped = tail.read()
                out: list[dict[str, object]] = [dropped_notice(dropped)] if dropped else []
                out += [line.to_dict() for line in found]
                if out:
                    idle = 0.0
                    yield "".join(json.dumps(item) + "\n" for item in out).encode()
                    continue
                idle += 0.25
                if idle >= 15:
                    idle = 0.0
                    yield b"{}\n"
                await asyncio.sleep(0.25)

    return api.keep(StreamingResponse(lines(), media_type="application/x-ndjson"))


# -- events and services -----------------------------------------------------------------------


@router.get("/ui/events")
async def events_page(request: Request) -> Response:
    async with Caller(request) as api:
        if not api.signed_in:
            return _to_login(request)
        try:
            found = (await api.get("/v3/events", limit=200))["resources"]
        except Refused as refused:
            return _refused(request, api, refused)
        return _page(request, api, "events.html", {"events": found, "tab": "events"})


@router.get("/ui/marketplace")
async def marketplace_page(request: Request) -> Response:
    async with Caller(request) as api:
        if not api.signed_in:
            return _to_login(request)
        try:
            offerings = (await api.get("/v3/service_offerings"))["resources"]
        except Refused as refused:
            return _refused(request, api, refused)
        return _page(request, api, "marketplace.html", {"offerings": offerings, "tab": "market"})


@router.get("/ui/services")
async def services_page(request: Request, space: str | None = None) -> Response:
    async with Caller(request) as api:
        if not api.signed_in:
            return _to_login(request)
        try:
            spaces, chosen = await _spaces(api, space)
            instances = (
                (await api.get("/v3/service_instances", space_guid=chosen["guid"]))["resources"]
                if chosen
                else []
            )
            for instance in instances:
                instance["bindings"] = (
                    await api.get("/v3/service_bindings", service_instance_guid=instance["guid"])
                )["resources"]
                backups = await api.call("GET", f"/v3/service_instances/{instance['guid']}/backups")
                instance["backups"] = (
                    backups.json()["resources"] if backups.status_code == 200 else []
                )
        except Refused as refused:
            return _refused(request, api, refused)
        context = {"spaces": spaces, "space": chosen, "instances": instances, "tab": "services"}
        return _page(request, api, "services.html", context)


# -- assets --------------------------------------------------------------------------------------


@router.get("/ui/static/{name}")
async def static(name: str) -> Response:
    return _file(HERE / "static", name)


@router.get("/ui/vendor/{name}")
async def vendor(name: str) -> Response:
    found = assets.find(name)
    if found is None:
        return Response(
            f"{name} is not here: run `python -m yun.ui.assets` (make up does)", status_code=404
        )
    return _file(found.parent, found.name)


_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


def _file(folder: Path, name: str) -> Response:
    path = folder / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return Response("not found", status_code=404)
    return Response(
        path.read_bytes(),
        media_type=_TYPES.get(path.suffix, "application/octet-stream"),
        headers={"Cache-Control": "max-age=3600"},
    )
