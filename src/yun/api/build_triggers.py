"""Incoming build triggers: a secret URL per app that a hosted forge's push webhook (GitHub,
GitLab, Gitea, Forgejo) calls to have a git repository's branch built and deployed.

`POST /v3/apps/GUID/build_triggers {repo_url, ref, secret}` makes one and shows its URL once
(`/hooks/build/TOKEN` on the API's address). A call to it clones `ref` of `repo_url` (depth 1)
and deploys the commit exactly as a `git push` would (`git_deploy`), in the background: it is
answered 202 at once, and the outcome is kept on the trigger (`yun build-triggers`) and in the
app's log. With a secret, a call must be signed as GitHub and Gitea sign
(`X-Hub-Signature-256: sha256=HMAC`) or carry it as GitLab does (`X-Gitlab-Token`). A push
payload whose `ref` names another branch is acknowledged and skipped; GitHub's `ping` is
answered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from yun.api.auth import Ctx, CurrentUser
from yun.api.context import ApiContext
from yun.api.errors import ApiError, not_found
from yun.api.git_deploy import RESULT, PushFailed, deploy
from yun.api.lookups import get_app
from yun.manifest import ManifestError
from yun.store import events
from yun.store.models import App, BuildTrigger, User
from yun.store.passwords import hash_token

router = APIRouter()
CLONE_TIMEOUT = 600.0  # seconds
MAX_PAYLOAD = 1 << 20
log = logging.getLogger(__name__)


class TriggerBody(BaseModel):
    repo_url: str = Field(min_length=1, max_length=2048)
    ref: str = Field(default="main", min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._/-]+$")
    secret: str = Field(default="", max_length=255)


def trigger_view(trigger: BuildTrigger) -> dict[str, Any]:
    return {
        "guid": trigger.guid,
        "repo_url": trigger.repo_url,
        "ref": trigger.ref,
        "signed": bool(trigger.secret),
        "last_outcome": trigger.last_outcome,
        "created_at": trigger.created_at,
        "created_by": trigger.created_by,
    }


def hook_base(ctx: ApiContext) -> str:
    return ctx.settings.api_url.replace("://0.0.0.0:", "://127.0.0.1:")


@router.post("/v3/apps/{guid}/build_triggers", status_code=201)
def create_trigger(guid: str, body: TriggerBody, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    if body.repo_url.startswith("-") or body.ref.startswith("-"):
        raise ApiError(422, "repo_url: must not start with '-'")
    token = secrets.token_urlsafe(32)
    with ctx.store.session() as session:
        app = get_app(session, guid)
        trigger = BuildTrigger(
            app_guid=app.guid,
            token_hash=hash_token(token),
            repo_url=body.repo_url,
            ref=body.ref,
            secret=body.secret,
            created_by=user.name,
        )
        session.add(trigger)
        events.record(
            session,
            type="audit.app.build_trigger.create",
            app=app,
            actor=user.name,
            data={"repo_url": body.repo_url, "ref": body.ref},
        )
        session.flush()
        view = trigger_view(trigger)
    view["url"] = f"{hook_base(ctx)}/hooks/build/{token}"  # shown once
    return view


@router.get("/v3/apps/{guid}/build_triggers")
def list_triggers(guid: str, ctx: Ctx, _user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        rows = session.scalars(
            select(BuildTrigger)
            .where(BuildTrigger.app_guid == app.guid)
            .order_by(BuildTrigger.created_at)
        )
        return {"resources": [trigger_view(row) for row in rows]}


@router.delete("/v3/apps/{guid}/build_triggers/{trigger}")
def delete_trigger(guid: str, trigger: str, ctx: Ctx, user: CurrentUser) -> dict[str, Any]:
    with ctx.store.session() as session:
        app = get_app(session, guid)
        row = session.get(BuildTrigger, trigger)
        if row is None or row.app_guid != app.guid:
            raise not_found(f"build trigger {trigger} of app {app.name}")
        view = trigger_view(row)
        session.delete(row)
        events.record(session, type="audit.app.build_trigger.delete", app=app, actor=user.name)
    return view


def _signed(trigger: BuildTrigger, request: Request, body: bytes) -> bool:
    if not trigger.secret:
        return True
    gitlab = request.headers.get("x-gitlab-token")
    if gitlab is not None:
        return hmac.compare_digest(gitlab, trigger.secret)
    given = request.headers.get("x-hub-signature-256", "")
    wanted = "sha256=" + hmac.new(trigger.secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(given, wanted)


def _pushed_ref(body: bytes) -> str | None:
    """The branch a forge's push payload names (`refs/heads/X` → X), if it names one."""
    try:
        payload = json.loads(body) if body else {}
    except ValueError:
        return None
    ref = payload.get("ref") if isinstance(payload, dict) else None
    return ref.removeprefix("refs/heads/") if isinstance(ref, str) else None


@router.post("/hooks/build/{token}", status_code=202, include_in_schema=False)
async def fire_trigger(token: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_PAYLOAD:
        raise ApiError(413, f"payload is larger than {MAX_PAYLOAD >> 20} MiB")
    with ctx.store.session() as session:
        trigger = session.scalar(
            select(BuildTrigger).where(BuildTrigger.token_hash == hash_token(token))
        )
        if trigger is None:
            raise ApiError(404, "no build trigger has this URL")
        if not _signed(trigger, request, body):
            raise ApiError(401, "the signature does not match the trigger's secret")
        guid, ref = trigger.guid, trigger.ref
    if request.headers.get("x-github-event") == "ping":
        return {"pong": True}
    pushed = _pushed_ref(body)
    if pushed is not None and pushed != ref:
        return {"skipped": f"a push to {pushed}; this trigger deploys {ref}"}
    threading.Thread(target=_build, args=(ctx, guid), name=f"trigger-{guid[:8]}").start()
    return {"accepted": True, "ref": ref}


def _build(ctx: ApiContext, guid: str) -> None:
    outcome = _deploy(ctx, guid)
    with ctx.store.session() as session:
        trigger = session.get(BuildTrigger, guid)
        if trigger is not None:
            trigger.last_outcome = outcome
            events.record(
                session,
                type="app.build_trigger.run",
                app=session.get(App, trigger.app_guid),
                data={"outcome": outcome},
            )


def _deploy(ctx: ApiContext, guid: str) -> str:
    """Clone, then deploy as a push; one line saying how it went."""
    with ctx.store.session() as session:
        trigger = session.get(BuildTrigger, guid)
        if trigger is None:
            return "failed: the trigger is gone"
        user = session.scalar(select(User).where(User.name == trigger.created_by))
        if user is None:
            return f"failed: its maker {trigger.created_by} no longer exists"
        app_guid, user_guid = trigger.app_guid, user.guid
        url, ref = trigger.repo_url, trigger.ref
    with tempfile.TemporaryDirectory() as folder:
        tree = Path(folder) / "tree"
        try:
            commit = _clone(url, ref, tree)
        except PushFailed as exc:
            return f"failed: {exc}"
        with tempfile.TemporaryFile() as spool:
            subprocess.run(
                ["git", "-C", str(tree), "archive", "--format=tar", commit],
                stdout=spool,
                check=True,
                timeout=CLONE_TIMEOUT,
            )
            spool.seek(0)
            last = "failed: the deployment said nothing"
            try:
                for line in deploy(
                    ctx, spool, app_guid=app_guid, user_guid=user_guid, commit=commit
                ):
                    ctx.logs.append(app_guid, "API", f"build trigger: {line}")
                    last = line
            except (PushFailed, ApiError, ManifestError) as exc:
                last = f"failed: {exc}"
            except Exception as exc:
                log.exception("build trigger %s", guid)
                last = f"failed: {exc}"
    return last.removeprefix(RESULT)


def _clone(url: str, ref: str, into: Path) -> str:
    """A shallow clone of `ref` of `url` into `into`; its commit, or PushFailed."""
    try:
        cloned = subprocess.run(
            ["git", "clone", "--quiet", "--depth", "1", "--branch", ref, "--", url, str(into)],
            capture_output=True,
            text=True,
            timeout=CLONE_TIMEOUT,
            env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired as exc:
        raise PushFailed(f"cloning {url} took more than {CLONE_TIMEOUT:g}s") from exc
    if cloned.returncode != 0:
        said = cloned.stderr.strip().splitlines()
        raise PushFailed(f"could not clone {ref} of {url}: {said[-1] if said else 'git failed'}")
    head = subprocess.run(
        ["git", "-C", str(into), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    )
    return head.stdout.strip()
